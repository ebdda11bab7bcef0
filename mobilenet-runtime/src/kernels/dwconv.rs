//! Depthwise convolution, vectorized over channels.
//!
//! Weights are packed `[taps][c]` with rows padded to a whole vector
//! ([`super::pack::depthwise`]). For each output row and each vector of
//! channels, the kernel walks the output pixels; pixels whose window lies
//! inside the image take a fixed-size path (3x3 and 5x5 unrolled, the
//! weights held in registers), the border pixels a clipped one, so padding
//! costs nothing in the interior.

use super::conv::ConvGeom;
use super::pack::{depthwise_bias_len, depthwise_index, depthwise_len};
use super::simd::Simd;
use super::{Act, Isa, Opt, isa::Kind};
use crate::exec::Exec;

/// Depthwise convolution (`multiplier` outputs per input channel) with a
/// fused epilogue. `w` and `bias` are packed by [`super::pack`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    e: &dyn Exec,
    isa: Isa,
    g: &ConvGeom,
    multiplier: usize,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    act: Act,
    residual: Opt<'_>,
    y: &mut [f32],
) {
    assert!(g.cout == g.cin * multiplier, "depthwise output channels");
    assert!(x.len() >= g.h * g.w * g.cin && y.len() >= g.oh * g.ow * g.cout);
    assert!(w.len() >= depthwise_len(g.kh * g.kw, g.cout) && bias.len() >= depthwise_bias_len(g.cout));
    assert!(residual.is_none_or(|r| r.len() >= g.oh * g.ow * g.cout));
    assert!(g.kh <= MAX_K, "kernel taller than {MAX_K}");
    let (b, parts) = super::par::bounds(g.oh, e.threads(), 1);
    let row = g.ow * g.cout;
    super::par::run(e, &mut y[..g.oh * row], &b, parts, row, &|part, y| {
        let rows = b[part]..b[part + 1];
        let residual = residual.map(|r| &r[rows.start * row..rows.end * row]);
        if multiplier != 1 {
            return with_multiplier(g, multiplier, isa.lanes(), rows, x, w, bias, act, residual, y);
        }
        // SAFETY: lengths checked above (`y` and `residual` hold `rows`);
        // `isa` proves the instructions exist.
        unsafe {
            match isa.0 {
                Kind::Portable => run::<super::simd::Portable>(g, rows, x, w, bias, act, residual, y),
                #[cfg(target_arch = "x86_64")]
                Kind::Avx2 => avx2(g, rows, x, w, bias, act, residual, y),
                #[cfg(target_arch = "x86_64")]
                Kind::Avx512 => avx512(g, rows, x, w, bias, act, residual, y),
                #[cfg(not(target_arch = "x86_64"))]
                _ => unreachable!("no such instruction set on this target"),
            }
        }
    });
}

type Rows = core::ops::Range<usize>;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn avx2(g: &ConvGeom, rows: Rows, x: &[f32], w: &[f32], b: &[f32], act: Act, r: Opt<'_>, y: &mut [f32]) {
    unsafe { run::<super::simd::Avx2>(g, rows, x, w, b, act, r, y) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn avx512(g: &ConvGeom, rows: Rows, x: &[f32], w: &[f32], b: &[f32], act: Act, r: Opt<'_>, y: &mut [f32]) {
    unsafe { run::<super::simd::Avx512>(g, rows, x, w, b, act, r, y) }
}

/// Output rows `rows`; `y` and `res` start at row `rows.start`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn run<V: Simd>(
    g: &ConvGeom,
    rows: Rows,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    act: Act,
    res: Opt<'_>,
    y: &mut [f32],
) {
    let res = res.map_or(core::ptr::null(), <[f32]>::as_ptr);
    let (x, y) = (x.as_ptr(), y.as_mut_ptr());
    let first = rows.start;
    for oy in rows {
        let top = (oy * g.sh) as isize - g.pad_top as isize;
        let mut rows = [core::ptr::null(); MAX_K];
        for (ky, r) in rows.iter_mut().enumerate().take(g.kh) {
            let iy = top + ky as isize;
            if iy >= 0 && (iy as usize) < g.h {
                *r = unsafe { x.add(iy as usize * g.w * g.cin) };
            }
        }
        let o = (oy - first) * g.ow * g.cout;
        let r = if res.is_null() { res } else { unsafe { res.add(o) } };
        unsafe { row::<V>(g, &rows[..g.kh], w.as_ptr(), bias.as_ptr(), act, r, y.add(o)) };
    }
}

/// One output row (see [`row`]) with the kernels of `isa`.
///
/// # Safety
/// `rows` hold `g.kh` pointers to `g.w * g.cin` floats (or null), `out`
/// points to `g.ow * g.cout` floats, `w` and `bias` are packed for `g`.
pub(crate) unsafe fn row_dispatch(
    isa: Isa,
    g: &ConvGeom,
    rows: &[*const f32],
    w: *const f32,
    bias: *const f32,
    act: Act,
    out: *mut f32,
) {
    unsafe {
        match isa.0 {
            Kind::Portable => row::<super::simd::Portable>(g, rows, w, bias, act, core::ptr::null(), out),
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => row_avx2(g, rows, w, bias, act, out),
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 => row_avx512(g, rows, w, bias, act, out),
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("no such instruction set on this target"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2(g: &ConvGeom, rows: &[*const f32], w: *const f32, b: *const f32, act: Act, out: *mut f32) {
    unsafe { row::<super::simd::Avx2>(g, rows, w, b, act, core::ptr::null(), out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn row_avx512(g: &ConvGeom, rows: &[*const f32], w: *const f32, b: *const f32, act: Act, out: *mut f32) {
    unsafe { row::<super::simd::Avx512>(g, rows, w, b, act, core::ptr::null(), out) }
}

/// Largest kernel height the row kernels take input rows for.
pub(crate) const MAX_K: usize = 16;

/// One output row of a depthwise convolution (multiplier 1): `rows[ky]` is
/// input row `oy * sh - pad_top + ky` (`w * c` floats), or null where that row
/// is padding; `y` (and `res`, if not null) the output row. Used on whole
/// images and by the fused block kernel on its ring of expanded rows.
#[inline(always)]
pub(crate) unsafe fn row<V: Simd>(
    g: &ConvGeom,
    rows: &[*const f32],
    w: *const f32,
    bias: *const f32,
    act: Act,
    res: *const f32,
    y: *mut f32,
) {
    let mut all_rows = rows.iter().all(|r| !r.is_null());
    // Padding rows of a narrow image read as a row of zeros, so that the top
    // and bottom output rows take the unrolled path too (on a 7x7 map with a
    // 5x5 kernel, four rows of seven would otherwise be clipped pixel by pixel).
    let mut filled = [ZERO_ROW.as_ptr(); MAX_K];
    let rows = if !all_rows && g.w * g.cin <= ZEROS && rows.len() <= MAX_K {
        for (f, &r) in filled.iter_mut().zip(rows) {
            if !r.is_null() {
                *f = r;
            }
        }
        all_rows = true;
        &filled[..rows.len()]
    } else {
        rows
    };
    unsafe {
        match (g.kh, g.kw, all_rows) {
            (3, 3, _) if g.cin <= ZEROS && pixel_outer_pays(g) => {
                pixel_outer::<V, 3>(g, &Pixel { c: g.cin, w, bias, act }, rows, res, y)
            }
            (3, 3, true) => row_k::<V, 3>(g, rows, w, bias, act, res, y),
            (5, 5, true) => row_k::<V, 5>(g, rows, w, bias, act, res, y),
            _ => row_k::<V, 0>(g, rows, w, bias, act, res, y),
        }
    }
}

/// One row; `K > 0` is the (square) kernel size of the unrolled interior
/// path (all rows present), `K = 0` sends every pixel through the clipped
/// path.
///
/// Pixels are the outer loop and channel blocks the inner one, as in
/// XNNPACK's depthwise micro-kernels: a pixel's taps are `K * K` pointers
/// into the input rows, walked together over the channels, and the weights
/// of a channel block are contiguous (`[block][tap][lane]`), so everything
/// a pixel reads is in L1 and the addresses are a handful of registers.
#[inline(always)]
unsafe fn row_k<V: Simd, const K: usize>(
    g: &ConvGeom,
    rows: &[*const f32],
    w: *const f32,
    bias: *const f32,
    act: Act,
    res: *const f32,
    y: *mut f32,
) {
    let c = g.cin;
    // Output columns whose window lies inside the image.
    let ox_lo = g.pad_left.div_ceil(g.sw).min(g.ow);
    let ox_hi = if g.w + g.pad_left >= g.kw { ((g.w + g.pad_left - g.kw) / g.sw + 1).min(g.ow) } else { 0 };
    let ox_hi = if K > 0 { ox_hi.max(ox_lo) } else { ox_lo };
    let px = Pixel { c, w, bias, act };
    unsafe {
        for ox in (0..ox_lo).chain(ox_hi..g.ow) {
            clipped::<V>(g, &px, rows, ox, res, y);
        }
        if ox_hi > ox_lo {
            match act {
                Act::Identity => interior::<V, K, 0>(g, &px, rows, ox_lo..ox_hi, res, y),
                Act::Relu => interior::<V, K, 1>(g, &px, rows, ox_lo..ox_hi, res, y),
                Act::Relu6 => interior::<V, K, 2>(g, &px, rows, ox_lo..ox_hi, res, y),
                Act::HardSwish => interior::<V, K, 3>(g, &px, rows, ox_lo..ox_hi, res, y),
                Act::HardSigmoid | Act::Sigmoid => interior::<V, K, 4>(g, &px, rows, ox_lo..ox_hi, res, y),
            }
        }
    }
}

/// Floats of the zero row border taps read.
const ZEROS: usize = 4096;
static ZERO_ROW: [f32; ZEROS] = [0.0; ZEROS];

/// Small maps have proportionally many border pixels and many channels:
/// there, for 3x3 kernels, reading the window through per-pixel tap pointers
/// (border taps pointing at zeros) beats register-resident weights with a
/// clipped path for the borders (measured; for 5x5 the 8-pixel runs win).
fn pixel_outer_pays(g: &ConvGeom) -> bool {
    g.ow <= 28 || g.cin >= 256
}

/// A row pixel by pixel, as XNNPACK's depthwise micro-kernels do: each
/// pixel's `K x K` taps are pointers (to the input, or to zeros outside the
/// image), walked together over the channel blocks, the block's weights
/// contiguous. Every pixel, border or not, takes the same path.
// Indexed loops over the constant `K` unroll into register code.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn pixel_outer<V: Simd, const K: usize>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    res: *const f32,
    y: *mut f32,
) {
    let c = px.c;
    let full = c / V::LANES;
    let tail = c - full * V::LANES;
    let zero = ZERO_ROW.as_ptr();
    unsafe {
        let mut taps = [zero; 25];
        for ox in 0..g.ow {
            let left = (ox * g.sw) as isize - g.pad_left as isize;
            for ky in 0..K {
                for kx in 0..K {
                    let ix = left + kx as isize;
                    taps[ky * K + kx] = if rows[ky].is_null() || ix < 0 || ix >= g.w as isize {
                        zero
                    } else {
                        rows[ky].add(ix as usize * c)
                    };
                }
            }
            let out = y.add(ox * c);
            let r = if res.is_null() { res } else { res.add(ox * c) };
            let mut wb = px.w;
            for cb in 0..full {
                let o = cb * V::LANES;
                let mut acc = [V::zero(); 5];
                acc[0] = V::load(px.bias.add(o));
                for ky in 0..K {
                    for kx in 0..K {
                        let t = ky * K + kx;
                        acc[ky] = V::fmadd(V::load(taps[t].add(o)), V::load(wb.add(t * V::LANES)), acc[ky]);
                    }
                }
                let mut sum = acc[0];
                for a in acc.iter().take(K).skip(1) {
                    sum = sum.add(*a);
                }
                let mut v = sum.act(px.act);
                if !r.is_null() {
                    v = v.add(V::load(r.add(o)));
                }
                v.store(out.add(o));
                wb = wb.add(K * K * V::LANES);
            }
            if tail > 0 {
                let o = full * V::LANES;
                let mut acc = V::load(px.bias.add(o));
                for t in 0..K * K {
                    acc = V::fmadd(V::load_partial(taps[t].add(o), tail), V::load(wb.add(t * V::LANES)), acc);
                }
                let mut v = acc.act(px.act);
                if !r.is_null() {
                    v = v.add(V::load_partial(r.add(o), tail));
                }
                v.store_partial(out.add(o), tail);
            }
        }
    }
}

/// What every pixel of a row shares.
struct Pixel {
    c: usize,
    /// Packed `[channel block][tap][lane]`.
    w: *const f32,
    bias: *const f32,
    act: Act,
}

/// The activation selected by a constant (4: whatever `act` says).
#[inline(always)]
unsafe fn act_n<V: Simd, const A: u8>(v: V, act: Act) -> V {
    unsafe {
        match A {
            0 => v,
            1 => v.act(Act::Relu),
            2 => v.act(Act::Relu6),
            3 => v.act(Act::HardSwish),
            _ => v.act(act),
        }
    }
}

/// Output pixels `oxs`, whose K x K window lies inside the image.
///
/// The pixels are taken in chunks whose input windows (all channels) fit in
/// L1; within a chunk, each vector of channels walks the pixels with its
/// `K x K` weights held in registers, reading through one pointer per kernel
/// row: one load per multiply-add.
#[inline(always)]
unsafe fn interior<V: Simd, const K: usize, const A: u8>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    oxs: core::ops::Range<usize>,
    res: *const f32,
    y: *mut f32,
) {
    let c = px.c;
    let full = c / V::LANES;
    let step = g.sw * c;
    let chunk = (L1_WINDOW_BYTES / (K * step * 4).max(1)).clamp(4, 64);
    let mut x0 = oxs.start;
    while x0 < oxs.end {
        let x1 = (x0 + chunk).min(oxs.end);
        unsafe {
            let mut wb = px.w;
            for cb in 0..full {
                channel_run::<V, K, A, true>(g, px, rows, x0..x1, cb * V::LANES, V::LANES, wb, res, y);
                wb = wb.add(K * K * V::LANES);
            }
            if full * V::LANES < c {
                let n = c - full * V::LANES;
                channel_run::<V, K, A, false>(g, px, rows, x0..x1, full * V::LANES, n, wb, res, y);
            }
        }
        x0 = x1;
    }
}

/// A whole vector (`FULL`) or its first `n` lanes.
#[inline(always)]
unsafe fn load<V: Simd, const FULL: bool>(p: *const f32, n: usize) -> V {
    unsafe { if FULL { V::load(p) } else { V::load_partial(p, n) } }
}

/// Bytes of input windows a chunk of interior pixels keeps in L1.
const L1_WINDOW_BYTES: usize = 16 * 1024;

/// Channels `o..o + n` of output pixels `oxs`, one pixel at a time with the
/// `K x K` weights held in registers (3x3: nine vectors) and one pointer per
/// kernel row: one load per multiply-add. `FULL`: `n` is a whole vector.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn channel_run_regs<V: Simd, const K: usize, const A: u8, const FULL: bool>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    oxs: core::ops::Range<usize>,
    o: usize,
    n: usize,
    wb: *const f32,
    res: *const f32,
    y: *mut f32,
) {
    let c = px.c;
    unsafe {
        let (b, wk) = bias_and_taps::<V>(px, o, wb, K * K);
        let mut off = [0usize; 3];
        for (kx, v) in off.iter_mut().enumerate().take(K) {
            *v = kx * c;
        }
        let mut p = [core::ptr::null::<f32>(); 3];
        for ky in 0..K {
            p[ky] = rows[ky].add((oxs.start * g.sw - g.pad_left) * c + o);
        }
        let step = g.sw * c;
        let mut q = y.add(oxs.start * c + o);
        let mut r = if res.is_null() { res } else { res.add(oxs.start * c + o) };
        for _ in oxs {
            let mut acc = [V::zero(); 3];
            acc[0] = b;
            for ky in 0..K {
                for kx in 0..K {
                    acc[ky] = V::fmadd(load::<V, FULL>(p[ky].add(off[kx]), n), wk[ky * K + kx], acc[ky]);
                }
                p[ky] = p[ky].add(step);
            }
            let mut sum = acc[0];
            for a in acc.iter().take(K).skip(1) {
                sum = sum.add(*a);
            }
            let mut v = act_n::<V, A>(sum, px.act);
            if !r.is_null() {
                v = v.add(load::<V, FULL>(r, n));
                r = r.add(c);
            }
            if FULL {
                v.store(q);
            } else {
                v.store_partial(q, n);
            }
            q = q.add(c);
        }
    }
}

/// The bias of channels `o..` and the weights of their first `taps` (at
/// most nine) taps, for kernels that hold them in registers.
#[inline(always)]
unsafe fn bias_and_taps<V: Simd>(px: &Pixel, o: usize, wb: *const f32, taps: usize) -> (V, [V; 9]) {
    unsafe {
        let b = V::load(px.bias.add(o));
        let mut wk = [b; 9];
        for (t, wt) in wk.iter_mut().enumerate().take(taps) {
            *wt = V::load(wb.add(t * V::LANES));
        }
        (b, wk)
    }
}

/// A 3x3 stride-1 kernel on one whole vector of channels (`o..o + LANES`),
/// two output pixels at a time: their windows share two of their three
/// columns, so four loads per kernel row feed six multiply-adds (instead of
/// six), and the row pointers advance once per pair.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn channel_run_pairs<V: Simd, const A: u8>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    oxs: core::ops::Range<usize>,
    o: usize,
    wb: *const f32,
    res: *const f32,
    y: *mut f32,
) {
    let c = px.c;
    unsafe {
        let (b, wk) = bias_and_taps::<V>(px, o, wb, 9);
        let start = (oxs.start - g.pad_left) * c + o;
        let (mut p0, mut p1, mut p2) = (rows[0].add(start), rows[1].add(start), rows[2].add(start));
        let mut q = y.add(oxs.start * c + o);
        let mut r = if res.is_null() { res } else { res.add(oxs.start * c + o) };
        let mut left = oxs.len();
        while left >= 2 {
            let (mut a0, mut a1) = (b, b);
            for (ky, p) in [p0, p1, p2].into_iter().enumerate() {
                let x0 = V::load(p);
                let x1 = V::load(p.add(c));
                let x2 = V::load(p.add(2 * c));
                let x3 = V::load(p.add(3 * c));
                let (w0, w1, w2) = (wk[3 * ky], wk[3 * ky + 1], wk[3 * ky + 2]);
                a0 = V::fmadd(x0, w0, a0);
                a1 = V::fmadd(x1, w0, a1);
                a0 = V::fmadd(x1, w1, a0);
                a1 = V::fmadd(x2, w1, a1);
                a0 = V::fmadd(x2, w2, a0);
                a1 = V::fmadd(x3, w2, a1);
            }
            finish::<V, A>(a0, px.act, q, r);
            finish::<V, A>(a1, px.act, q.add(c), if r.is_null() { r } else { r.add(c) });
            p0 = p0.add(2 * c);
            p1 = p1.add(2 * c);
            p2 = p2.add(2 * c);
            q = q.add(2 * c);
            if !r.is_null() {
                r = r.add(2 * c);
            }
            left -= 2;
        }
        if left == 1 {
            let mut a = b;
            for (ky, p) in [p0, p1, p2].into_iter().enumerate() {
                for kx in 0..3 {
                    a = V::fmadd(V::load(p.add(kx * c)), wk[3 * ky + kx], a);
                }
            }
            finish::<V, A>(a, px.act, q, r);
        }
    }
}

/// Activation, residual (if `r` is not null), store: one output vector.
#[inline(always)]
unsafe fn finish<V: Simd, const A: u8>(v: V, act: Act, q: *mut f32, r: *const f32) {
    unsafe {
        let mut v = act_n::<V, A>(v, act);
        if !r.is_null() {
            v = v.add(V::load(r));
        }
        v.store(q);
    }
}

/// Channels `o..o + n` of output pixels `oxs`, eight pixels at a time:
/// eight accumulators in registers, each weight vector loaded once per
/// eight pixels (so 5x5 kernels, whose 25 weight vectors do not fit the
/// AVX2 register file, cost no more loads than 3x3). `FULL`: `n` is a whole
/// vector.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn channel_run<V: Simd, const K: usize, const A: u8, const FULL: bool>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    oxs: core::ops::Range<usize>,
    o: usize,
    n: usize,
    wb: *const f32,
    res: *const f32,
    y: *mut f32,
) {
    if K <= 3 {
        if K == 3 && g.sw == 1 && FULL {
            return unsafe { channel_run_pairs::<V, A>(g, px, rows, oxs, o, wb, res, y) };
        }
        return unsafe { channel_run_regs::<V, K, A, FULL>(g, px, rows, oxs, o, n, wb, res, y) };
    }
    let mut ox = oxs.start;
    unsafe {
        while ox + 8 <= oxs.end {
            pixels::<V, K, A, FULL, 8>(g, px, rows, ox, o, n, wb, res, y);
            ox += 8;
        }
        match oxs.end - ox {
            0 => {}
            1 => pixels::<V, K, A, FULL, 1>(g, px, rows, ox, o, n, wb, res, y),
            2 => pixels::<V, K, A, FULL, 2>(g, px, rows, ox, o, n, wb, res, y),
            3 => pixels::<V, K, A, FULL, 3>(g, px, rows, ox, o, n, wb, res, y),
            4 => pixels::<V, K, A, FULL, 4>(g, px, rows, ox, o, n, wb, res, y),
            5 => pixels::<V, K, A, FULL, 5>(g, px, rows, ox, o, n, wb, res, y),
            6 => pixels::<V, K, A, FULL, 6>(g, px, rows, ox, o, n, wb, res, y),
            _ => pixels::<V, K, A, FULL, 7>(g, px, rows, ox, o, n, wb, res, y),
        }
    }
}

/// `P` output pixels from `ox`, channels `o..o + n`.
#[allow(clippy::too_many_arguments)]
// Indexed loops over the constant `K` unroll into register code.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn pixels<V: Simd, const K: usize, const A: u8, const FULL: bool, const P: usize>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    ox: usize,
    o: usize,
    n: usize,
    wb: *const f32,
    res: *const f32,
    y: *mut f32,
) {
    let c = px.c;
    let step = g.sw * c;
    unsafe {
        let b = V::load(px.bias.add(o));
        let mut acc = [b; P];
        for ky in 0..K {
            let row = rows[ky].add((ox * g.sw - g.pad_left) * c + o);
            for kx in 0..K {
                let wv = V::load(wb.add((ky * K + kx) * V::LANES));
                let col = row.add(kx * c);
                for (p, a) in acc.iter_mut().enumerate() {
                    *a = V::fmadd(load::<V, FULL>(col.add(p * step), n), wv, *a);
                }
            }
        }
        for (p, a) in acc.iter().enumerate() {
            let at = (ox + p) * c + o;
            let mut v = act_n::<V, A>(*a, px.act);
            if !res.is_null() {
                v = v.add(load::<V, FULL>(res.add(at), n));
            }
            if FULL {
                v.store(y.add(at));
            } else {
                v.store_partial(y.add(at), n);
            }
        }
    }
}

/// Output pixel `ox` with its window clipped to the image (borders, missing rows).
#[inline(always)]
unsafe fn clipped<V: Simd>(g: &ConvGeom, px: &Pixel, rows: &[*const f32], ox: usize, res: *const f32, y: *mut f32) {
    let c = px.c;
    let left = (ox * g.sw) as isize - g.pad_left as isize;
    let kx0 = (-left).max(0) as usize;
    let kx1 = (g.w as isize - left).clamp(0, g.kw as isize) as usize;
    let taps = g.kh * g.kw;
    for cb in (0..c).step_by(V::LANES) {
        let n = V::LANES.min(c - cb);
        unsafe {
            let wb = px.w.add(cb * taps);
            let mut acc = V::load(px.bias.add(cb));
            for (ky, row) in rows.iter().enumerate() {
                if row.is_null() {
                    continue;
                }
                for kx in kx0..kx1 {
                    let ix = (left + kx as isize) as usize;
                    let v = V::load_n(row.add(ix * c + cb), n);
                    acc = V::fmadd(v, V::load(wb.add((ky * g.kw + kx) * V::LANES)), acc);
                }
            }
            let o = ox * c + cb;
            let mut v = acc.act(px.act);
            if !res.is_null() {
                v = v.add(V::load_n(res.add(o), n));
            }
            v.store_n(y.add(o), n);
        }
    }
}

/// Depth multiplier > 1 (v1's `depth_multiplier`): output channel `o` reads
/// input channel `o / multiplier`. Rare; scalar.
#[allow(clippy::too_many_arguments)]
fn with_multiplier(
    g: &ConvGeom,
    multiplier: usize,
    lanes: usize,
    rows: Rows,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    act: Act,
    res: Opt<'_>,
    y: &mut [f32],
) {
    let (cin, cout) = (g.cin, g.cout);
    let taps = g.kh * g.kw;
    let first = rows.start;
    for oy in rows {
        for ox in 0..g.ow {
            let o = ((oy - first) * g.ow + ox) * cout;
            let acc = &mut y[o..o + cout];
            acc.copy_from_slice(&bias[..cout]);
            for ky in 0..g.kh {
                let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                for kx in 0..g.kw {
                    let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                    if ix < 0 || ix >= g.w as isize {
                        continue;
                    }
                    let px = &x[(iy as usize * g.w + ix as usize) * cin..][..cin];
                    let t = ky * g.kw + kx;
                    for (oc, a) in acc.iter_mut().enumerate() {
                        *a += px[oc / multiplier] * w[depthwise_index(taps, lanes, t, oc)];
                    }
                }
            }
            act.apply_all(acc);
            if let Some(r) = res {
                acc.iter_mut().zip(&r[o..o + cout]).for_each(|(a, r)| *a += r);
            }
        }
    }
}

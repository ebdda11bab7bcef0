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

/// Depthwise convolution (`multiplier` outputs per input channel) with a
/// fused epilogue. `w` and `bias` are packed by [`super::pack`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
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
    if multiplier != 1 {
        return with_multiplier(g, multiplier, isa.lanes(), x, w, bias, act, residual, y);
    }
    // SAFETY: lengths checked above; `isa` proves the instructions exist.
    unsafe {
        match isa.0 {
            Kind::Portable => run::<super::simd::Portable>(g, x, w, bias, act, residual, y),
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => avx2(g, x, w, bias, act, residual, y),
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512 => avx512(g, x, w, bias, act, residual, y),
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("no such instruction set on this target"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(g: &ConvGeom, x: &[f32], w: &[f32], b: &[f32], act: Act, r: Opt<'_>, y: &mut [f32]) {
    unsafe { run::<super::simd::Avx2>(g, x, w, b, act, r, y) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(g: &ConvGeom, x: &[f32], w: &[f32], b: &[f32], act: Act, r: Opt<'_>, y: &mut [f32]) {
    unsafe { run::<super::simd::Avx512>(g, x, w, b, act, r, y) }
}

#[inline(always)]
unsafe fn run<V: Simd>(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], act: Act, res: Opt<'_>, y: &mut [f32]) {
    let res = res.map_or(core::ptr::null(), <[f32]>::as_ptr);
    let (x, y) = (x.as_ptr(), y.as_mut_ptr());
    for oy in 0..g.oh {
        let top = (oy * g.sh) as isize - g.pad_top as isize;
        let mut rows = [core::ptr::null(); MAX_K];
        for (ky, r) in rows.iter_mut().enumerate().take(g.kh) {
            let iy = top + ky as isize;
            if iy >= 0 && (iy as usize) < g.h {
                *r = unsafe { x.add(iy as usize * g.w * g.cin) };
            }
        }
        let o = oy * g.ow * g.cout;
        let r = if res.is_null() { res } else { unsafe { res.add(o) } };
        unsafe { row::<V>(g, &rows[..g.kh], w.as_ptr(), bias.as_ptr(), act, r, y.add(o)) };
    }
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
    let all_rows = rows.iter().all(|r| !r.is_null());
    unsafe {
        match (g.kh, g.kw, all_rows) {
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
    let tail = c - full * V::LANES;
    unsafe {
        let mut taps = [core::ptr::null::<f32>(); 25];
        for ky in 0..K {
            for kx in 0..K {
                taps[ky * K + kx] = rows[ky].add((oxs.start * g.sw + kx - g.pad_left) * c);
            }
        }
        let step = g.sw * c;
        for ox in oxs {
            let out = y.add(ox * c);
            let r = if res.is_null() { res } else { res.add(ox * c) };
            let mut wb = px.w;
            let block = |o: usize, wb: *const f32| {
                // One chain of FMAs per kernel row, summed at the end: the
                // chains overlap instead of waiting on each other's latency.
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
                let mut v = act_n::<V, A>(sum, px.act);
                if !r.is_null() {
                    v = v.add(V::load(r.add(o)));
                }
                v.store(out.add(o));
            };
            for cb in 0..full {
                block(cb * V::LANES, wb);
                wb = wb.add(K * K * V::LANES);
            }
            if tail > 0 {
                let o = full * V::LANES;
                let mut acc = V::load(px.bias.add(o));
                for t in 0..K * K {
                    acc = V::fmadd(V::load_partial(taps[t].add(o), tail), V::load(wb.add(t * V::LANES)), acc);
                }
                let mut v = act_n::<V, A>(acc, px.act);
                if !r.is_null() {
                    v = v.add(V::load_partial(r.add(o), tail));
                }
                v.store_partial(out.add(o), tail);
            }
            for t in taps.iter_mut().take(K * K) {
                *t = t.add(step);
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
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    act: Act,
    res: Opt<'_>,
    y: &mut [f32],
) {
    let (cin, cout) = (g.cin, g.cout);
    let taps = g.kh * g.kw;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * cout;
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

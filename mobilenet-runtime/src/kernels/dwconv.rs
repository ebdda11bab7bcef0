//! Depthwise convolution, vectorized over channels.
//!
//! Weights are packed `[c / lanes][taps][lanes]` ([`super::pack::depthwise`]).
//! Each output row is cut into groups of up to eight neighbouring pixels;
//! 3x3 and 5x5 kernels with stride 1 or 2 compute a group for one vector of
//! channels at a time, unrolled, each input vector loaded once for all the
//! group's windows that hold it (see [`row_groups`]). Other kernels take a
//! clipped per-pixel path.

use super::entry::Kernels;
use super::isa::{F32Kernels, Isa};
use super::micro::{Group, Pixel};
use super::pack::{depthwise_bias_len, depthwise_index, depthwise_len};
use super::simd::Simd;
use super::window::{input_rows, taps_inside};
use super::{Act, ConvGeom, Epilogue};
use crate::exec::Exec;

/// Depthwise convolution with a fused epilogue: `g.cout / g.cin` outputs
/// (the depth multiplier) per input channel. `w` and the bias are packed by
/// [`super::pack`].
pub fn depthwise(e: &dyn Exec, isa: Isa, g: &ConvGeom, x: &[f32], w: &[f32], epi: Epilogue<'_>, y: &mut [f32]) {
    assert!(g.cin > 0 && g.cout.is_multiple_of(g.cin), "depthwise output channels are a multiple of the input's");
    let multiplier = g.cout / g.cin;
    assert!(x.len() >= g.h * g.w * g.cin && y.len() >= g.oh * g.ow * g.cout);
    assert!(w.len() >= depthwise_len(g.kh * g.kw, g.cout) && epi.bias.len() >= depthwise_bias_len(g.cout));
    assert!(epi.residual.is_none_or(|r| r.len() >= g.oh * g.ow * g.cout));
    assert!(g.kh <= MAX_K, "kernel taller than {MAX_K}");
    let (b, parts) = super::par::bounds(g.oh, e.threads(), 1);
    let row = g.ow * g.cout;
    super::par::run(e, &mut y[..g.oh * row], &b, parts, row, &|part, y| {
        let rows = b[part]..b[part + 1];
        let epi = epi.range(rows.start * row, rows.len() * row);
        if multiplier != 1 {
            return with_multiplier(g, isa.lanes(), rows, x, w, epi, y);
        }
        // SAFETY: lengths checked above (`y` and `residual` hold `rows`);
        // `isa` proves the instructions exist.
        unsafe {
            match isa.f32().kernels {
                F32Kernels::Portable => run::<super::simd::Portable>(g, rows, x, w, epi, y),
                #[cfg(target_arch = "x86_64")]
                F32Kernels::Avx2 => avx2(g, rows, x, w, epi, y),
                #[cfg(target_arch = "x86_64")]
                F32Kernels::Avx512 => avx512(g, rows, x, w, epi, y),
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                F32Kernels::Simd128 => run::<super::simd::Simd128>(g, rows, x, w, epi, y),
                #[allow(unreachable_patterns)]
                _ => unreachable!("no such instruction set on this target"),
            }
        }
    });
}

type Rows = core::ops::Range<usize>;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(g: &ConvGeom, rows: Rows, x: &[f32], w: &[f32], epi: Epilogue<'_>, y: &mut [f32]) {
    // SAFETY: this function's target features are the ones `Avx2` needs; the caller checked the lengths
    // (`depthwise`).
    unsafe { run::<super::simd::Avx2>(g, rows, x, w, epi, y) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(g: &ConvGeom, rows: Rows, x: &[f32], w: &[f32], epi: Epilogue<'_>, y: &mut [f32]) {
    // SAFETY: this function's target features are the ones `Avx512` needs; the caller checked the lengths
    // (`depthwise`).
    unsafe { run::<super::simd::Avx512>(g, rows, x, w, epi, y) }
}

/// Fewest vector multiply-adds per output pixel (vectors times taps) a
/// slice must have: each group call has a fixed cost, and thin slices
/// of a 3x3 conv (three vectors) lost more to it than L1 gained them.
const MIN_SLICE_TAPS: usize = 36;

/// Channels per slice of [`run`]: whole vectors, as many as keep the slice's
/// `kh` input rows within the table's `dw_l1_rows`; all of them where that
/// gives too thin a slice, and for kernels whose row says not to slice
/// (`F32Config::dw_slices`).
fn slice_channels<V: Simd>(g: &ConvGeom) -> usize {
    let (lanes, config) = (V::LANES, V::CONFIG);
    if !config.dw_slices {
        return g.cin;
    }
    let vectors = config.cache.dw_l1_rows / (g.kh * g.w * lanes * 4).max(1);
    if vectors * g.kh * g.kw < MIN_SLICE_TAPS || vectors * lanes >= g.cin { g.cin } else { vectors * lanes }
}

/// Output rows `rows`; `y` and the residual start at row `rows.start`.
///
/// Channels are walked in slices ([`slice_channels`]), each over all the
/// rows: an input row is read by `kh` output rows, and whole rows of a
/// map of many channels (14x14x384: 64 KB for three) do not stay in L1 from one output
/// row to the next, so every output row fetched its inputs from L2 again.
/// A slice's rows do stay.
#[inline(always)]
unsafe fn run<V: Kernels>(g: &ConvGeom, rows: Rows, x: &[f32], w: &[f32], epi: Epilogue<'_>, y: &mut [f32]) {
    let res = epi.residual.map_or(core::ptr::null(), <[f32]>::as_ptr);
    let (x, y) = (x.as_ptr(), y.as_mut_ptr());
    let first = rows.start;
    let slice = slice_channels::<V>(g);
    for c0 in (0..g.cin).step_by(slice) {
        let cn = slice.min(g.cin - c0);
        for oy in rows.clone() {
            // The slice of each input row: `c0 < cin`, so it starts inside the row (or is null: padding).
            let rows =
                input_rows::<f32, MAX_K>(g, x, oy, g.kh).map(|r| if r.is_null() { r } else { r.wrapping_add(c0) });
            let o = (oy - first) * g.ow * g.cout + c0;
            // SAFETY: `res` holds the rows of this part (checked by `depthwise`); `o` is the offset of the slice
            // of row `oy` in it.
            let r = if res.is_null() { res } else { unsafe { res.add(o) } };
            // SAFETY: `c0` is a multiple of the vector width below `cin`: the slice's packed weights and bias
            // lie inside theirs (checked by `depthwise`).
            let (ws, bs) = unsafe { (w.as_ptr().add(c0 * g.kh * g.kw), epi.bias.as_ptr().add(c0)) };
            let px = Pixel { c: g.cin, n: cn, w: ws, bias: bs, act: epi.act };
            // SAFETY: `rows` point at the slice of input rows or are null, `y.add(o)` at the slice of output row
            // `oy` of this part, `px` at the slice's weights and bias (all checked by `depthwise`); `V` matches
            // the function's target features.
            unsafe { row_pixels::<V>(g, &px, &rows[..g.kh], r, y.add(o)) };
        }
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
    act: Option<Act>,
    out: *mut f32,
) {
    // SAFETY: the caller's contract (rows, `w`, `bias`, `out` as documented); `isa` proves the CPU has the
    // instructions of the kernels it selects.
    unsafe {
        match isa.f32().kernels {
            F32Kernels::Portable => row::<super::simd::Portable>(g, rows, w, bias, act, core::ptr::null(), out),
            #[cfg(target_arch = "x86_64")]
            F32Kernels::Avx2 => row_avx2(g, rows, w, bias, act, out),
            #[cfg(target_arch = "x86_64")]
            F32Kernels::Avx512 => row_avx512(g, rows, w, bias, act, out),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            F32Kernels::Simd128 => row::<super::simd::Simd128>(g, rows, w, bias, act, core::ptr::null(), out),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no such instruction set on this target"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2(g: &ConvGeom, rows: &[*const f32], w: *const f32, b: *const f32, act: Option<Act>, out: *mut f32) {
    // SAFETY: this function's target features are the ones `Avx2` needs; the pointers are the caller's
    // (`row_dispatch`).
    unsafe { row::<super::simd::Avx2>(g, rows, w, b, act, core::ptr::null(), out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn row_avx512(g: &ConvGeom, rows: &[*const f32], w: *const f32, b: *const f32, act: Option<Act>, out: *mut f32) {
    // SAFETY: this function's target features are the ones `Avx512` needs; the pointers are the caller's
    // (`row_dispatch`).
    unsafe { row::<super::simd::Avx512>(g, rows, w, b, act, core::ptr::null(), out) }
}

/// Largest kernel height the row kernels take input rows for.
pub(crate) const MAX_K: usize = super::MAX_KERNEL;

/// One output row of a depthwise convolution (multiplier 1): `rows[ky]` is
/// input row `oy * sh - pad_top + ky` (`w * c` floats), or null where that row
/// is padding; `y` (and `res`, if not null) the output row. Used on whole
/// images and by the fused block kernel on its ring of expanded rows.
#[inline(always)]
pub(crate) unsafe fn row<V: Kernels>(
    g: &ConvGeom,
    rows: &[*const f32],
    w: *const f32,
    bias: *const f32,
    act: Option<Act>,
    res: *const f32,
    y: *mut f32,
) {
    let px = Pixel { c: g.cin, n: g.cin, w, bias, act };
    // SAFETY: the caller's contract, for every channel.
    unsafe { row_pixels::<V>(g, &px, rows, res, y) }
}

/// [`row`] for the channels of `px` (`px.n` from where its pointers, `rows`,
/// `res` and `y` start, pixels `px.c` apart).
#[inline(always)]
unsafe fn row_pixels<V: Kernels>(g: &ConvGeom, px: &Pixel, rows: &[*const f32], res: *const f32, y: *mut f32) {
    // SAFETY: the caller's contract: `rows` hold `g.kh` input rows (or null), `y` and `res` an output row,
    // `px` the weights and bias of its channels.
    unsafe {
        match (g.kh, g.kw, g.sw) {
            (3, 3, 1) => row_groups::<V, 3, 1>(g, px, rows, res, y),
            (3, 3, 2) => row_groups::<V, 3, 2>(g, px, rows, res, y),
            (5, 5, 1) => row_groups::<V, 5, 1>(g, px, rows, res, y),
            (5, 5, 2) => row_groups::<V, 5, 2>(g, px, rows, res, y),
            _ => {
                for ox in 0..g.ow {
                    clipped::<V>(g, px, rows, ox, 0, res, y);
                }
            }
        }
    }
}

/// Output pixels a group computes together: eight accumulators, the `K`
/// weights of one kernel row and one input vector fit the 16 AVX2
/// registers (5x5: 8 + 5 + 1). Stride 2 takes half as many: with the
/// 13-19 window columns of six or eight stride-2 pixels LLVM gave up
/// unrolling and the accumulators went to the stack (2x slower with AVX2,
/// before the columns were unrolled in source by `unroll12!`; see
/// BENCHMARKS.md).
const GROUP: usize = 8;

/// A row in groups of up to [`GROUP`] neighbouring output pixels, for a
/// `K x K` kernel with horizontal stride `S`.
///
/// For each vector of channels, a group walks each kernel row's input
/// columns once: every input vector is loaded once and multiplied into
/// every output of the group whose window holds it (3x3 stride 1: ten
/// loads feed 24 multiply-adds), with the row's `K` weight vectors in
/// registers. The group's eight accumulators are independent chains, which
/// is what keeps both FMA units busy: one pixel at a time (or two), each
/// output's nine dependent multiply-adds left the units waiting on latency.
/// Border pixels take the same path: input columns outside the image are
/// skipped, as are missing rows. It is 1.2x to 2.9x faster than the
/// per-pixel kernels it replaced (BENCHMARKS.md).
#[inline(always)]
unsafe fn row_groups<V: Kernels, const K: usize, const S: usize>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    res: *const f32,
    y: *mut f32,
) {
    let c = px.c;
    let full = px.n / V::LANES;
    let most = GROUP / S;
    let ptrs: [*const f32; K] = core::array::from_fn(|ky| rows[ky]);
    let mut x0 = 0;
    while x0 < g.ow {
        // Whole groups, then the rest as one.
        let np = most.min(g.ow - x0);
        let left = (x0 * S) as isize - g.pad_left as isize;
        let span = (np - 1) * S + K;
        // Bit `j`: input column `left + j` lies inside the image.
        let inside = if left >= 0 && left as usize + span <= g.w {
            u32::MAX
        } else {
            let mut m = 0u32;
            for j in 0..span {
                let ix = left + j as isize;
                if ix >= 0 && ix < g.w as isize {
                    m |= 1 << j;
                }
            }
            m
        };
        let grp = Group { rows: &ptrs, left: left * c as isize, inside, x0, full };
        // SAFETY: the group's `np` pixels from `x0` lie in the output row (`x0 + np <= g.ow`), its window
        // columns are read only where `inside` says they are in the image, and `clipped` handles the channel
        // tail; the rest is the caller's contract.
        unsafe {
            // Stride 2 only instantiates the group sizes it uses.
            match (np, S) {
                (8, 1) => group_n::<V, K, 1, 8>(px, &grp, res, y),
                (7, 1) => group_n::<V, K, 1, 7>(px, &grp, res, y),
                (6, 1) => group_n::<V, K, 1, 6>(px, &grp, res, y),
                (5, 1) => group_n::<V, K, 1, 5>(px, &grp, res, y),
                (4, _) => group_n::<V, K, S, 4>(px, &grp, res, y),
                (3, _) => group_n::<V, K, S, 3>(px, &grp, res, y),
                (2, _) => group_n::<V, K, S, 2>(px, &grp, res, y),
                _ => group_n::<V, K, S, 1>(px, &grp, res, y),
            }
            if full * V::LANES < px.n {
                for ox in x0..x0 + np {
                    clipped::<V>(g, px, rows, ox, full * V::LANES, res, y);
                }
            }
        }
        x0 += np;
    }
}

/// [`group`], with the column checks compiled out where the group's windows
/// are all inside the image.
#[inline(always)]
unsafe fn group_n<V: Kernels, const K: usize, const S: usize, const P: usize>(
    px: &Pixel,
    grp: &Group<'_, K>,
    res: *const f32,
    y: *mut f32,
) {
    // SAFETY: the caller's contract, passed on; `inside == u32::MAX` is what `ALL = true` assumes.
    unsafe {
        if grp.inside == u32::MAX {
            V::dw_group::<K, S, P, true>(px, grp, res, y)
        } else {
            V::dw_group::<K, S, P, false>(px, grp, res, y)
        }
    }
}

/// Channels `from..px.n` of output pixel `ox`, its window clipped to the image
/// (kernels without a grouped path, channel tails). `from` is a multiple of
/// the vector width.
#[inline(always)]
unsafe fn clipped<V: Simd>(
    g: &ConvGeom,
    px: &Pixel,
    rows: &[*const f32],
    ox: usize,
    from: usize,
    res: *const f32,
    y: *mut f32,
) {
    let c = px.c;
    let left = (ox * g.sw) as isize - g.pad_left as isize;
    let kx0 = (-left).max(0) as usize;
    let kx1 = (g.w as isize - left).clamp(0, g.kw as isize) as usize;
    let taps = g.kh * g.kw;
    for cb in (from..px.n).step_by(V::LANES) {
        let n = V::LANES.min(px.n - cb);
        // SAFETY: `n` lanes from channel `cb` of input columns `kx0..kx1` (clipped to the image) of non-null
        // rows, and of output pixel `ox`; weights and bias packed for `c` (padded to whole vectors).
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
            let mut v = acc.act_opt(px.act);
            if !res.is_null() {
                v = v.add(V::load_n(res.add(o), n));
            }
            v.store_n(y.add(o), n);
        }
    }
}

/// Depth multiplier > 1 (v1's `depth_multiplier`): output channel `o` reads
/// input channel `o / multiplier`. Rare; scalar.
fn with_multiplier(g: &ConvGeom, lanes: usize, rows: Rows, x: &[f32], w: &[f32], epi: Epilogue<'_>, y: &mut [f32]) {
    let (cin, cout) = (g.cin, g.cout);
    let multiplier = cout / cin;
    let taps = g.kh * g.kw;
    let first = rows.start;
    for oy in rows {
        for ox in 0..g.ow {
            let o = ((oy - first) * g.ow + ox) * cout;
            let acc = &mut y[o..o + cout];
            acc.copy_from_slice(&epi.bias[..cout]);
            for (t, p) in taps_inside(g, oy, ox) {
                let px = &x[p * cin..][..cin];
                for (oc, a) in acc.iter_mut().enumerate() {
                    *a += px[oc / multiplier] * w[depthwise_index(taps, lanes, t, oc)];
                }
            }
            Act::apply_all(epi.act, acc);
            if let Some(r) = epi.residual {
                acc.iter_mut().zip(&r[o..o + cout]).for_each(|(a, r)| *a += r);
            }
        }
    }
}

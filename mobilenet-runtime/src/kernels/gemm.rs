//! `y[m][n] = act(x[m][k] * W[k][n] + bias[n]) + residual[m][n]` with `W`
//! packed in panels ([`super::pack::gemm`]): the pointwise convolutions
//! that are most of a MobileNet's work, the im2col'd regular convs and the
//! dense layers.
//!
//! The micro-kernel keeps an `MR x 2 vectors` tile of outputs in registers
//! (AVX2: 6 x 16, AVX-512: 12 x 32) and, per `k`, loads two vectors of the
//! weight panel and broadcasts `MR` inputs straight from the NHWC rows (no
//! packing of the activations is needed: a pixel's channels are contiguous).
//! Rows are walked in blocks that stay in L1 while every panel passes over
//! them; bias, activation and residual are applied as the tile is stored.

use super::Epilogue;
use super::entry::Kernels;
use super::isa::{F32Kernels, Isa};
use super::micro::Tile;
use super::par::even;
use super::simd::Simd;

/// The arguments of one GEMM.
#[derive(Clone, Copy)]
pub(crate) struct Gemm<'a> {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// `m` rows of `k` inputs, `lda` apart.
    pub x: &'a [f32],
    pub lda: usize,
    /// If set, input `kk` of row `r` is `x[r * lda + koff[kk]]` instead of
    /// `x[r * lda + kk]`: a convolution's windows read in place ("implicit
    /// im2col").
    pub koff: Option<&'a [usize]>,
    pub w: &'a [f32],
    /// Bias and activation per column; the residual is `m x n`, like the
    /// output (rows `ldc` apart).
    pub epi: Epilogue<'a>,
    /// Floats between output (and residual) rows, at least `n`.
    pub ldc: usize,
}

/// Checks the lengths [`run`] relies on, for an output of `y_len` floats.
fn check(isa: Isa, g: &Gemm<'_>, y_len: usize) {
    let nr = isa.panel();
    let panels = g.n.div_ceil(nr);
    let span = g.koff.map_or(g.k, |o| {
        assert!(o.len() >= g.k, "an offset per input");
        o[..g.k].iter().max().map_or(0, |m| m + 1)
    });
    assert!(g.m == 0 || g.x.len() >= (g.m - 1) * g.lda + span, "x too short");
    assert!(
        (g.lda >= g.k || g.koff.is_some()) && g.w.len() >= panels * g.k * nr && g.epi.bias.len() >= panels * nr,
        "weights too short"
    );
    assert!(g.ldc >= g.n, "output rows overlap");
    let out = if g.m == 0 { 0 } else { (g.m - 1) * g.ldc + g.n };
    assert!(y_len >= out && g.epi.residual.is_none_or(|r| r.len() >= out), "output too short");
}

/// Runs a GEMM with the kernels of `isa`.
pub(crate) fn gemm(isa: Isa, g: &Gemm<'_>, y: &mut [f32]) {
    // SAFETY: `y` is a whole mutable slice.
    unsafe { gemm_ptr(isa, g, y.as_mut_ptr(), y.len()) }
}

/// [`gemm`] writing through a pointer, for parts of a job that write
/// interleaved columns of one output.
///
/// # Safety
/// `y` is valid for writes of `y_len` floats, and nothing else accesses
/// the output elements this GEMM writes (rows `ldc` apart, `n` wide) while it
/// runs.
pub(crate) unsafe fn gemm_ptr(isa: Isa, g: &Gemm<'_>, y: *mut f32, y_len: usize) {
    check(isa, g, y_len);
    // SAFETY: lengths checked above; `isa` proves the instructions exist.
    unsafe {
        match isa.f32().kernels {
            F32Kernels::Portable => run::<super::simd::Portable>(g, y),
            #[cfg(target_arch = "x86_64")]
            F32Kernels::Avx2 => avx2(g, y),
            #[cfg(target_arch = "x86_64")]
            F32Kernels::Avx512 => avx512(g, y),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            F32Kernels::Simd128 => run::<super::simd::Simd128>(g, y),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no such instruction set on this target"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(g: &Gemm<'_>, y: *mut f32) {
    // SAFETY: this function's target features are the ones `Avx2` needs; lengths checked by `gemm_ptr`.
    unsafe { run::<super::simd::Avx2>(g, y) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(g: &Gemm<'_>, y: *mut f32) {
    // SAFETY: this function's target features are the ones `Avx512` needs; lengths checked by `gemm_ptr`.
    unsafe { run::<super::simd::Avx512>(g, y) }
}

/// The GEMM for vectors `V`; lengths as [`check`] requires.
#[inline(always)]
unsafe fn run<V: Kernels>(g: &Gemm<'_>, y: *mut f32) {
    if g.m == 1 && g.koff.is_none() {
        // SAFETY: one row read in order, lengths as `check` requires (the caller's contract).
        return unsafe { gemv::<V>(g, y) };
    }
    let nr = V::PANEL;
    let panels = g.n.div_ceil(nr);
    // Two-vector tiles reading through offsets are shorter, where their
    // registers run out (one-vector tiles, v3's 16-channel stem, keep MR).
    let mr = if g.koff.is_some() && g.n > V::LANES { V::MR_OFFSET } else { V::MR };
    let (x, w, bias) = (g.x.as_ptr(), g.w.as_ptr(), g.epi.bias.as_ptr());
    let res = g.epi.residual.map_or(core::ptr::null(), <[f32]>::as_ptr);
    let koff = g.koff.map_or(core::ptr::null(), <[usize]>::as_ptr);
    let tile_at = |r: usize, p: usize| Tile {
        koff,
        k: g.k,
        a: x.wrapping_add(r * g.lda),
        lda: g.lda,
        b: w.wrapping_add(p * g.k * nr),
        bias: bias.wrapping_add(p * nr),
        act: g.epi.act,
        res: if res.is_null() { res } else { res.wrapping_add(r * g.ldc + p * nr) },
        c: y.wrapping_add(r * g.ldc + p * nr),
        ldc: g.ldc,
        cols: nr.min(g.n - p * nr),
        first: true,
        last: true,
        pf: w.wrapping_add(p * g.k * nr),
    };
    if g.k * panels * nr * 4 <= V::CONFIG.cache.gemm_l1_weights {
        // All weights fit L1: finish each band of rows across every panel
        // while its output rows are in L1 (no partial output lines written
        // back and re-read per panel: what small-k layers are bound by).
        for (r, rows) in even(0, g.m, mr) {
            // SAFETY: the band's rows and every panel lie within the lengths `check` verified.
            unsafe { band_for::<V>(rows, &tile_at(r, 0), panels, g.n) };
        }
        return;
    }
    // Otherwise (GotoBLAS-style): blocks of rows whose inputs stay in L2
    // while every panel passes over them, each panel in slices of `kc`
    // inputs that stay in L1 while every row tile of the block uses them;
    // a tile's partial sums stay in the output between slices, and the
    // epilogue runs after the last. Every weight is read from memory once
    // per row block, not once per row tile.
    let kc = (V::CONFIG.cache.gemm_l1_panel / (nr * 4)).max(1);
    let mc = ((V::CONFIG.cache.gemm_l2_rows / (g.k * 4).max(1)) / mr).max(1) * mr;
    // A little over the budget beats streaming every weight twice.
    let mc = if g.m <= mc + mc / 4 { g.m } else { mc };
    for (m0, mlen) in even(0, g.m, mc) {
        for p in 0..panels {
            let mut k0 = 0;
            while k0 < g.k {
                let k1 = if g.k - k0 < kc + kc / 4 { g.k } else { k0 + kc };
                // The weights are one stream in the order they are used
                // (panel after panel, `k` within a panel): while this slice
                // is in use, the first row tiles prefetch the next one, a
                // line per `k` each, so that it is in L1 before its first
                // tile (waiting for it from L3 cost about 8%: BENCHMARKS.md,
                // "Measurements behind kernel comments").
                let next = w.wrapping_add((p * g.k + k1) * nr);
                let lines = (k1 - k0) * nr / 16;
                let parts = lines.div_ceil(k1 - k0);
                for (j, (r, rows)) in even(m0, mlen, mr).enumerate() {
                    let mut t = tile_at(r, p);
                    t.pf = next.wrapping_add((j % parts) * (k1 - k0) * 16);
                    if t.koff.is_null() {
                        t.a = t.a.wrapping_add(k0);
                    } else {
                        t.koff = t.koff.wrapping_add(k0);
                    }
                    t.b = t.b.wrapping_add(k0 * nr);
                    t.k = k1 - k0;
                    t.first = k0 == 0;
                    t.last = k1 == g.k;
                    // SAFETY: the tile's rows, columns and `k` slice lie within the lengths `check` verified.
                    unsafe { tile_for::<V>(rows, &t) };
                }
                k0 = k1;
            }
        }
    }
}

/// The micro-kernel for a tile of `rows` rows, one or two vectors wide.
#[inline(always)]
unsafe fn tile_for<V: Kernels>(rows: usize, t: &Tile) {
    // SAFETY: the caller's contract (a tile within the checked lengths, at most MR rows).
    unsafe {
        match (t.cols <= V::LANES, t.koff.is_null()) {
            (true, true) => tile_rows::<V, 1, false>(rows, t),
            (false, true) => tile_rows::<V, 2, false>(rows, t),
            (true, false) => tile_rows::<V, 1, true>(rows, t),
            (false, false) => tile_rows::<V, 2, true>(rows, t),
        }
    }
}

/// One row (dense layers, squeeze-excite, 1x1 maps): a GEMV. It reads
/// every weight once, so it is bound by how fast the weights stream in from
/// L3 or memory: [`GEMV_PANELS`] panels are walked side by side, that many
/// sequential streams in flight instead of one (a third faster with the
/// weights in L3, see BENCHMARKS.md), each column vector with its own
/// accumulator.
///
/// Each output is `bias + x[0] w[0] + x[1] w[1] + ...` in that order, the
/// same as in [`tile`], so a one-row part of a GEMM split between threads
/// gives the bits the whole GEMM gives. That is also why `k` is not split
/// over several accumulators when there are only a few panels (a head of 10
/// classes): it would be slightly faster there, and the result would
/// depend on how the columns were split.
#[inline(always)]
unsafe fn gemv<V: Simd>(g: &Gemm<'_>, y: *mut f32) {
    debug_assert!(g.koff.is_none(), "one row is read in place");
    let panels = g.n.div_ceil(V::PANEL);
    let mut p = 0;
    while p < panels {
        // SAFETY: panels `p..p + P` exist (`P <= panels - p`); lengths as `check` verified.
        unsafe {
            match panels - p {
                1 => gemv_panels::<V, 1>(g, y, p),
                2 => gemv_panels::<V, 2>(g, y, p),
                3 => gemv_panels::<V, 3>(g, y, p),
                4 => gemv_panels::<V, 4>(g, y, p),
                5 => gemv_panels::<V, 5>(g, y, p),
                _ => gemv_panels::<V, GEMV_PANELS>(g, y, p),
            }
        }
        p += GEMV_PANELS;
    }
}

/// Panels a GEMV reads side by side: 12 accumulators, which leaves AVX2
/// registers for the input and the weights.
const GEMV_PANELS: usize = 6;

/// [`gemv`] for the `P` panels from `p0`.
#[inline(always)]
unsafe fn gemv_panels<V: Simd, const P: usize>(g: &Gemm<'_>, y: *mut f32, p0: usize) {
    let nr = V::PANEL;
    let x = g.x.as_ptr();
    // SAFETY: panels `p0..p0 + P` of `w` and `bias` exist, `x` holds `k` inputs and `y` the panels' columns
    // (as `check` verified); stores are cut to the valid columns.
    unsafe {
        let b = g.w.as_ptr().add(p0 * g.k * nr);
        let bias = g.epi.bias.as_ptr().add(p0 * nr);
        let acc0: [V; P] = core::array::from_fn(|q| V::load(bias.add(q * nr)));
        let acc1: [V; P] = core::array::from_fn(|q| V::load(bias.add(q * nr + V::LANES)));
        let (mut acc0, mut acc1) = (acc0, acc1);
        for kk in 0..g.k {
            let a = V::splat(*x.add(kk));
            for q in 0..P {
                let row = b.add((q * g.k + kk) * nr);
                acc0[q] = V::fmadd(a, V::load(row), acc0[q]);
                acc1[q] = V::fmadd(a, V::load(row.add(V::LANES)), acc1[q]);
            }
        }
        for q in 0..P {
            let p = p0 + q;
            let cols = nr.min(g.n - p * nr);
            let v0 = acc0[q].act_opt(g.epi.act);
            let v1 = acc1[q].act_opt(g.epi.act);
            let (n0, n1) = (cols.min(V::LANES), cols.saturating_sub(V::LANES));
            let c = y.add(p * nr);
            match g.epi.residual {
                Some(r) => {
                    let r = r.as_ptr().add(p * nr);
                    v0.add(V::load_n(r, n0)).store_n(c, n0);
                    if n1 > 0 {
                        v1.add(V::load_n(r.add(V::LANES), n1)).store_n(c.add(V::LANES), n1);
                    }
                }
                None => {
                    v0.store_n(c, n0);
                    if n1 > 0 {
                        v1.store_n(c.add(V::LANES), n1);
                    }
                }
            }
        }
    }
}

/// A band of `rows` rows across all `panels` panels (`n` columns), from
/// the first panel's tile `t`: one dispatch per band, not per tile, which
/// matters where `k` is small (16-24: the early expansions) and a tile is
/// only about a hundred cycles of work.
#[inline(always)]
unsafe fn band_for<V: Kernels>(rows: usize, t: &Tile, panels: usize, n: usize) {
    // SAFETY: the caller's contract (a band within the checked lengths); each arm's row count is at most MR.
    unsafe {
        match (rows, t.koff.is_null()) {
            (6, true) if V::MR >= 6 => band::<V, 6, false>(t, panels, n),
            (5, true) if V::MR >= 5 => band::<V, 5, false>(t, panels, n),
            _ => {
                for p in 0..panels {
                    tile_for::<V>(rows, &panel_tile::<V>(t, p, n));
                }
            }
        }
    }
}

/// The tile of panel `p` in the band of `t` (panel 0).
#[inline(always)]
fn panel_tile<V: Simd>(t: &Tile, p: usize, n: usize) -> Tile {
    let nr = V::PANEL;
    Tile {
        b: t.b.wrapping_add(p * t.k * nr),
        pf: t.b.wrapping_add(p * t.k * nr),
        bias: t.bias.wrapping_add(p * nr),
        res: if t.res.is_null() { t.res } else { t.res.wrapping_add(p * nr) },
        c: t.c.wrapping_add(p * nr),
        cols: nr.min(n - p * nr),
        ..*t
    }
}

/// [`band_for`] with `MR` rows.
#[inline(always)]
unsafe fn band<V: Kernels, const MR: usize, const OFF: bool>(t: &Tile, panels: usize, n: usize) {
    for p in 0..panels {
        let tp = panel_tile::<V>(t, p, n);
        // SAFETY: the panel's tile lies within the band the caller checked.
        unsafe { if tp.cols <= V::LANES { V::gemm_tile::<1, OFF>(MR, &tp) } else { V::gemm_tile::<2, OFF>(MR, &tp) } }
    }
}

/// Calls the micro-kernel instantiated for `rows` rows of `NV` vectors
/// (one function per row count: see [`super::entry`]).
#[inline(always)]
unsafe fn tile_rows<V: Kernels, const NV: usize, const OFF: bool>(rows: usize, t: &Tile) {
    debug_assert!((1..=V::MR).contains(&rows), "at most MR rows");
    // SAFETY: the caller's contract.
    unsafe { V::gemm_tile::<NV, OFF>(rows, t) }
}

//! `y[p][c] = requant(bias[c] + sum_j x[p][j] * w[j][c])`: the pointwise
//! convolutions (most of a quantized MobileNet's work), the im2col'd stem
//! and the classifier.
//!
//! Weights are packed per layout (`mobilenet_layout::q8pack`: plain,
//! panels of 8 channels by input pairs for AVX2, panels of 16 by input
//! quads for VNNI). This module holds the API and the driver, which walks
//! tiles of `MR` rows by `NV` panels over the product and blocks them for
//! the caches; each instruction set's micro-kernel (a [`Micro`] impl: its
//! own file) keeps a tile of sums in registers, reading the NHWC input
//! rows in place (a pixel's channels are contiguous), and requantizes the
//! tile as it stores it.

// Targets without vector int8 kernels (a WebAssembly build without SIMD128,
// 32-bit ARM) run the portable kernel alone: the vector driver is unused there.
#![cfg_attr(
    not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))),
    allow(dead_code, unused_unsafe, unused_variables, unused_assignments)
)]
#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(target_arch = "x86_64")]
mod vnni;

use mobilenet_layout::q8pack::gemm_packed_len;

use super::requant::{Requant, requant_run};
use crate::exec::Exec;
use crate::kernels::PointwiseGeom;
use crate::kernels::isa::{Int8Config, Int8Kernels, Isa};
use crate::kernels::par::{self, even};

/// Pointwise convolution (or any `[pixels][k] x [k][n]` product, `g` =
/// `(pixels, k, n)`): `y[p][c] = requant(bias[c] + sum_j x[p][j] * w[j][c])`
/// with `q`, whose residual (if any) is laid out like `y`. `w` is packed for
/// `isa`'s layout; `q.bias` has the input's zero point folded in (`-x_zp *
/// sum_j w[j][c]`). Rows are split between the parts of `e`; every output
/// is computed the same way whatever the split.
///
/// # Panics
/// If a slice is too short, `k` or `n` is 0, or `q` is invalid.
pub fn pointwise(e: &dyn Exec, isa: Isa, g: &PointwiseGeom, x: &[u8], w: &[i8], q: &Requant<'_>, y: &mut [u8]) {
    let PointwiseGeom { pixels, cin: k, cout: n } = *g;
    check(isa, g, x, w, q.bias);
    assert!(y.len() >= pixels * n, "output too short");
    q.check(n, pixels * n);
    let (b, parts) = par::bounds(pixels, e.threads(), 1);
    par::run(e, &mut y[..pixels * n], &b, parts, n, &|part, y| {
        let rows = b[part]..b[part + 1];
        let x = &x[rows.start * k..rows.end * k];
        let q = q.from(rows.start * n);
        let g = PointwiseGeom::new(rows.len(), k, n);
        gemm(isa, &g, x, w, Dst::Q { q: &q, y });
    });
}

/// [`pointwise`] with float outputs `y[p][c] = (bias[c] + sum_j x[p][j] *
/// w[j][c]) as f32 * scale[c]` (a quantized classifier's logits), on the
/// calling thread.
///
/// # Panics
/// If a slice is too short or `k` or `n` is 0.
pub fn pointwise_f32(isa: Isa, g: &PointwiseGeom, x: &[u8], w: &[i8], bias: &[i32], scale: &[f32], y: &mut [f32]) {
    check(isa, g, x, w, bias);
    assert!(y.len() >= g.pixels * g.cout && scale.len() >= g.cout, "output or scale too short");
    gemm(isa, g, x, w, Dst::F32 { bias, scale, y });
}

fn check(isa: Isa, g: &PointwiseGeom, x: &[u8], w: &[i8], bias: &[i32]) {
    let PointwiseGeom { pixels, cin: k, cout: n } = *g;
    assert!(k > 0 && n > 0, "empty product");
    assert!(x.len() >= pixels * k, "input too short");
    assert!(w.len() >= gemm_packed_len(isa.qlayout(), k, n) && bias.len() >= n, "weights or bias too short");
}

/// Where a GEMM's sums go.
enum Dst<'a, 'q> {
    /// Requantized to bytes (the residual starts at this GEMM's first row).
    Q { q: &'a Requant<'q>, y: &'a mut [u8] },
    /// Scaled to floats.
    F32 { bias: &'a [i32], scale: &'a [f32], y: &'a mut [f32] },
}

/// The product `g` with the kernels of `isa`; lengths checked by the callers.
fn gemm(isa: Isa, g: &PointwiseGeom, x: &[u8], w: &[i8], dst: Dst<'_, '_>) {
    let PointwiseGeom { pixels: m, cin: k, cout: n } = *g;
    if m == 0 {
        return;
    }
    let config = isa.int8();
    if config.kernels == Int8Kernels::Portable {
        return match dst {
            Dst::Q { q, y } => portable::gemm(g, x, w, q.bias, |row, c0, acc| {
                let at = row * n + c0;
                requant_run(acc, q, c0, at, &mut y[at..at + acc.len()])
            }),
            Dst::F32 { bias, scale, y } => portable::gemm(g, x, w, bias, |row, c0, acc| {
                let at = row * n + c0;
                for ((y, &a), &s) in y[at..at + acc.len()].iter_mut().zip(acc).zip(&scale[c0..]) {
                    *y = a as f32 * s;
                }
            }),
        };
    }
    let (panel, group) = config.layout.gemm_shape();
    let mut t = Tile {
        x: x.as_ptr(),
        k,
        xw: core::ptr::null(),
        w: w.as_ptr(),
        pstride: k.next_multiple_of(group) * panel,
        bias: core::ptr::null(),
        mult: core::ptr::null(),
        res: core::ptr::null(),
        y: core::ptr::null_mut(),
        ldc: n,
        cols: 0,
        zp: 0,
        lo: 0,
        hi: 255,
        rzp: 0,
        rmult: 0.0,
    };
    let f32_out = matches!(dst, Dst::F32 { .. });
    match dst {
        Dst::Q { q, y } => {
            (t.bias, t.mult, t.y) = (q.bias.as_ptr(), q.mult.as_ptr(), y.as_mut_ptr());
            (t.zp, t.lo, t.hi) = (q.zp, q.lo, q.hi);
            if let Some(r) = q.residual {
                (t.res, t.rzp, t.rmult) = (r.x.as_ptr(), r.zp, r.mult);
            }
        }
        Dst::F32 { bias, scale, y } => (t.bias, t.mult, t.y) = (bias.as_ptr(), scale.as_ptr(), y.as_mut_ptr().cast()),
    }
    // SAFETY: the callers checked every length against `m`, `k`, `n` and the
    // packed layout of `isa`, which proves the CPU has its instructions.
    unsafe {
        match (config.kernels, f32_out) {
            #[cfg(target_arch = "x86_64")]
            (Int8Kernels::Avx2, false) => drive::<avx2::Avx2, false>(m, n, &t),
            #[cfg(target_arch = "x86_64")]
            (Int8Kernels::Avx2, true) => drive::<avx2::Avx2, true>(m, n, &t),
            #[cfg(target_arch = "x86_64")]
            (Int8Kernels::Avx512Vnni, false) => drive::<vnni::Vnni, false>(m, n, &t),
            #[cfg(target_arch = "x86_64")]
            (Int8Kernels::Avx512Vnni, true) => drive::<vnni::Vnni, true>(m, n, &t),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (Int8Kernels::Simd128, false) => drive::<simd128::Simd128, false>(m, n, &t),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (Int8Kernels::Simd128, true) => drive::<simd128::Simd128, true>(m, n, &t),
            _ => unreachable!("no such instruction set on this target"),
        }
    }
}

/// One micro-kernel call: `rows` rows from `x` by up to `NV` panels from
/// `w`, `cols` valid output columns from `bias`, `mult` and `y` on.
#[derive(Clone, Copy)]
pub(super) struct Tile {
    /// The tile's first input row; rows are `k` bytes apart.
    pub(super) x: *const u8,
    pub(super) k: usize,
    /// Null, or the tile's inputs already in the form the micro-kernel
    /// reads them (AVX2: i16 pairs, rows `k.div_ceil(2)` dwords apart), made
    /// once per band by [`Micro::stage`].
    pub(super) xw: *const i32,
    /// The tile's first panel; panels are `pstride` bytes apart.
    pub(super) w: *const i8,
    pub(super) pstride: usize,
    /// At the tile's first column.
    pub(super) bias: *const i32,
    /// Multipliers (or float scales), at the tile's first column.
    pub(super) mult: *const f32,
    /// Residual at the tile's first output, or null.
    pub(super) res: *const u8,
    /// The tile's first output (`f32` for float outputs); rows `ldc` apart.
    pub(super) y: *mut u8,
    pub(super) ldc: usize,
    /// Valid columns of the tile, `1..=NV * lanes`.
    pub(super) cols: usize,
    pub(super) zp: i32,
    pub(super) lo: i32,
    pub(super) hi: i32,
    pub(super) rzp: i32,
    pub(super) rmult: f32,
}

/// The micro-kernels of one instruction set: its row of the table
/// (`CONFIG`: panel width, tile rows per panel count, cache blocking) and
/// its tiles.
trait Micro {
    /// The kernel family's int8 row of the instruction-set table.
    const CONFIG: Int8Config;
    /// Channels per panel.
    const LANES: usize = Self::CONFIG.layout.gemm_shape().0;

    /// `count` tiles of `rows` (`1..=gemm_rows[nv - 1]`) rows and `nv`
    /// panels, one below the other from `t` (one call per column of tiles:
    /// the constants, masks and multipliers are set up once).
    ///
    /// # Safety
    /// The tiles' inputs, weights (`k` padded to the group), bias,
    /// multipliers, residual and outputs are in bounds; the CPU has the
    /// instructions.
    unsafe fn tile<const F32: bool>(rows: usize, nv: usize, t: &Tile, count: usize);

    /// Space for one band's staged inputs.
    type Stage;

    /// An uninitialized [`Micro::Stage`].
    fn stage_space() -> core::mem::MaybeUninit<Self::Stage>;

    /// The `rows` input rows from `x` (`k` bytes each, `k` apart) in the
    /// form the tiles read best, written once into `space` for every panel
    /// group of a band to read, or null where the tiles read `x` itself
    /// (see [`Tile::xw`]).
    ///
    /// # Safety
    /// The rows are in bounds; the CPU has the instructions.
    unsafe fn stage(x: *const u8, k: usize, rows: usize, space: &mut core::mem::MaybeUninit<Self::Stage>)
    -> *const i32;
}

/// `rows` as the const `MR` of `$f::<MR, NV, F32>` for each listed row
/// count (the tile heights of an instruction set's row, which its
/// `const` assert checks against the table).
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
macro_rules! by_rows {
    ($f:ident, $rows:expr, $nv:literal, $t:expr, $count:expr, [$($r:literal)*]) => {
        match $rows {
            $($r => $f::<$r, $nv, F32>($t, $count),)*
            _ => unreachable!("more rows than the tile has"),
        }
    };
}
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
use by_rows;

/// Row tiles per band when every panel stays in L1.
const BAND_TILES: usize = 8;

/// The GEMM driver: tiles of `mr` rows by `nv` panels (the table's
/// choice for the product's panels).
///
/// # Safety
/// As [`Micro::tile`] for the whole `m x n` product.
unsafe fn drive<M: Micro, const F32: bool>(m: usize, n: usize, t: &Tile) {
    let panels = n.div_ceil(M::LANES);
    let nv = M::CONFIG.panels_per_tile(panels);
    let mr = M::CONFIG.gemm_rows[nv - 1];
    let out_size = if F32 { 4 } else { 1 };
    let tile_at = |r: usize, p: usize, np: usize| {
        let c = p * M::LANES;
        let at = r * t.ldc + c;
        Tile {
            x: t.x.wrapping_add(r * t.k),
            w: t.w.wrapping_add(p * t.pstride),
            bias: t.bias.wrapping_add(c),
            mult: t.mult.wrapping_add(c),
            res: if t.res.is_null() { t.res } else { t.res.wrapping_add(at) },
            y: t.y.wrapping_add(at * out_size),
            cols: (np * M::LANES).min(n - c),
            ..*t
        }
    };
    let groups = panels.div_ceil(nv);
    let group = |i: usize| (i * nv, nv.min(panels - i * nv));
    // Blocks of rows: when all weights fit L1, bands of a few tiles (their
    // inputs and outputs stay in L1 while every panel group passes over
    // them); otherwise as many rows as keep their inputs in L2, so that each
    // weight is read from memory once per block.
    let banded = panels * t.pstride <= M::CONFIG.cache.q8_l1_weights;
    let mc = if banded {
        BAND_TILES * mr
    } else {
        let mc = (M::CONFIG.cache.q8_l2_rows / t.k.max(1) / mr).max(1) * mr;
        if m <= mc + mc / 4 { m } else { mc }
    };
    let mut space = M::stage_space();
    for (m0, mlen) in even(0, m, mc) {
        let xw = if banded {
            // SAFETY: the block's rows are within the product (the caller's contract).
            unsafe { M::stage(t.x.wrapping_add(m0 * t.k), t.k, mlen, &mut space) }
        } else {
            core::ptr::null()
        };
        let tile_at = |r: usize, p: usize, np: usize| {
            let mut tile = tile_at(r, p, np);
            if !xw.is_null() {
                tile.xw = xw.wrapping_add((r - m0) * t.k.div_ceil(2));
            }
            tile
        };
        // The block in the fewest tiles of at most `mr` rows, sized within
        // one of each other (no last tile of one row): `big` tiles of `s`
        // rows, then tiles of `s - 1`.
        let tiles = mlen.div_ceil(mr);
        let s = mlen.div_ceil(tiles);
        let big = mlen - tiles * (s - 1);
        for i in 0..groups {
            let (p, np) = group(i);
            // SAFETY: rows and panels within the product (the caller's contract).
            unsafe {
                M::tile::<F32>(s, np, &tile_at(m0, p, np), big);
                if tiles > big {
                    M::tile::<F32>(s - 1, np, &tile_at(m0 + big * s, p, np), tiles - big);
                }
            }
        }
    }
}

//! `y[p][c] = requant(bias[c] + sum_j x[p][j] * w[j][c])`: the pointwise
//! convolutions (most of a quantized MobileNet's work), the im2col'd stem
//! and the classifier.
//!
//! Weights are packed per instruction set:
//!
//! * portable: `[k][n]`, as given;
//! * AVX2: panels of 8 output channels, `[n / 8][k / 2][8][2]`: a pair of
//!   inputs and 8 channels' weights for them are 16 bytes, widened to i16
//!   and multiplied by the pair (broadcast, widened) with `vpmaddwd`;
//! * AVX-512 VNNI: panels of 16 channels, `[n / 16][k / 4][16][4]`: four
//!   inputs (one broadcast dword) and a 64-byte vector of weights make one
//!   `vpdpbusd` (64 exact multiply-adds into 16 i32).
//!
//! `k` and `n` are padded with zero weights to whole groups and panels.
//! The micro-kernels keep a tile of `MR` rows by `NV` panels of sums in
//! registers, reading the NHWC input rows in place (a pixel's channels are
//! contiguous), and requantize the tile as they store it.

use super::isa::{Kind, QIsa, QLayout};
use super::{Requant, even, requant_run};
use crate::exec::Exec;
use crate::kernels::par;

/// Channels per packed panel and inputs per group of `isa`.
const fn shape(isa: QLayout) -> (usize, usize) {
    match isa.0 {
        Kind::Portable => (1, 1),
        Kind::Avx2 => (8, 2),
        Kind::Avx512Vnni => (16, 4),
    }
}

/// Bytes of packed weights for `k` inputs and `n` outputs.
pub fn gemm_packed_len(isa: impl Into<QLayout>, k: usize, n: usize) -> usize {
    let isa = isa.into();
    let (panel, group) = shape(isa);
    k.next_multiple_of(group) * n.next_multiple_of(panel)
}

/// The `k` an im2col'd convolution should pad its rows to for `isa` (the
/// padding's weights are zero): a whole number of input groups, so that
/// the kernel reads no partial group.
pub fn im2col_kpad(isa: impl Into<QLayout>, k: usize) -> usize {
    k.next_multiple_of(shape(isa.into()).1)
}

/// Packs row-major `[k][n]` weights `w` for the GEMM kernels of `isa` into
/// `out[..gemm_packed_len(isa, k, n)]`.
///
/// # Panics
/// If a slice is too short.
pub fn pack_gemm(isa: impl Into<QLayout>, w: &[i8], k: usize, n: usize, out: &mut [i8]) {
    let isa = isa.into();
    let len = gemm_packed_len(isa, k, n);
    assert!(w.len() >= k * n && out.len() >= len, "slices too short");
    let (panel, group) = shape(isa);
    let kp = k.next_multiple_of(group);
    let out = &mut out[..len];
    if isa.0 == Kind::Portable {
        return out.copy_from_slice(&w[..len]);
    }
    out.fill(0);
    for j in 0..k {
        for c in 0..n {
            let (p, cc) = (c / panel, c % panel);
            let (g, e) = (j / group, j % group);
            out[((p * kp / group + g) * panel + cc) * group + e] = w[j * n + c];
        }
    }
}

/// Pointwise convolution (or any `[pixels][k] x [k][n]` product):
/// `y[p][c] = requant(bias[c] + sum_j x[p][j] * w[j][c])` with `out`,
/// whose residual (if any) is laid out like `y`. `w` is packed by
/// [`pack_gemm`] for the same `isa`; `bias` has the input's zero point
/// folded in (`-x_zp * sum_j w[j][c]`). Rows are split between the parts
/// of `e`; every output is computed the same way whatever the split.
///
/// # Panics
/// If a slice is too short, `k` or `n` is 0, or `out` is invalid.
#[allow(clippy::too_many_arguments)]
pub fn pointwise(
    e: &dyn Exec,
    isa: QIsa,
    pixels: usize,
    k: usize,
    n: usize,
    x: &[u8],
    w: &[i8],
    bias: &[i32],
    out: &Requant<'_>,
    y: &mut [u8],
) {
    check(isa, pixels, k, n, x, w, bias);
    assert!(y.len() >= pixels * n, "output too short");
    out.check(n, pixels * n);
    let (b, parts) = par::bounds(pixels, e.threads(), 1);
    par::run(e, &mut y[..pixels * n], &b, parts, n, &|part, y| {
        let rows = b[part]..b[part + 1];
        let x = &x[rows.start * k..rows.end * k];
        let q = out.from(rows.start * n);
        let dst = Dst::Q { q: &q, y };
        gemm(isa, rows.len(), k, n, x, w, bias, dst);
    });
}

/// [`pointwise`] with float outputs `y[p][c] = acc as f32 * scale[c]` (a
/// quantized classifier's logits), on the calling thread.
///
/// # Panics
/// If a slice is too short or `k` or `n` is 0.
#[allow(clippy::too_many_arguments)]
pub fn pointwise_f32(
    isa: QIsa,
    pixels: usize,
    k: usize,
    n: usize,
    x: &[u8],
    w: &[i8],
    bias: &[i32],
    scale: &[f32],
    y: &mut [f32],
) {
    check(isa, pixels, k, n, x, w, bias);
    assert!(y.len() >= pixels * n && scale.len() >= n, "output or scale too short");
    gemm(isa, pixels, k, n, x, w, bias, Dst::F32 { scale, y });
}

fn check(isa: QIsa, pixels: usize, k: usize, n: usize, x: &[u8], w: &[i8], bias: &[i32]) {
    assert!(k > 0 && n > 0, "empty product");
    assert!(x.len() >= pixels * k, "input too short");
    assert!(w.len() >= gemm_packed_len(isa, k, n) && bias.len() >= n, "weights or bias too short");
}

/// Where a GEMM's sums go.
enum Dst<'a, 'q> {
    /// Requantized to bytes (the residual starts at this GEMM's first row).
    Q { q: &'a Requant<'q>, y: &'a mut [u8] },
    /// Scaled to floats.
    F32 { scale: &'a [f32], y: &'a mut [f32] },
}

/// `m` rows; lengths checked by the callers.
#[allow(clippy::too_many_arguments)]
fn gemm(isa: QIsa, m: usize, k: usize, n: usize, x: &[u8], w: &[i8], bias: &[i32], dst: Dst<'_, '_>) {
    if m == 0 {
        return;
    }
    let kp = k.next_multiple_of(shape(isa.layout()).1);
    let mut t = Tile {
        x: x.as_ptr(),
        k,
        xw: core::ptr::null(),
        w: w.as_ptr(),
        pstride: kp * shape(isa.layout()).0,
        bias: bias.as_ptr(),
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
            if isa.0 == Kind::Portable {
                return portable(m, k, n, x, w, bias, |row, c0, acc| {
                    let at = row * n + c0;
                    requant_run(acc, q, c0, at, &mut y[at..at + acc.len()])
                });
            }
            t.mult = q.mult.as_ptr();
            t.y = y.as_mut_ptr();
            (t.zp, t.lo, t.hi) = (q.zp, q.lo, q.hi);
            if let Some(r) = q.residual {
                (t.res, t.rzp, t.rmult) = (r.x.as_ptr(), r.zp, r.mult);
            }
        }
        Dst::F32 { scale, y } => {
            if isa.0 == Kind::Portable {
                return portable(m, k, n, x, w, bias, |row, c0, acc| {
                    let at = row * n + c0;
                    for ((y, &a), &s) in y[at..at + acc.len()].iter_mut().zip(acc).zip(&scale[c0..]) {
                        *y = a as f32 * s;
                    }
                });
            }
            t.mult = scale.as_ptr();
            t.y = y.as_mut_ptr().cast();
        }
    }
    // SAFETY: the callers checked every length against `m`, `k`, `n` and the
    // packed layout of `isa`, which proves the CPU has its instructions.
    unsafe {
        match (isa.0, f32_out) {
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx2, false) => drive::<Avx2, false>(m, n, &t),
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx2, true) => drive::<Avx2, true>(m, n, &t),
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx512Vnni, false) => drive::<Vnni, false>(m, n, &t),
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx512Vnni, true) => drive::<Vnni, true>(m, n, &t),
            _ => unreachable!("no such instruction set on this target"),
        }
    }
}

/// Channels of sums the portable kernel keeps at once.
const CHUNK: usize = 64;

/// The portable GEMM on `[k][n]` weights: for each row and chunk of
/// channels, sums in a stack array (loops the compiler vectorizes), then
/// `store(row, first channel, sums)`.
#[allow(clippy::too_many_arguments)]
fn portable(
    m: usize,
    k: usize,
    n: usize,
    x: &[u8],
    w: &[i8],
    bias: &[i32],
    mut store: impl FnMut(usize, usize, &[i32]),
) {
    for row in 0..m {
        let xr = &x[row * k..(row + 1) * k];
        let mut c0 = 0;
        while c0 < n {
            let cw = CHUNK.min(n - c0);
            let mut acc = [0i32; CHUNK];
            let acc = &mut acc[..cw];
            acc.copy_from_slice(&bias[c0..c0 + cw]);
            for (j, &xv) in xr.iter().enumerate() {
                let xv = xv as i32;
                for (a, &wv) in acc.iter_mut().zip(&w[j * n + c0..j * n + c0 + cw]) {
                    *a += xv * wv as i32;
                }
            }
            store(row, c0, acc);
            c0 += cw;
        }
    }
}

/// One micro-kernel call: `rows` rows from `x` by up to `NV` panels from
/// `w`, `cols` valid output columns from `bias`, `mult` and `y` on.
#[derive(Clone, Copy)]
struct Tile {
    /// The tile's first input row; rows are `k` bytes apart.
    x: *const u8,
    k: usize,
    /// Null, or the tile's inputs already in the form the micro-kernel
    /// reads them (AVX2: i16 pairs, rows `k.div_ceil(2)` dwords apart), made
    /// once per band by [`Micro::stage`].
    xw: *const i32,
    /// The tile's first panel; panels are `pstride` bytes apart.
    w: *const i8,
    pstride: usize,
    /// At the tile's first column.
    bias: *const i32,
    /// Multipliers (or float scales), at the tile's first column.
    mult: *const f32,
    /// Residual at the tile's first output, or null.
    res: *const u8,
    /// The tile's first output (`f32` for float outputs); rows `ldc` apart.
    y: *mut u8,
    ldc: usize,
    /// Valid columns of the tile, `1..=NV * lanes`.
    cols: usize,
    zp: i32,
    lo: i32,
    hi: i32,
    rzp: i32,
    rmult: f32,
}

/// The micro-kernels of one instruction set.
trait Micro {
    /// Channels per panel.
    const LANES: usize;

    /// Rows of a tile of `nv` panels (as many as leave registers).
    fn mr(nv: usize) -> usize;

    /// Panels per tile for `panels` in all.
    fn nv(panels: usize) -> usize;

    /// `count` tiles of `rows` (`1..=mr(nv)`) rows and `nv` panels, one
    /// below the other from `t` (one call per column of tiles: the
    /// constants, masks and multipliers are set up once).
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

/// Bytes of packed weights up to which every panel stays in L1 and each
/// band of rows is finished across all panels before the next.
const L1_WEIGHTS: usize = 32 * 1024;

/// Bytes of input rows a block keeps in L2 while the panel groups pass over
/// it.
const L2_ROWS: usize = 256 * 1024;

/// Row tiles per band when every panel stays in L1.
const BAND_TILES: usize = 8;

/// The GEMM driver: tiles of `mr` rows by `nv` panels.
///
/// # Safety
/// As [`Micro::tile`] for the whole `m x n` product.
unsafe fn drive<M: Micro, const F32: bool>(m: usize, n: usize, t: &Tile) {
    let panels = n.div_ceil(M::LANES);
    let nv = M::nv(panels);
    let mr = M::mr(nv);
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
    let banded = panels * t.pstride <= L1_WEIGHTS;
    let mc = if banded {
        BAND_TILES * mr
    } else {
        let mc = (L2_ROWS / t.k.max(1) / mr).max(1) * mr;
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

#[cfg(target_arch = "x86_64")]
use x86::{Avx2, Vnni};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;
    use core::ptr::read_unaligned;

    use super::{Micro, Tile};
    use crate::kernels::q8::avx2::{Requantizer, load_f32, load_i32, load_u8, store_u8};
    use crate::kernels::q8::{MAGIC, MAGIC_BITS};

    /// `rows` as the const `MR` of `$f::<MR, NV, F32>` for each listed row
    /// count.
    macro_rules! by_rows {
        ($f:ident, $rows:expr, $nv:literal, $t:expr, $count:expr, [$($r:literal)*]) => {
            match $rows {
                $($r => $f::<$r, $nv, F32>($t, $count),)*
                _ => unreachable!("more rows than the tile has"),
            }
        };
    }

    /// The AVX-512 VNNI kernels.
    pub(super) struct Vnni;

    impl Micro for Vnni {
        const LANES: usize = 16;

        fn mr(nv: usize) -> usize {
            match nv {
                1 | 2 => 12,
                3 => 8,
                _ => 6,
            }
        }

        fn nv(panels: usize) -> usize {
            match panels {
                1..=4 => panels,
                _ if panels.is_multiple_of(4) => 4,
                _ if panels.is_multiple_of(3) => 3,
                _ if panels.is_multiple_of(2) => 2,
                _ => 4,
            }
        }

        #[inline(always)]
        unsafe fn tile<const F32: bool>(rows: usize, nv: usize, t: &Tile, count: usize) {
            // SAFETY: the caller's contract; each function's rows are at most its `mr`.
            unsafe {
                match nv {
                    1 => by_rows!(vnni, rows, 1, t, count, [1 2 3 4 5 6 7 8 9 10 11 12]),
                    2 => by_rows!(vnni, rows, 2, t, count, [1 2 3 4 5 6 7 8 9 10 11 12]),
                    3 => by_rows!(vnni, rows, 3, t, count, [1 2 3 4 5 6 7 8]),
                    _ => by_rows!(vnni, rows, 4, t, count, [1 2 3 4 5 6]),
                }
            }
        }

        /// `vpdpbusd` takes the bytes as they are.
        type Stage = ();

        fn stage_space() -> MaybeUninit<()> {
            MaybeUninit::uninit()
        }

        unsafe fn stage(_: *const u8, _: usize, _: usize, _: &mut MaybeUninit<()>) -> *const i32 {
            core::ptr::null()
        }
    }

    /// The first `n` of 16 lanes.
    #[inline(always)]
    fn mask16(n: usize) -> u16 {
        if n >= 16 { 0xFFFF } else { (1u16 << n) - 1 }
    }

    /// An `MR x NV` tile with `vpdpbusd`.
    ///
    /// # Safety
    /// As [`Micro::tile`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline(never)]
    unsafe fn vnni<const MR: usize, const NV: usize, const F32: bool>(t: &Tile, count: usize) {
        let mut t = *t;
        let out_size = if F32 { 4 } else { 1 };
        for _ in 0..count {
            // SAFETY: tile by tile, the caller's contract.
            unsafe { vnni_tile::<MR, NV, F32>(&t) };
            t.x = t.x.wrapping_add(MR * t.k);
            t.y = t.y.wrapping_add(MR * t.ldc * out_size);
            if !t.res.is_null() {
                t.res = t.res.wrapping_add(MR * t.ldc);
            }
        }
    }

    /// One tile of [`vnni`], inlined into it.
    ///
    /// # Safety
    /// As [`Micro::tile`] for one tile.
    #[inline(always)]
    unsafe fn vnni_tile<const MR: usize, const NV: usize, const F32: bool>(t: &Tile) {
        // SAFETY: every pointer stays within the tile's rows and panels (the caller's contract): full groups of
        // 4 inputs are read within a row's `k` bytes, the tail byte by byte; partial vectors are masked.
        unsafe {
            // Loops over rows and vectors are unrolled in source (`unroll12!`, constant indices) so that the
            // accumulators are promoted to registers: with iterator loops LLVM kept them on the stack.
            let masks: [u16; NV] = core::array::from_fn(|v| mask16(t.cols.saturating_sub(v * 16)));
            let mut acc = [[_mm512_setzero_si512(); NV]; MR];
            unroll12!(v, {
                if v < NV {
                    let b = _mm512_maskz_loadu_epi32(masks[v], t.bias.add(v * 16));
                    unroll12!(r, {
                        if r < MR {
                            acc[r][v] = b;
                        }
                    });
                }
            });
            let groups = t.k / 4;
            let mut w = t.w;
            let mut x = t.x;
            let mut wv = [_mm512_setzero_si512(); NV];
            for _ in 0..groups {
                unroll12!(v, {
                    if v < NV {
                        wv[v] = _mm512_loadu_si512(w.add(v * t.pstride).cast());
                    }
                });
                unroll12!(r, {
                    if r < MR {
                        let xb = _mm512_set1_epi32(read_unaligned(x.add(r * t.k).cast::<i32>()));
                        unroll12!(v, {
                            if v < NV {
                                acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xb, wv[v]);
                            }
                        });
                    }
                });
                w = w.add(64);
                x = x.add(4);
            }
            let tail = t.k % 4;
            if tail != 0 {
                unroll12!(v, {
                    if v < NV {
                        wv[v] = _mm512_loadu_si512(w.add(v * t.pstride).cast());
                    }
                });
                unroll12!(r, {
                    if r < MR {
                        let mut four = 0u32;
                        for e in 0..tail {
                            four |= (*x.add(r * t.k + e) as u32) << (8 * e);
                        }
                        let xb = _mm512_set1_epi32(four as i32);
                        unroll12!(v, {
                            if v < NV {
                                acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xb, wv[v]);
                            }
                        });
                    }
                });
            }
            if F32 {
                let y = t.y.cast::<f32>();
                unroll12!(v, {
                    if v < NV {
                        let s = _mm512_maskz_loadu_ps(masks[v], t.mult.add(v * 16));
                        unroll12!(r, {
                            if r < MR {
                                let f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), s);
                                _mm512_mask_storeu_ps(y.add(r * t.ldc + v * 16), masks[v], f);
                            }
                        });
                    }
                });
                return;
            }
            let lo = _mm512_set1_ps((t.lo - t.zp) as f32);
            let hi = _mm512_set1_ps((t.hi - t.zp) as f32);
            let magic = _mm512_set1_ps(MAGIC);
            let unbias = _mm512_set1_epi32(MAGIC_BITS - t.zp);
            let rzp = _mm512_set1_epi32(t.rzp);
            let rmult = _mm512_set1_ps(t.rmult);
            unroll12!(v, {
                if v < NV {
                    let m = _mm512_maskz_loadu_ps(masks[v], t.mult.add(v * 16));
                    unroll12!(r, {
                        if r < MR {
                            let at = r * t.ldc + v * 16;
                            let mut f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), m);
                            if !t.res.is_null() {
                                let rb = _mm_maskz_loadu_epi8(masks[v], t.res.add(at).cast());
                                let rv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(rb), rzp);
                                f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(rv), rmult));
                            }
                            let f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
                            let q = _mm512_sub_epi32(_mm512_castps_si512(_mm512_add_ps(f, magic)), unbias);
                            _mm512_mask_cvtepi32_storeu_epi8(t.y.add(at).cast(), masks[v], q);
                        }
                    });
                }
            });
        }
    }

    /// The AVX2 kernels.
    pub(super) struct Avx2;

    impl Micro for Avx2 {
        const LANES: usize = 8;

        fn mr(nv: usize) -> usize {
            if nv == 1 { 12 } else { 6 }
        }

        fn nv(panels: usize) -> usize {
            panels.min(2)
        }

        #[inline(always)]
        unsafe fn tile<const F32: bool>(rows: usize, nv: usize, t: &Tile, count: usize) {
            // SAFETY: the caller's contract; each function's rows are at most its `mr`.
            unsafe {
                match nv {
                    1 => by_rows!(avx2, rows, 1, t, count, [1 2 3 4 5 6 7 8 9 10 11 12]),
                    _ => by_rows!(avx2, rows, 2, t, count, [1 2 3 4 5 6]),
                }
            }
        }

        type Stage = [i16; STAGE];

        fn stage_space() -> MaybeUninit<[i16; STAGE]> {
            MaybeUninit::uninit()
        }

        /// A band whose rows fit [`STAGE`] is widened here once, not once
        /// per panel group and tile: an expansion (`k` = 16..64, `n` = 6k)
        /// has `n / 16` groups, and widening each pair as it was broadcast
        /// (five scalar and vector instructions per row and pair) cost as
        /// much as its multiply-adds.
        unsafe fn stage(x: *const u8, k: usize, rows: usize, space: &mut MaybeUninit<[i16; STAGE]>) -> *const i32 {
            let stride = k.next_multiple_of(2);
            if rows * stride > STAGE {
                return core::ptr::null();
            }
            let buf = space.as_mut_ptr().cast::<i16>();
            // SAFETY: the rows are in bounds (the caller's contract), `rows * stride <= STAGE` values are written;
            // `Avx2` exists only where the CPU has AVX2.
            unsafe { widen_rows(rows, x, k, 0, k, buf) };
            buf.cast_const().cast()
        }
    }

    /// i16 values of a band's staged inputs: 16 KB, which stays in L1 while
    /// the band's tiles read it.
    const STAGE: usize = 8 * 1024;

    /// [`widen`] as its own AVX2 function, for [`Avx2::stage`].
    ///
    /// # Safety
    /// As [`widen`].
    #[target_feature(enable = "avx2")]
    unsafe fn widen_rows(rows: usize, x: *const u8, k: usize, k0: usize, len: usize, buf: *mut i16) {
        // SAFETY: the caller's contract.
        unsafe { widen(rows, x, k, k0, len, buf) }
    }

    /// Inputs per row up to which a tile widens its inputs as it goes rather
    /// than through a buffer.
    const SMALL_K: usize = 64;

    /// Bytes of a row's inputs widened at a time (even: pairs do not straddle
    /// chunks).
    const KC: usize = 512;

    /// Rows `0..rows` of `k` bytes from `x` (rows `k` apart), bytes `k0..k0
    /// + len` of each, zero-extended to i16 into `buf` (rows
    /// `len.div_ceil(2)` pairs apart; an odd last pair's high half is zero).
    ///
    /// # Safety
    /// The rows' bytes are in bounds; `buf` is valid for writes of `rows *
    /// len.next_multiple_of(2)` values; the CPU has AVX2.
    #[inline(always)]
    unsafe fn widen(rows: usize, x: *const u8, k: usize, k0: usize, len: usize, buf: *mut i16) {
        let stride = len.next_multiple_of(2);
        // SAFETY: chunks of 16 and 8 bytes are read within a row's `len` bytes, the tail byte by byte;
        // writes stay within `rows * stride` values.
        unsafe {
            for r in 0..rows {
                let src = x.add(r * k + k0);
                let dst = buf.add(r * stride);
                let mut i = 0;
                while i + 16 <= len {
                    let v = _mm256_cvtepu8_epi16(_mm_loadu_si128(src.add(i).cast()));
                    _mm256_storeu_si256(dst.add(i).cast(), v);
                    i += 16;
                }
                if i + 8 <= len {
                    let v = _mm_cvtepu8_epi16(_mm_loadl_epi64(src.add(i).cast()));
                    _mm_storeu_si128(dst.add(i).cast(), v);
                    i += 8;
                }
                while i < len {
                    *dst.add(i) = *src.add(i) as i16;
                    i += 1;
                }
                if stride > len {
                    *dst.add(len) = 0;
                }
            }
        }
    }

    /// An `MR x NV` tile with `vpmaddwd` on inputs and weights widened to
    /// i16 (exact: no pair of products reaches the i32 range).
    ///
    /// # Safety
    /// As [`Micro::tile`].
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    unsafe fn avx2<const MR: usize, const NV: usize, const F32: bool>(t: &Tile, count: usize) {
        let mut t = *t;
        let out_size = if F32 { 4 } else { 1 };
        // Not zeroed: `widen` writes every value a tile reads (zeroing 12 KB per call cost up to a third of a
        // small-`k` GEMM, whose calls cover only a band of rows).
        let mut buf = core::mem::MaybeUninit::<[i16; 12 * KC]>::uninit();
        for _ in 0..count {
            // SAFETY: tile by tile, the caller's contract.
            unsafe { avx2_tile::<MR, NV, F32>(&t, buf.as_mut_ptr().cast::<i16>()) };
            t.x = t.x.wrapping_add(MR * t.k);
            if !t.xw.is_null() {
                t.xw = t.xw.wrapping_add(MR * t.k.div_ceil(2));
            }
            t.y = t.y.wrapping_add(MR * t.ldc * out_size);
            if !t.res.is_null() {
                t.res = t.res.wrapping_add(MR * t.ldc);
            }
        }
    }

    /// One pair of inputs into an `MR x NV` tile: `acc[r][v] += xb(r) *`
    /// the pair's weights of panel `v` (16 bytes at `w`, panels `pstride`
    /// apart), with `xb(r)` row `r`'s pair of inputs as i16 in every dword.
    ///
    /// # Safety
    /// The panels' 16 bytes at `w` are in bounds; `xb` reads within bounds;
    /// the CPU has AVX2.
    #[inline(always)]
    unsafe fn pair_step<const MR: usize, const NV: usize>(
        acc: &mut [[__m256i; NV]; MR],
        w: *const i8,
        pstride: usize,
        xb: impl Fn(usize) -> __m256i,
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            let mut wv = [_mm256_setzero_si256(); NV];
            unroll12!(v, {
                if v < NV {
                    wv[v] = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(v * pstride).cast()));
                }
            });
            unroll12!(r, {
                if r < MR {
                    let xb = xb(r);
                    unroll12!(v, {
                        if v < NV {
                            acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(xb, wv[v]));
                        }
                    });
                }
            });
        }
    }

    /// One tile of [`avx2`], inlined into it: chunks of `KC` inputs of its
    /// rows are widened to i16 pairs in `buf`, which the inner loop
    /// broadcasts from memory (a load, no shuffle) into `vpmaddwd`.
    ///
    /// # Safety
    /// As [`Micro::tile`] for one tile; `buf` is valid for reads and writes
    /// of `12 * KC` values.
    #[inline(always)]
    unsafe fn avx2_tile<const MR: usize, const NV: usize, const F32: bool>(t: &Tile, buf: *mut i16) {
        // SAFETY: every pointer stays within the tile's rows and panels (the caller's contract): inputs are
        // widened within each row's `k` bytes, weights read for the `k.div_ceil(2)` pairs packed (zero past
        // `k`); partial vectors are masked (`q8::avx2`).
        unsafe {
            let cols: [usize; NV] = core::array::from_fn(|v| t.cols.saturating_sub(v * 8).min(8));
            let mut acc = [[_mm256_setzero_si256(); NV]; MR];
            unroll12!(v, {
                if v < NV {
                    let b = load_i32(t.bias.add(v * 8), cols[v]);
                    unroll12!(r, {
                        if r < MR {
                            acc[r][v] = b;
                        }
                    });
                }
            });
            let mut w = t.w;
            let mut k0 = 0;
            if !t.xw.is_null() {
                // Inputs staged for the whole band.
                let pairs = t.k.div_ceil(2);
                let mut x = t.xw;
                for _ in 0..pairs {
                    pair_step(&mut acc, w, t.pstride, |r| _mm256_set1_epi32(*x.add(r * pairs)));
                    w = w.add(16);
                    x = x.add(1);
                }
                k0 = t.k;
            } else if t.k <= SMALL_K && t.k.is_multiple_of(2) {
                // Few inputs per row: each pair is widened in scalar registers as it is broadcast. Through `buf`,
                // every broadcast read a value just stored, and the tile's widening was a large part of its work.
                let mut x = t.x;
                for _ in 0..t.k / 2 {
                    pair_step(&mut acc, w, t.pstride, |r| {
                        let p = read_unaligned(x.add(r * t.k).cast::<u16>()) as u32;
                        _mm256_set1_epi32(((p & 0xFF) | (p & 0xFF00) << 8) as i32)
                    });
                    w = w.add(16);
                    x = x.add(2);
                }
                k0 = t.k;
            }
            while k0 < t.k {
                let len = KC.min(t.k - k0);
                widen(MR, t.x, t.k, k0, len, buf);
                let pairs = len.div_ceil(2);
                let mut x = buf.cast_const().cast::<i32>();
                for _ in 0..pairs {
                    pair_step(&mut acc, w, t.pstride, |r| _mm256_set1_epi32(*x.add(r * pairs)));
                    w = w.add(16);
                    x = x.add(1);
                }
                k0 += len;
            }
            if F32 {
                let y = t.y.cast::<f32>();
                for v in 0..NV {
                    let s = load_f32(t.mult.add(v * 8), cols[v]);
                    for (r, row) in acc.iter().enumerate() {
                        let f = _mm256_mul_ps(_mm256_cvtepi32_ps(row[v]), s);
                        let dst = y.add(r * t.ldc + v * 8);
                        if cols[v] == 8 {
                            _mm256_storeu_ps(dst, f);
                        } else {
                            let mut tmp = [0f32; 8];
                            _mm256_storeu_ps(tmp.as_mut_ptr(), f);
                            core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols[v]);
                        }
                    }
                }
                return;
            }
            let rq = Requantizer::new(t.zp, t.lo, t.hi, t.rzp, t.rmult);
            let m: [__m256; NV] = core::array::from_fn(|v| load_f32(t.mult.add(v * 8), cols[v]));
            let width = cols.iter().sum::<usize>();
            unroll12!(r, {
                if r < MR {
                    let row = t.y.add(r * t.ldc);
                    let mut q = [_mm256_setzero_si256(); NV];
                    unroll12!(v, {
                        if v < NV {
                            let res = (!t.res.is_null()).then(|| load_u8(t.res.add(r * t.ldc + v * 8), cols[v]));
                            q[v] = rq.scale(acc[r][v], m[v], res);
                        }
                    });
                    let b = rq.pack(q[0], q[NV - 1]);
                    if width == 16 {
                        _mm_storeu_si128(row.cast(), b);
                    } else {
                        store_u8(row, b, cols[0]);
                        if NV == 2 && cols[1] > 0 {
                            store_u8(row.add(8), _mm_unpackhi_epi64(b, b), cols[1]);
                        }
                    }
                }
            });
        }
    }
}

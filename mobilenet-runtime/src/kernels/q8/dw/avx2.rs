//! The AVX2 depthwise kernels: 3x3 kernels on blocks of 8 channels with
//! rows 0 and 1 interleaved into i16 pairs for `vpmaddwd`, and the general
//! vector kernel ([`super::lanes`]) on 8 lanes.

use core::arch::x86_64::*;

use super::lanes::{Consts, Lanes, sizes};
use super::{Job, Rows};
use crate::kernels::isa::INT8_AVX2;
use crate::kernels::par::even;
use crate::kernels::q8::x86::{Requantizer, load_f32, load_i32, load_u8, store_u8};
use crate::kernels::window::input_rows;

/// 3x3 kernels on AVX2, horizontal stride `S`, on the `blocks` of 8
/// channels, `NB` (1 or 2) at a time: an input column's rows
/// 0 and 1 are interleaved into i16 pairs and its row 2 widened to
/// dwords once, and shared by the (up to 3) output pixels whose windows
/// hold the column; each `vpmaddwd` then sums two rows' taps of 8
/// channels (a window takes 6, where the general path takes 9 and
/// widens each of its 9 inputs per output). Two blocks at a time read
/// each row's 16 bytes with one load and requantize the pair with one
/// packing and store. A column outside the image, and a row outside it,
/// read `zp`.
///
/// # Safety
/// As [`run`]; `g` is 3x3, `blocks.end <= c / 8`, `blocks.len()` a multiple of `NB`, `w`
/// holds the weights of [`super::tap_packed_len`]; the CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn taps3_avx2<const S: usize, const NB: usize>(
    job: &Job<'_, '_>,
    blocks: core::ops::Range<usize>,
    rows: Rows,
    y: &mut [u8],
) {
    let Job { g, x, w, q } = *job;
    let (zp, bias) = (q.x_zp, q.bias);
    const { assert!(NB == 1 || NB == 2, "one or two blocks at a time") };
    let c = g.cin;
    let base = c.next_multiple_of(8) * 10;
    let res = q.residual.map_or(core::ptr::null(), |r| r.x.as_ptr());
    let (xp, wp, mp, yp) = (x.as_ptr(), w.as_ptr(), q.mult.as_ptr(), y.as_mut_ptr());
    let first = rows.start;
    // SAFETY: inputs are read at pixels inside the image, `8 * NB` channels of whole blocks below `c`;
    // weights within the blocks `pack_depthwise` writes (`c / 8` of them, and the sums of the first layout);
    // bias, multipliers, outputs and residual at those channels of the pixels of `rows`: all within the
    // lengths `depthwise` checked.
    unsafe {
        let (rzp, rmult) = q.residual_params();
        let rq = Requantizer::new(q.zp, q.lo, q.hi, rzp, rmult);
        let zpb = _mm_set1_epi8(zp as u8 as i8);
        let zcol = [_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(zpb, zpb)), _mm256_cvtepu8_epi32(zpb)];
        let zcols = [zcol; NB];
        let zpv = _mm256_set1_epi32(zp);
        for oy in rows {
            let rowp = input_rows::<u8, 3>(g, xp, oy, 3);
            let out_row = (oy - first) * g.ow * c;
            // Spans of outputs whose input columns (3 rows of all channels) stay in L1 while every block
            // passes over them: one sweep of a whole row per block read 56x56x96 from L2 eight times.
            let span = (INT8_AVX2.cache.q8_dw_l1_span / (3 * S * c)).max(8);
            for (ox0, oxs) in even(0, g.ow, span) {
                for blk in blocks.clone().step_by(NB) {
                    let c0 = blk * 8;
                    let wv: [[[__m256i; 2]; 3]; NB] = core::array::from_fn(|b| {
                        let wb = wp.add(base + (blk + b) * 48);
                        core::array::from_fn(|kx| {
                            core::array::from_fn(|h| _mm256_loadu_si256(wb.add((kx * 2 + h) * 8).cast()))
                        })
                    });
                    let b0: [__m256i; NB] = core::array::from_fn(|b| {
                        let sums = _mm256_loadu_si256(wp.add(((blk + b) * 10 + 9) * 8).cast());
                        _mm256_sub_epi32(
                            _mm256_loadu_si256(bias.as_ptr().add(c0 + b * 8).cast()),
                            _mm256_mullo_epi32(zpv, sums),
                        )
                    });
                    let mult: [__m256; NB] = core::array::from_fn(|b| _mm256_loadu_ps(mp.add(c0 + b * 8)));
                    // Row `r`'s bytes of the blocks at column `ix` (the low 8 for one block).
                    let row = |r: *const u8, ix: usize| {
                        if r.is_null() {
                            zpb
                        } else if NB == 2 {
                            _mm_loadu_si128(r.add(ix * c + c0).cast())
                        } else {
                            _mm_loadl_epi64(r.add(ix * c + c0).cast())
                        }
                    };
                    let col = |ix: isize| {
                        if ix < 0 || ix as usize >= g.w {
                            zcols
                        } else {
                            let ix = ix as usize;
                            let (r0, r1, r2) = (row(rowp[0], ix), row(rowp[1], ix), row(rowp[2], ix));
                            let mut v =
                                [[_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(r0, r1)), _mm256_cvtepu8_epi32(r2)]; NB];
                            if NB == 2 {
                                v[NB - 1] = [
                                    _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(r0, r1)),
                                    _mm256_cvtepu8_epi32(_mm_srli_si128::<8>(r2)),
                                ];
                            }
                            v
                        }
                    };
                    let mut ix = (ox0 * S) as isize - g.pad_left as isize;
                    let (mut v0, mut v1, mut v2) = (col(ix), col(ix + 1), col(ix + 2));
                    for ox in ox0..ox0 + oxs {
                        if ox > ox0 {
                            ix += S as isize;
                            if S == 1 {
                                (v0, v1, v2) = (v1, v2, col(ix + 2));
                            } else {
                                (v0, v1, v2) = (v2, col(ix + 1), col(ix + 2));
                            }
                        }
                        let at = out_row + ox * c + c0;
                        let mut out = [_mm256_setzero_si256(); NB];
                        for b in 0..NB {
                            let mut acc = b0[b];
                            for (v, wk) in [v0[b], v1[b], v2[b]].iter().zip(&wv[b]) {
                                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v[0], wk[0]));
                                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v[1], wk[1]));
                            }
                            let r = (!res.is_null()).then(|| _mm_loadl_epi64(res.add(at + b * 8).cast()));
                            out[b] = rq.scale(acc, mult[b], r);
                        }
                        let bytes = rq.pack(out[0], out[NB - 1]);
                        if NB == 2 {
                            _mm_storeu_si128(yp.add(at).cast(), bytes);
                        } else {
                            _mm_storel_epi64(yp.add(at).cast(), bytes);
                        }
                    }
                }
            }
        }
    }
}

/// [`taps3_avx2`] on blocks `0..blocks`: two at a time, then an odd
/// last one alone.
///
/// # Safety
/// As [`taps3_avx2`].
#[target_feature(enable = "avx2")]
unsafe fn taps3_avx2_blocks<const S: usize>(job: &Job<'_, '_>, blocks: usize, rows: Rows, y: &mut [u8]) {
    let pairs = blocks / 2 * 2;
    // SAFETY: the caller's contract; `0..pairs` has an even length.
    unsafe {
        taps3_avx2::<S, 2>(job, 0..pairs, rows.clone(), y);
        if pairs < blocks {
            taps3_avx2::<S, 1>(job, pairs..blocks, rows, y);
        }
    }
}

/// The AVX2 kernel.
///
/// # Safety
/// As [`run`]; the CPU has AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn run(job: &Job<'_, '_>, rows: Rows, y: &mut [u8]) {
    let Job { g, .. } = *job;
    // SAFETY: the caller's contract; this function's features are the vector type's.
    unsafe {
        // Whole blocks of 8 channels in the 3x3 kernel, then the channels of no whole block.
        let blocks = if g.kh == 3 && g.kw == 3 { g.cin / 8 } else { 0 };
        match g.sw {
            1 if blocks > 0 => taps3_avx2_blocks::<1>(job, blocks, rows.clone(), y),
            2 if blocks > 0 => taps3_avx2_blocks::<2>(job, blocks, rows.clone(), y),
            _ => return sizes::<__m256i>(job, 0, rows, y),
        }
        if blocks * 8 < g.cin {
            sizes::<__m256i>(job, blocks, rows, y);
        }
    }
}

// SAFETY (of every method): callers pass pointers valid for the lanes
// they name and run with AVX2 (partial vectors: see `q8::avx2`).
impl Lanes for __m256i {
    const L: usize = 8;
    #[inline(always)]
    unsafe fn splat(v: i32) -> Self {
        // SAFETY: callers run with AVX2 (the trait's contract).
        unsafe { _mm256_set1_epi32(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> Self {
        // SAFETY: 8 lanes at `p` (the caller's contract).
        unsafe { _mm256_loadu_si256(p.cast()) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const i32, cols: usize) -> Self {
        // SAFETY: `cols` lanes at `p`.
        unsafe { load_i32(p, cols) }
    }
    #[inline(always)]
    unsafe fn load_x(p: *const u8, cols: usize) -> Self {
        // SAFETY: `cols` bytes at `p`.
        unsafe { _mm256_cvtepu8_epi32(load_u8(p, cols)) }
    }
    #[inline(always)]
    unsafe fn madd(acc: Self, x: Self, w: Self) -> Self {
        // SAFETY: callers run with AVX2 (the trait's contract).
        unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)) }
    }
    #[inline(always)]
    unsafe fn fold(b: Self, zp: Self, s: Self) -> Self {
        // SAFETY: callers run with AVX2 (the trait's contract).
        unsafe { _mm256_sub_epi32(b, _mm256_mullo_epi32(zp, s)) }
    }
    #[inline(always)]
    unsafe fn store(acc: Self, mult: *const f32, res: *const u8, k: &Consts, y: *mut u8, cols: usize) {
        // SAFETY: `cols` lanes at `mult`, `res` and `y`.
        unsafe {
            let rq = Requantizer::new(k.zp, k.lo, k.hi, k.rzp, k.rmult);
            let res = (!res.is_null()).then(|| load_u8(res, cols));
            let q = rq.scale(acc, load_f32(mult, cols), res);
            store_u8(y, rq.pack(q, q), cols);
        }
    }
}

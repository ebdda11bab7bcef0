//! The AVX2 int8 GEMM micro-kernel: u8 inputs and i8 weights widened to
//! i16, `vpmaddwd` (exact: no pair of products reaches the i32 range) into
//! i32, never the saturating `vpmaddubsw`.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;
use core::ptr::read_unaligned;

use super::{Micro, Tile, by_rows};
use crate::kernels::isa::{INT8_AVX2, Int8Config};
use crate::kernels::q8::x86::{Requantizer, load_f32, load_i32, load_u8, store_u8};

/// The AVX2 kernels.
pub(super) struct Avx2;

impl Micro for Avx2 {
    const CONFIG: Int8Config = INT8_AVX2;

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

// The tile heights listed in `tile` are the table's.
const _: () = assert!(INT8_AVX2.gemm_rows[0] == 12 && INT8_AVX2.gemm_rows[1] == 6 && INT8_AVX2.gemm_rows[2] == 0);

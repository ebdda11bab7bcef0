//! AVX2 helpers shared by the int8 GEMM and depthwise kernels: loads and
//! stores of up to 8 lanes, and the vector requantizer.
//!
//! A partial vector (the last block of channels) cannot be read with a
//! plain vector load without reading past the slice. The 32-bit lanes use
//! `vpmaskmov`, which does not touch masked-off lanes; bytes have no masked
//! load in AVX2 and go through a stack copy. Full vectors are always read
//! directly: a vector load of values just stored one by one to the stack
//! cannot be forwarded from the stores and waits for them to reach the
//! cache (this cost the depthwise kernel a stall per pixel, and the GEMM
//! four per tile).

use core::arch::x86_64::*;

use crate::kernels::x86::mask8 as mask;

/// `n` (`1..=8`) i32 from `p`, the other lanes zero.
///
/// # Safety
/// `p` is valid for reads of `min(n, 8)` values; the CPU has AVX2.
#[inline(always)]
pub(in crate::kernels::q8) unsafe fn load_i32(p: *const i32, n: usize) -> __m256i {
    // SAFETY: the caller's contract; masked-off lanes are not read.
    unsafe { if n >= 8 { _mm256_loadu_si256(p.cast()) } else { _mm256_maskload_epi32(p, mask(n)) } }
}

/// `n` (`1..=8`) f32 from `p`, the other lanes zero.
///
/// # Safety
/// As [`load_i32`].
#[inline(always)]
pub(in crate::kernels::q8) unsafe fn load_f32(p: *const f32, n: usize) -> __m256 {
    // SAFETY: the caller's contract; masked-off lanes are not read.
    unsafe { if n >= 8 { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, mask(n)) } }
}

/// `n` (`1..=8`) bytes from `p` in the low 8 bytes, the others zero.
///
/// # Safety
/// `p` is valid for reads of `min(n, 8)` bytes; the CPU has AVX2.
#[inline(always)]
pub(in crate::kernels::q8) unsafe fn load_u8(p: *const u8, n: usize) -> __m128i {
    // SAFETY: the caller's contract: 8 bytes, or `n` copied one by one.
    unsafe {
        if n >= 8 {
            _mm_loadl_epi64(p.cast())
        } else {
            let mut a = [0u8; 16];
            core::ptr::copy_nonoverlapping(p, a.as_mut_ptr(), n);
            _mm_loadu_si128(a.as_ptr().cast())
        }
    }
}

/// Stores the low `n` (`1..=8`) bytes of `v` at `p`.
///
/// # Safety
/// `p` is valid for writes of `min(n, 8)` bytes; the CPU has AVX2.
#[inline(always)]
pub(in crate::kernels::q8) unsafe fn store_u8(p: *mut u8, v: __m128i, n: usize) {
    // SAFETY: the caller's contract: 8 bytes, or `n` copied one by one.
    unsafe {
        if n >= 8 {
            _mm_storel_epi64(p.cast(), v);
        } else {
            let mut a = [0u8; 16];
            _mm_storeu_si128(a.as_mut_ptr().cast(), v);
            core::ptr::copy_nonoverlapping(a.as_ptr(), p, n);
        }
    }
}

/// The requantization of [`super::requant_scalar`] on 8 or 16 outputs at a
/// time, rearranged to fewer instructions with the same bits: only the upper
/// clamp is done on floats (so that `vcvtps2dq` cannot overflow to a large
/// positive value), then rounding (ties to even, as the definition's
/// magic-number add), the zero point added with i16 saturation, and the
/// lower clamp by saturating to bytes and `vpmaxub`. A value below the
/// lower bound stays below it through each saturation; in range, every step
/// is exact. Two vectors share the packing (one 16-byte store), which is
/// why the kernels requantize in pairs where they can.
#[derive(Clone, Copy)]
pub(in crate::kernels::q8) struct Requantizer {
    hi: __m256,
    zp: __m256i,
    lo8: __m128i,
    hi8: __m128i,
    rzp: __m256i,
    rmult: __m256,
    /// Dwords 0 and 4 (each lane's first) then 1 and 5: the bytes of
    /// `vpackuswb` on two packed vectors in output order.
    order: __m256i,
}

impl Requantizer {
    /// For output zero point `zp`, bounds `lo..=hi` (within `0..=255`, as
    /// `Requant::check` asserts) and a residual's `rzp` and `rmult`.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[inline(always)]
    pub(in crate::kernels::q8) unsafe fn new(zp: i32, lo: i32, hi: i32, rzp: i32, rmult: f32) -> Requantizer {
        // SAFETY: the caller's contract; register-only instructions.
        unsafe {
            Requantizer {
                hi: _mm256_set1_ps((hi - zp) as f32),
                zp: _mm256_set1_epi16(zp as i16),
                lo8: _mm_set1_epi8(lo as u8 as i8),
                hi8: _mm_set1_epi8(hi as u8 as i8),
                rzp: _mm256_set1_epi32(rzp),
                rmult: _mm256_set1_ps(rmult),
                order: _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
            }
        }
    }

    /// `acc * mult` plus the residual bytes `res` (the low 8, if given),
    /// clamped above and rounded: the output before its zero point.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[inline(always)]
    pub(in crate::kernels::q8) unsafe fn scale(&self, acc: __m256i, mult: __m256, res: Option<__m128i>) -> __m256i {
        // SAFETY: the caller's contract; register-only instructions.
        unsafe {
            let mut f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
            if let Some(rb) = res {
                let rv = _mm256_sub_epi32(_mm256_cvtepu8_epi32(rb), self.rzp);
                f = _mm256_add_ps(f, _mm256_mul_ps(_mm256_cvtepi32_ps(rv), self.rmult));
            }
            _mm256_cvtps_epi32(_mm256_min_ps(f, self.hi))
        }
    }

    /// The bytes of two [`Requantizer::scale`]d vectors, `a`'s 8 then `b`'s
    /// 8 (pass `a` twice for one).
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[inline(always)]
    pub(in crate::kernels::q8) unsafe fn pack(&self, a: __m256i, b: __m256i) -> __m128i {
        // SAFETY: the caller's contract; register-only instructions.
        unsafe {
            let w = _mm256_adds_epi16(_mm256_packs_epi32(a, b), self.zp);
            let b = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w, w), self.order);
            _mm_min_epu8(_mm_max_epu8(_mm256_castsi256_si128(b), self.lo8), self.hi8)
        }
    }
}

//! Loads of up to 8 lanes shared by the AVX2 int8 kernels.
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

/// `vpmaskmov` masks for the first `n` of 8 lanes, at `MASKS[8 - n..]`.
static MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// The mask of the first `n` (`n <= 8`) lanes.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
unsafe fn mask(n: usize) -> __m256i {
    // SAFETY: `8 - min(n, 8) + 8 <= 16` values of `MASKS`.
    unsafe { _mm256_loadu_si256(MASKS.as_ptr().add(8 - n.min(8)).cast()) }
}

/// `n` (`1..=8`) i32 from `p`, the other lanes zero.
///
/// # Safety
/// `p` is valid for reads of `min(n, 8)` values; the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn load_i32(p: *const i32, n: usize) -> __m256i {
    // SAFETY: the caller's contract; masked-off lanes are not read.
    unsafe { if n >= 8 { _mm256_loadu_si256(p.cast()) } else { _mm256_maskload_epi32(p, mask(n)) } }
}

/// `n` (`1..=8`) f32 from `p`, the other lanes zero.
///
/// # Safety
/// As [`load_i32`].
#[inline(always)]
pub(super) unsafe fn load_f32(p: *const f32, n: usize) -> __m256 {
    // SAFETY: the caller's contract; masked-off lanes are not read.
    unsafe { if n >= 8 { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, mask(n)) } }
}

/// `n` (`1..=8`) bytes from `p` in the low 8 bytes, the others zero.
///
/// # Safety
/// `p` is valid for reads of `min(n, 8)` bytes; the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn load_u8(p: *const u8, n: usize) -> __m128i {
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
pub(super) unsafe fn store_u8(p: *mut u8, v: __m128i, n: usize) {
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

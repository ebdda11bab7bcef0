//! x86-64 helpers shared by the kernels of both precisions: lane masks for
//! partial vectors (the last block of channels).

use core::arch::x86_64::*;

/// `vpmaskmov` / `vmaskmovps` masks for the first `n` of 8 lanes, at `MASKS[8 - n..]`.
static MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// The AVX2 mask of the first `n` (at most 8; more means 8) of 8 32-bit lanes.
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
pub(crate) unsafe fn mask8(n: usize) -> __m256i {
    // SAFETY: `8 - min(n, 8) + 8 <= 16` values of `MASKS`; the caller's contract for the instruction.
    unsafe { _mm256_loadu_si256(MASKS.as_ptr().add(8 - n.min(8)).cast()) }
}

/// The AVX-512 mask of the first `n` (at most 16; more means 16) of 16 lanes.
#[inline(always)]
pub(crate) fn mask16(n: usize) -> __mmask16 {
    if n >= 16 { 0xFFFF } else { (1u16 << n) - 1 }
}

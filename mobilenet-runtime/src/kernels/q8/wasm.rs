//! WebAssembly SIMD128 helpers shared by the int8 GEMM and depthwise
//! kernels: loads and stores of up to 4 lanes, and the requantization of
//! [`super::requant_scalar`] on 4 outputs, operation for operation.

use core::arch::wasm32::*;

/// `n` (at most 4; more means 4) values of 4 bytes from `p`, the rest zero.
///
/// # Safety
/// `p` is valid for reads of `min(n, 4)` values.
#[inline(always)]
pub(in crate::kernels::q8) unsafe fn load4<T: Copy>(p: *const T, n: usize) -> v128 {
    const { assert!(core::mem::size_of::<T>() == 4) };
    // SAFETY: the caller's contract: 4 values, or `n` copied one by one.
    unsafe {
        if n >= 4 {
            v128_load(p.cast())
        } else {
            let mut a = [0u32; 4];
            core::ptr::copy_nonoverlapping(p.cast::<u32>(), a.as_mut_ptr(), n);
            v128_load(a.as_ptr().cast())
        }
    }
}

/// `n` (at most 8; more means 8) bytes from `p`, zero-extended to 8 i32 in
/// two vectors, the rest zero.
///
/// # Safety
/// `p` is valid for reads of `min(n, 8)` bytes.
#[inline(always)]
pub(in crate::kernels::q8) unsafe fn load8_u8(p: *const u8, n: usize) -> (v128, v128) {
    // SAFETY: the caller's contract: 8 bytes, or `n` copied one by one.
    let v = unsafe {
        if n >= 8 {
            v128_load64_zero(p.cast())
        } else {
            let mut a = [0u8; 16];
            core::ptr::copy_nonoverlapping(p, a.as_mut_ptr(), n);
            v128_load(a.as_ptr().cast())
        }
    };
    let w = u16x8_extend_low_u8x16(v);
    (u32x4_extend_low_u16x8(w), u32x4_extend_high_u16x8(w))
}

/// Stores the first `n` (at most 16) bytes of `v` at `p`.
///
/// # Safety
/// `p` is valid for writes of `n` bytes.
#[inline(always)]
pub(in crate::kernels::q8) unsafe fn store_bytes(p: *mut u8, v: v128, n: usize) {
    let mut a = [0u8; 16];
    // SAFETY: `a` holds 16 bytes; the caller's contract for `p`.
    unsafe {
        v128_store(a.as_mut_ptr().cast(), v);
        core::ptr::copy_nonoverlapping(a.as_ptr(), p, n.min(16));
    }
}

/// The scalars of a requantization, as vectors.
#[derive(Clone, Copy)]
pub(in crate::kernels::q8) struct Requantizer {
    lo: v128,
    hi: v128,
    zp: v128,
    rzp: v128,
    rmult: v128,
}

impl Requantizer {
    #[inline(always)]
    pub(in crate::kernels::q8) fn new(zp: i32, lo: i32, hi: i32, rzp: i32, rmult: f32) -> Requantizer {
        Requantizer {
            lo: f32x4_splat((lo - zp) as f32),
            hi: f32x4_splat((hi - zp) as f32),
            zp: i32x4_splat(zp),
            rzp: i32x4_splat(rzp),
            rmult: f32x4_splat(rmult),
        }
    }

    /// `requant_scalar` of 4 sums with multipliers `mult` and, if given,
    /// the residual bytes `res` (zero-extended to i32): `acc * mult`, then
    /// `+ (r - r_zp) * r_mult` (a multiply, then an add), clamped, rounded
    /// to nearest even (`f32x4.nearest`: the magic-number add of the
    /// definition, for these magnitudes), plus the zero point: i32 in
    /// `lo..=hi`.
    #[inline(always)]
    pub(in crate::kernels::q8) fn apply(&self, acc: v128, mult: v128, res: Option<v128>) -> v128 {
        let mut f = f32x4_mul(f32x4_convert_i32x4(acc), mult);
        if let Some(r) = res {
            f = f32x4_add(f, f32x4_mul(f32x4_convert_i32x4(i32x4_sub(r, self.rzp)), self.rmult));
        }
        // `f.max(lo).min(hi)` of the definition (no NaN can arise here).
        let f = f32x4_pmin(self.hi, f32x4_pmax(self.lo, f));
        i32x4_add(i32x4_trunc_sat_f32x4(f32x4_nearest(f)), self.zp)
    }
}

/// Bytes of 16 values in `0..=255` held as 4 vectors of i32 (exact: the
/// saturating narrowings do not saturate).
#[inline(always)]
pub(in crate::kernels::q8) fn pack_bytes(a: v128, b: v128, c: v128, d: v128) -> v128 {
    u8x16_narrow_i16x8(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d))
}

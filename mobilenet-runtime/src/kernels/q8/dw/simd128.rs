//! The WebAssembly SIMD128 depthwise kernel: the generic vector kernel
//! ([`super::lanes`]) on 8 channels held in two `v128`s (the
//! [`Pairs8`](mobilenet_layout::q8pack::QLayout) layout's blocks), each
//! multiply-add an `i32x4.dot_i16x8_s` of values in the low 16 bits.

use core::arch::wasm32::*;

use super::lanes::{Consts, Lanes, sizes};
use super::{Job, Rows};
use crate::kernels::q8::wasm::{Requantizer, load4, load8_u8, pack_bytes, store_bytes};

/// 8 i32 lanes, one per channel of a block.
#[derive(Clone, Copy)]
pub(super) struct Lanes8([v128; 2]);

/// Output rows `rows` of the depthwise conv of `job`.
///
/// # Safety
/// As [`super::lanes`]' kernel: the lengths `depthwise` checks; `y` and the
/// residual start at row `rows.start`.
pub(super) unsafe fn run(job: &Job<'_, '_>, rows: Rows, y: &mut [u8]) {
    // SAFETY: the caller's contract; SIMD128 is enabled for the whole build.
    unsafe { sizes::<Lanes8>(job, 0, rows, y) }
}

// SAFETY (of every method): callers pass pointers valid for the lanes they
// name; SIMD128 is enabled for the whole build.
impl Lanes for Lanes8 {
    const L: usize = 8;
    #[inline(always)]
    unsafe fn splat(v: i32) -> Self {
        Lanes8([i32x4_splat(v); 2])
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> Self {
        // SAFETY: 8 lanes at `p` (the caller's contract).
        unsafe { Lanes8([v128_load(p.cast()), v128_load(p.add(4).cast())]) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const i32, cols: usize) -> Self {
        // SAFETY: `cols` lanes at `p`.
        unsafe { Lanes8([load4(p, cols), load4(p.add(4), cols.saturating_sub(4))]) }
    }
    #[inline(always)]
    unsafe fn load_x(p: *const u8, cols: usize) -> Self {
        // SAFETY: `cols` bytes at `p`.
        let (a, b) = unsafe { load8_u8(p, cols) };
        Lanes8([a, b])
    }
    #[inline(always)]
    unsafe fn madd(acc: Self, x: Self, w: Self) -> Self {
        Lanes8([
            i32x4_add(acc.0[0], i32x4_dot_i16x8(x.0[0], w.0[0])),
            i32x4_add(acc.0[1], i32x4_dot_i16x8(x.0[1], w.0[1])),
        ])
    }
    #[inline(always)]
    unsafe fn fold(b: Self, zp: Self, s: Self) -> Self {
        Lanes8([i32x4_sub(b.0[0], i32x4_mul(zp.0[0], s.0[0])), i32x4_sub(b.0[1], i32x4_mul(zp.0[1], s.0[1]))])
    }
    #[inline(always)]
    unsafe fn store(acc: Self, mult: *const f32, res: *const u8, k: &Consts, y: *mut u8, cols: usize) {
        // SAFETY: `cols` lanes at `mult`, `res` and `y`.
        unsafe {
            let rq = Requantizer::new(k.zp, k.lo, k.hi, k.rzp, k.rmult);
            let res = (!res.is_null()).then(|| load8_u8(res, cols));
            let q0 = rq.apply(acc.0[0], load4(mult, cols), res.map(|r| r.0));
            let q1 = rq.apply(acc.0[1], load4(mult.add(4), cols.saturating_sub(4)), res.map(|r| r.1));
            let bytes = pack_bytes(q0, q1, q0, q1);
            if cols >= 8 {
                v128_store64_lane::<0>(bytes, y.cast());
            } else {
                store_bytes(y, bytes, cols);
            }
        }
    }
}

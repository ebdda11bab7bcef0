//! The WebAssembly SIMD128 int8 GEMM micro-kernel: u8 inputs and i8
//! weights widened to i16, `i32x4.dot_i16x8_s` (a pair of products summed
//! exactly into i32, as x86's `vpmaddwd`), on the
//! [`Pairs8`](mobilenet_layout::q8pack::QLayout) layout: a panel's 16 bytes
//! per pair of inputs are 8 channels' two weights.

use core::arch::wasm32::*;
use core::mem::MaybeUninit;

use super::{Micro, Tile, by_rows};
use crate::kernels::isa::{INT8_SIMD128, Int8Config};
use crate::kernels::q8::wasm::{Requantizer, load4, load8_u8, pack_bytes, store_bytes};

/// The SIMD128 kernels.
pub(super) struct Simd128;

impl Micro for Simd128 {
    const CONFIG: Int8Config = INT8_SIMD128;

    #[inline(always)]
    unsafe fn tile<const F32: bool>(rows: usize, nv: usize, t: &Tile, count: usize) {
        // SAFETY: the caller's contract; each function's rows are at most its `mr`.
        unsafe {
            match nv {
                1 => by_rows!(simd128, rows, 1, t, count, [1 2 3 4 5 6]),
                _ => by_rows!(simd128, rows, 2, t, count, [1 2 3]),
            }
        }
    }

    /// The tiles read the bytes in place.
    type Stage = ();

    fn stage_space() -> MaybeUninit<()> {
        MaybeUninit::uninit()
    }

    unsafe fn stage(_: *const u8, _: usize, _: usize, _: &mut MaybeUninit<()>) -> *const i32 {
        core::ptr::null()
    }
}

// The tile heights listed in `tile` are the table's.
const _: () = assert!(INT8_SIMD128.gemm_rows[0] == 6 && INT8_SIMD128.gemm_rows[1] == 3);

/// `count` tiles of `MR` rows by `NV` panels, one below the other.
///
/// # Safety
/// As [`Micro::tile`].
#[inline(never)]
unsafe fn simd128<const MR: usize, const NV: usize, const F32: bool>(t: &Tile, count: usize) {
    let mut t = *t;
    let out_size = if F32 { 4 } else { 1 };
    for _ in 0..count {
        // SAFETY: tile by tile, the caller's contract.
        unsafe { tile::<MR, NV, F32>(&t) };
        t.x = t.x.wrapping_add(MR * t.k);
        t.y = t.y.wrapping_add(MR * t.ldc * out_size);
        if !t.res.is_null() {
            t.res = t.res.wrapping_add(MR * t.ldc);
        }
    }
}

/// One pair of inputs into the tile: `acc[r][v][h] += dot(w_vh, x_r)` with
/// `x_r` row `r`'s pair as i16 in every dword.
///
/// # Safety
/// The panels' 16 bytes at `w` are in bounds.
#[inline(always)]
unsafe fn pair_step<const MR: usize, const NV: usize>(
    acc: &mut [[[v128; 2]; NV]; MR],
    w: *const i8,
    pstride: usize,
    xb: impl Fn(usize) -> v128,
) {
    let mut wv = [[i16x8_splat(0); 2]; NV];
    unroll12!(v, {
        if v < NV {
            // SAFETY: the caller's contract.
            let b = unsafe { v128_load(w.add(v * pstride).cast()) };
            wv[v] = [i16x8_extend_low_i8x16(b), i16x8_extend_high_i8x16(b)];
        }
    });
    unroll12!(r, {
        if r < MR {
            let x = xb(r);
            unroll12!(v, {
                if v < NV {
                    acc[r][v][0] = i32x4_add(acc[r][v][0], i32x4_dot_i16x8(wv[v][0], x));
                    acc[r][v][1] = i32x4_add(acc[r][v][1], i32x4_dot_i16x8(wv[v][1], x));
                }
            });
        }
    });
}

/// One `MR x NV` tile.
///
/// # Safety
/// As [`Micro::tile`] for one tile.
#[inline(always)]
unsafe fn tile<const MR: usize, const NV: usize, const F32: bool>(t: &Tile) {
    // SAFETY: every pointer stays within the tile's rows and panels (the caller's contract): inputs are read
    // within each row's `k` bytes, weights for the `k.div_ceil(2)` pairs packed (zero past `k`); partial
    // vectors go through copies.
    unsafe {
        // Valid columns of each half-panel of 4 channels.
        let cols: [[usize; 2]; NV] =
            core::array::from_fn(|v| core::array::from_fn(|h| t.cols.saturating_sub(v * 8 + h * 4).min(4)));
        let mut acc = [[[i32x4_splat(0); 2]; NV]; MR];
        unroll12!(v, {
            if v < NV {
                let b = [load4(t.bias.add(v * 8), cols[v][0]), load4(t.bias.add(v * 8 + 4), cols[v][1])];
                unroll12!(r, {
                    if r < MR {
                        acc[r][v] = b;
                    }
                });
            }
        });
        let mut w = t.w;
        let mut x = t.x;
        for _ in 0..t.k / 2 {
            pair_step(&mut acc, w, t.pstride, |r| {
                let p = core::ptr::read_unaligned(x.add(r * t.k).cast::<u16>()) as u32;
                i32x4_splat(((p & 0xFF) | (p & 0xFF00) << 8) as i32)
            });
            w = w.add(16);
            x = x.add(2);
        }
        if t.k % 2 == 1 {
            // The last input pairs with a zero weight.
            pair_step(&mut acc, w, t.pstride, |r| i32x4_splat(i32::from(*x.add(r * t.k))));
        }
        if F32 {
            let y = t.y.cast::<f32>();
            for v in 0..NV {
                for h in 0..2 {
                    let s = load4(t.mult.add(v * 8 + h * 4), cols[v][h]);
                    for (r, row) in acc.iter().enumerate() {
                        let f = f32x4_mul(f32x4_convert_i32x4(row[v][h]), s);
                        let dst = y.add(r * t.ldc + v * 8 + h * 4);
                        if cols[v][h] == 4 {
                            v128_store(dst.cast(), f);
                        } else if cols[v][h] > 0 {
                            store_bytes(dst.cast(), f, 4 * cols[v][h]);
                        }
                    }
                }
            }
            return;
        }
        let rq = Requantizer::new(t.zp, t.lo, t.hi, t.rzp, t.rmult);
        let m: [[v128; 2]; NV] =
            core::array::from_fn(|v| core::array::from_fn(|h| load4(t.mult.add(v * 8 + h * 4), cols[v][h])));
        for (r, row) in acc.iter().enumerate() {
            let out = t.y.add(r * t.ldc);
            for v in 0..NV {
                let width = cols[v][0] + cols[v][1];
                if width == 0 {
                    continue;
                }
                let res = (!t.res.is_null()).then(|| load8_u8(t.res.add(r * t.ldc + v * 8), width));
                let q0 = rq.apply(row[v][0], m[v][0], res.map(|r| r.0));
                let q1 = rq.apply(row[v][1], m[v][1], res.map(|r| r.1));
                let bytes = pack_bytes(q0, q1, q0, q1);
                if width == 8 {
                    v128_store64_lane::<0>(bytes, out.add(v * 8).cast());
                } else {
                    store_bytes(out.add(v * 8), bytes, width);
                }
            }
        }
    }
}

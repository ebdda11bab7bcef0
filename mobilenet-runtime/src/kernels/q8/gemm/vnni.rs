//! The AVX-512 VNNI int8 GEMM micro-kernel: `vpdpbusd`, 64 exact u8 x i8
//! multiply-adds into 16 i32 per instruction.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;
use core::ptr::read_unaligned;

use super::{Micro, Tile, by_rows};
use crate::kernels::isa::{INT8_VNNI, Int8Config};
use crate::kernels::q8::requant::{MAGIC, MAGIC_BITS};
use crate::kernels::x86::mask16;

/// The AVX-512 VNNI kernels.
pub(super) struct Vnni;

impl Micro for Vnni {
    const CONFIG: Int8Config = INT8_VNNI;

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

// The tile heights listed in `tile` are the table's.
const _: () = assert!(INT8_VNNI.gemm_rows[0] == 12 && INT8_VNNI.gemm_rows[1] == 12);
const _: () = assert!(INT8_VNNI.gemm_rows[2] == 8 && INT8_VNNI.gemm_rows[3] == 6);

//! One compiled function per micro-kernel instantiation and instruction set.
//!
//! The kernels are written once, generic over the vector type, and are
//! `#[inline(always)]` so that the intrinsics inline into code compiled
//! with the instruction set's target features. When a whole kernel (its
//! drivers and every instantiation of its micro-kernel) inlined into one
//! `#[target_feature]` function per instruction set, those functions were
//! huge (the GEMM's AVX-512 entry a quarter of a million lines of LLVM IR
//! before optimization), LLVM's optimizer is super-linear in function size,
//! and nothing could run in parallel: building the runtime in release took
//! over 15 CPU-minutes on one core.
//!
//! Here each micro-kernel instantiation (a GEMM tile of `MR` rows, a
//! depthwise group of `P` pixels for one kernel size and stride) is its own
//! `#[inline(never)]` function carrying the target features, and the
//! drivers that walk tiles and groups call it. A call per tile or group
//! (hundreds of cycles of work each) is not measurable, and LLVM optimizes
//! the small functions quickly and in parallel codegen units.
//!
//! Only the instantiations an instruction set uses exist: the GEMM row
//! counts are listed per instruction set (`1..=MR`), so no 7- to 12-row
//! tiles are compiled for 6-row AVX2.

use super::micro::{Group, Pixel, Tile, group, tile};
use super::simd::{Portable, Simd};

/// The out-of-line micro-kernels of a vector type.
pub(crate) trait Kernels: Simd {
    /// [`tile`] with `rows` (`1..=MR`) rows of `NV` vectors.
    ///
    /// # Safety
    /// As [`tile`]; the CPU has the vector type's instructions.
    unsafe fn gemm_tile<const NV: usize, const OFF: bool>(rows: usize, t: &Tile);

    /// [`group`] for `P` pixels of a `K x K` kernel with stride `S`.
    ///
    /// # Safety
    /// As [`group`]; the CPU has the vector type's instructions.
    unsafe fn dw_group<const K: usize, const S: usize, const P: usize, const ALL: bool>(
        px: &Pixel,
        grp: &Group<'_, K>,
        res: *const f32,
        y: *mut f32,
    );
}

/// Implements [`Kernels`] for `$v` with the target features `$feat` (none
/// for the portable type) and GEMM tiles of the row counts `$mr`.
macro_rules! kernels {
    ($v:ty, [$($feat:literal)?], [$($mr:literal)*]) => {
        impl Kernels for $v {
            #[inline(always)]
            unsafe fn gemm_tile<const NV: usize, const OFF: bool>(rows: usize, t: &Tile) {
                $(#[target_feature(enable = $feat)])?
                #[inline(never)]
                unsafe fn one<const MR: usize, const NV: usize, const OFF: bool>(t: &Tile) {
                    // SAFETY: the caller's contract.
                    unsafe { tile::<$v, MR, NV, OFF>(t) }
                }
                // SAFETY: the caller's contract; `rows` is at most MR.
                unsafe {
                    match rows {
                        $($mr => one::<$mr, NV, OFF>(t),)*
                        _ => unreachable!("at most MR rows"),
                    }
                }
            }

            #[inline(always)]
            unsafe fn dw_group<const K: usize, const S: usize, const P: usize, const ALL: bool>(
                px: &Pixel,
                grp: &Group<'_, K>,
                res: *const f32,
                y: *mut f32,
            ) {
                $(#[target_feature(enable = $feat)])?
                #[inline(never)]
                unsafe fn one<const K: usize, const S: usize, const P: usize, const ALL: bool>(
                    px: &Pixel,
                    grp: &Group<'_, K>,
                    res: *const f32,
                    y: *mut f32,
                ) {
                    // SAFETY: the caller's contract.
                    unsafe { group::<$v, K, S, P, ALL>(px, grp, res, y) }
                }
                // SAFETY: the caller's contract.
                unsafe { one::<K, S, P, ALL>(px, grp, res, y) }
            }
        }
    };
}

kernels!(Portable, [], [1 2 3 4]);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
kernels!(super::simd::Simd128, [], [1 2 3 4 5 6]);
#[cfg(target_arch = "x86_64")]
kernels!(super::simd::Avx2, ["avx2,fma"], [1 2 3 4 5 6]);
#[cfg(target_arch = "x86_64")]
kernels!(super::simd::Avx512, ["avx512f"], [1 2 3 4 5 6 7 8 9 10 11 12]);

/// The row counts listed above are `1..=MR` of the instruction set table
/// (`Kind::config`).
const _: () = {
    assert!(Portable::MR == 4);
    #[cfg(target_arch = "x86_64")]
    assert!(super::simd::Avx2::MR == 6 && super::simd::Avx512::MR == 12);
    // Offset tiles use a row count of the same list.
    assert!(Portable::MR_OFFSET <= Portable::MR);
    #[cfg(target_arch = "x86_64")]
    assert!(super::simd::Avx2::MR_OFFSET <= 6 && super::simd::Avx512::MR_OFFSET <= 12);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    assert!(super::simd::Simd128::MR == 6 && super::simd::Simd128::MR_OFFSET <= 6);
};

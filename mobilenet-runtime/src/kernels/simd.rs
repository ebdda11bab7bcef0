//! A small vector abstraction the kernels are written against once and
//! instantiated per instruction set.
//!
//! Every method is `#[inline(always)]`: kernels are generic functions that
//! inline into a `#[target_feature]` entry point per instruction set, where
//! the intrinsics then inline too. The methods are `unsafe` because the
//! x86 ones require their instructions; [`super::Isa`] is the proof that
//! the CPU has them.

#![allow(clippy::missing_safety_doc)] // the trait's `# Safety` covers every method

use super::Act;
use super::isa::{F32_PORTABLE, F32Config};

/// A vector of `LANES` floats.
///
/// # Safety
/// Every method may only be called on a CPU that has the type's
/// instructions (an [`super::Isa`] of the type proves it: AVX2 and FMA for
/// `Avx2`, AVX-512F for `Avx512`, nothing for `Portable`). A method that
/// takes a pointer reads (or writes) `LANES` floats from it, or the first
/// `n` for the `_partial` ones, which must be valid for that access;
/// `prefetch` and `prefetch_write` take any address.
pub(crate) trait Simd: Copy {
    /// The kernel family's row of the instruction-set table.
    const CONFIG: F32Config;
    const LANES: usize = Self::CONFIG.packing.lanes();
    /// Rows of the GEMM micro-kernel (it computes `MR x PANEL` outputs).
    const MR: usize = Self::CONFIG.gemm_rows;
    /// Rows of the micro-kernel where inputs are read through offsets
    /// (`F32Config::offset_rows`, at most `MR`).
    const MR_OFFSET: usize = Self::CONFIG.offset_rows;
    /// Columns of a packed GEMM weight panel.
    const PANEL: usize = Self::CONFIG.packing.panel();

    unsafe fn splat(v: f32) -> Self;
    /// Loads `LANES` floats.
    unsafe fn load(p: *const f32) -> Self;
    /// Loads the first `n < LANES` floats, zeros elsewhere.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// Stores the first `n < LANES` lanes.
    unsafe fn store_partial(self, p: *mut f32, n: usize);
    /// `a * b + c`
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
    unsafe fn add(self, o: Self) -> Self;
    unsafe fn mul(self, o: Self) -> Self;
    unsafe fn max(self, o: Self) -> Self;
    unsafe fn min(self, o: Self) -> Self;

    /// Asks for the cache line holding `p` to be brought into L1. A hint:
    /// any address is allowed (nothing is read, nothing faults). On x86-64
    /// the instruction is in the baseline, so every vector type uses it.
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint that reads nothing and cannot fault, at any address (SSE, baseline on
        // x86-64).
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    /// Asks for the cache line holding `p` in a state it can be written
    /// in. A hint, like [`Simd::prefetch`] (`prefetchw`: where the CPU
    /// lacks it, it does nothing).
    #[inline(always)]
    unsafe fn prefetch_write(p: *const f32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint that reads nothing and cannot fault, at any address (SSE, baseline on
        // x86-64).
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_ET0 }>(p as *const i8)
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
        unsafe { Self::splat(0.0) }
    }

    #[inline(always)]
    unsafe fn load_n(p: *const f32, n: usize) -> Self {
        // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
        unsafe { if n >= Self::LANES { Self::load(p) } else { Self::load_partial(p, n) } }
    }

    #[inline(always)]
    unsafe fn store_n(self, p: *mut f32, n: usize) {
        // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
        unsafe { if n >= Self::LANES { self.store(p) } else { self.store_partial(p, n) } }
    }

    /// The activation if there is one.
    #[inline(always)]
    unsafe fn act_opt(self, act: Option<Act>) -> Self {
        // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
        unsafe {
            match act {
                Some(a) => self.act(a),
                None => self,
            }
        }
    }

    /// The activation, vectorized (sigmoid goes through scalars: it only
    /// appears in custom heads).
    #[inline(always)]
    unsafe fn act(self, act: Act) -> Self {
        // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
        unsafe {
            match act {
                Act::Relu => self.max(Self::zero()),
                Act::Relu6 => self.max(Self::zero()).min(Self::splat(6.0)),
                // relu6(x + 3) / 6 as clamp(x / 6 + 1/2, 0, 1): one FMA
                // instead of an add and a multiply, in the epilogue of
                // every v3 convolution.
                Act::HardSigmoid => {
                    Self::fmadd(self, Self::splat(1.0 / 6.0), Self::splat(0.5)).max(Self::zero()).min(Self::splat(1.0))
                }
                Act::HardSwish => self.mul(
                    Self::fmadd(self, Self::splat(1.0 / 6.0), Self::splat(0.5)).max(Self::zero()).min(Self::splat(1.0)),
                ),
                Act::Sigmoid => {
                    let mut lanes = [0.0f32; 16];
                    self.store(lanes.as_mut_ptr());
                    for v in &mut lanes[..Self::LANES] {
                        *v = Act::Sigmoid.apply(*v);
                    }
                    Self::load(lanes.as_ptr())
                }
            }
        }
    }
}

/// Plain Rust: `N` floats, lane by lane. The portable kernels use the
/// width of their row of the table ([`Portable`]).
#[derive(Clone, Copy)]
pub(crate) struct Lanes<const N: usize>([f32; N]);

/// The portable vector: 8 floats on x86-64 (the AVX2 layout), 4 elsewhere
/// (the layout of WebAssembly SIMD128 and NEON), so that each target
/// compiles in one float weight layout for both.
pub(crate) type Portable = Lanes<PORTABLE_LANES>;
const PORTABLE_LANES: usize = F32_PORTABLE.packing.lanes();

impl<const N: usize> Lanes<N> {
    #[inline(always)]
    fn map2(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut r = [0.0; N];
        for ((r, a), b) in r.iter_mut().zip(self.0).zip(o.0) {
            *r = f(a, b);
        }
        Lanes(r)
    }
}

impl Simd for Lanes<PORTABLE_LANES> {
    const CONFIG: F32Config = F32_PORTABLE;

    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Lanes([v; PORTABLE_LANES])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
        unsafe { Lanes(core::ptr::read_unaligned(p as *const [f32; PORTABLE_LANES])) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> Self {
        let mut r = [0.0; PORTABLE_LANES];
        for (i, v) in r.iter_mut().enumerate().take(n) {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            *v = unsafe { *p.add(i) };
        }
        Lanes(r)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
        unsafe { core::ptr::write_unaligned(p as *mut [f32; PORTABLE_LANES], self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, n: usize) {
        for i in 0..n {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { *p.add(i) = self.0[i] };
        }
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
        let mut r = c.0;
        for ((r, a), b) in r.iter_mut().zip(a.0).zip(b.0) {
            *r += a * b;
        }
        Lanes(r)
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        self.map2(o, |a, b| a + b)
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        self.map2(o, |a, b| a * b)
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        self.map2(o, f32::max)
    }
    #[inline(always)]
    unsafe fn min(self, o: Self) -> Self {
        self.map2(o, f32::min)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::{F32Config, Simd};
    use crate::kernels::isa::{F32_AVX2, F32_AVX512};
    use crate::kernels::x86::{mask8, mask16};

    /// AVX2 + FMA: eight floats in a `ymm` register.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(__m256);

    impl Simd for Avx2 {
        const CONFIG: F32Config = F32_AVX2;

        #[inline(always)]
        unsafe fn splat(v: f32) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx2(_mm256_set1_ps(v)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { Avx2(_mm256_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> Self {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { Avx2(_mm256_maskload_ps(p, mask8(n))) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { _mm256_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        unsafe fn store_partial(self, p: *mut f32, n: usize) {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { _mm256_maskstore_ps(p, mask8(n), self.0) }
        }
        #[inline(always)]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx2(_mm256_fmadd_ps(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx2(_mm256_add_ps(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn mul(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx2(_mm256_mul_ps(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn max(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx2(_mm256_max_ps(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn min(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx2(_mm256_min_ps(self.0, o.0)) }
        }
    }

    /// AVX-512F: sixteen floats in a `zmm` register.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512(__m512);

    impl Simd for Avx512 {
        const CONFIG: F32Config = F32_AVX512;

        #[inline(always)]
        unsafe fn splat(v: f32) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx512(_mm512_set1_ps(v)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { Avx512(_mm512_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> Self {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { Avx512(_mm512_maskz_loadu_ps(mask16(n), p)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { _mm512_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        unsafe fn store_partial(self, p: *mut f32, n: usize) {
            // SAFETY: the trait's contract: `p` is valid for the access, the CPU has the instructions.
            unsafe { _mm512_mask_storeu_ps(p, mask16(n), self.0) }
        }
        #[inline(always)]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx512(_mm512_fmadd_ps(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx512(_mm512_add_ps(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn mul(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx512(_mm512_mul_ps(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn max(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx512(_mm512_max_ps(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn min(self, o: Self) -> Self {
            // SAFETY: the trait's contract: the CPU has the instructions; no memory is accessed.
            unsafe { Avx512(_mm512_min_ps(self.0, o.0)) }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use wasm::Simd128;

/// WebAssembly SIMD128, compiled only into builds that enable it for the
/// whole module (`-C target-feature=+simd128`): WebAssembly has no run-time
/// detection, and a module holding SIMD instructions does not load where
/// they are missing, so a build without it stays portable.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    use super::{F32Config, Simd};
    use crate::kernels::isa::F32_SIMD128;

    /// Four floats in a `v128`.
    #[derive(Clone, Copy)]
    pub(crate) struct Simd128(v128);

    impl Simd for Simd128 {
        const CONFIG: F32Config = F32_SIMD128;

        #[inline(always)]
        unsafe fn splat(v: f32) -> Self {
            Simd128(f32x4_splat(v))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: the trait's contract: `p` is valid for 4 floats (`v128_load` takes any alignment).
            unsafe { Simd128(v128_load(p.cast())) }
        }
        #[inline(always)]
        unsafe fn load_partial(p: *const f32, n: usize) -> Self {
            let mut a = [0.0f32; 4];
            // SAFETY: the trait's contract: `p` is valid for `n < 4` floats.
            unsafe { core::ptr::copy_nonoverlapping(p, a.as_mut_ptr(), n) };
            // SAFETY: `a` holds 4 floats.
            unsafe { Simd128(v128_load(a.as_ptr().cast())) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: the trait's contract: `p` is valid for 4 floats.
            unsafe { v128_store(p.cast(), self.0) }
        }
        #[inline(always)]
        unsafe fn store_partial(self, p: *mut f32, n: usize) {
            let mut a = [0.0f32; 4];
            // SAFETY: `a` holds 4 floats; the trait's contract: `p` is valid for `n < 4` floats.
            unsafe {
                v128_store(a.as_mut_ptr().cast(), self.0);
                core::ptr::copy_nonoverlapping(a.as_ptr(), p, n);
            }
        }
        /// A multiply, then an add (SIMD128 has no fused multiply-add; the
        /// relaxed-SIMD one is not in every engine).
        #[inline(always)]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            Simd128(f32x4_add(f32x4_mul(a.0, b.0), c.0))
        }
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self {
            Simd128(f32x4_add(self.0, o.0))
        }
        #[inline(always)]
        unsafe fn mul(self, o: Self) -> Self {
            Simd128(f32x4_mul(self.0, o.0))
        }
        /// `o < self ? self : o`: the other operand for NaN, as x86's
        /// `maxps` and the portable kernels give (a ReLU turns NaN into 0),
        /// in one instruction (`f32x4.pmax`).
        #[inline(always)]
        unsafe fn max(self, o: Self) -> Self {
            Simd128(f32x4_pmax(o.0, self.0))
        }
        /// `self < o ? self : o`, as [`Simd128::max`] (`f32x4.pmin`).
        #[inline(always)]
        unsafe fn min(self, o: Self) -> Self {
            Simd128(f32x4_pmin(o.0, self.0))
        }
    }
}

// The vector types hold the `LANES` floats the table of `Kind::config` says.
const _: () = assert!(core::mem::size_of::<Portable>() == 4 * Portable::LANES);
#[cfg(target_arch = "x86_64")]
const _: () = {
    assert!(core::mem::size_of::<Avx2>() == 4 * Avx2::LANES);
    assert!(core::mem::size_of::<Avx512>() == 4 * Avx512::LANES);
};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
const _: () = assert!(core::mem::size_of::<Simd128>() == 4 * Simd128::LANES);

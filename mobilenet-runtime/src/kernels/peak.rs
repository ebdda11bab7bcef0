//! Measuring the FMA peak of one core.

use super::Isa;
use super::isa::{F32Kernels, Int8Kernels};
use super::simd::Simd;

/// 12 independent accumulator chains: enough to cover the FMA latency on
/// every current x86 core.
#[inline(always)]
unsafe fn chains<V: Simd>(iters: usize) -> f32 {
    // SAFETY: the caller's contract: the CPU has `V`'s instructions; `out` holds 16 floats, at least `LANES`.
    unsafe {
        let mut acc = [V::splat(0.5); 12];
        let (a, b) = (V::splat(1.000_000_1), V::splat(-0.000_000_1));
        for _ in 0..iters {
            for x in &mut acc {
                *x = V::fmadd(*x, a, b);
            }
        }
        let mut s = V::zero();
        for x in acc {
            s = s.add(x);
        }
        let mut out = [0.0f32; 16];
        s.store(out.as_mut_ptr());
        out.iter().sum()
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(iters: usize) -> f32 {
    // SAFETY: this function's target features are the ones `Avx2` needs.
    unsafe { chains::<super::simd::Avx2>(iters) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(iters: usize) -> f32 {
    // SAFETY: this function's target features are the ones `Avx512` needs.
    unsafe { chains::<super::simd::Avx512>(iters) }
}

/// Iterations of each timed loop (about 0.1 s at the peak).
const ITERS: usize = 20_000_000;

/// The fastest of 3 runs of `f(ITERS)`, in seconds.
///
/// # Safety
/// The CPU has the instructions `f` is compiled for.
unsafe fn best_time<T>(f: unsafe fn(usize) -> T) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        // SAFETY: the caller's contract.
        std::hint::black_box(unsafe { f(std::hint::black_box(ITERS)) });
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

pub(super) fn measure(isa: Isa) -> f64 {
    let (lanes, f): (usize, unsafe fn(usize) -> f32) = match isa.f32().kernels {
        #[cfg(target_arch = "x86_64")]
        F32Kernels::Avx2 => (8, avx2),
        #[cfg(target_arch = "x86_64")]
        F32Kernels::Avx512 => (16, avx512),
        // SAFETY: the portable kernels need no instructions beyond the baseline.
        _ => (super::simd::Portable::LANES, |n| unsafe { chains::<super::simd::Portable>(n) }),
    };
    // SAFETY: `isa` proves the instructions exist.
    (ITERS * 12 * lanes) as f64 / unsafe { best_time(f) } / 1e9
}

/// 12 independent chains of AVX-512 VNNI `vpdpbusd` (64 u8 x i8
/// multiply-adds each), the int8 counterpart of [`chains`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni(iters: usize) -> i32 {
    use core::arch::x86_64::*;
    let mut acc = [_mm512_set1_epi32(1); 12];
    let (a, b) = (_mm512_set1_epi8(3), _mm512_set1_epi8(-1));
    for _ in 0..iters {
        for x in &mut acc {
            *x = _mm512_dpbusd_epi32(*x, a, b);
        }
    }
    let mut s = _mm512_setzero_si512();
    for x in acc {
        s = _mm512_add_epi32(s, x);
    }
    _mm512_reduce_add_epi32(s)
}

/// 12 independent chains of AVX2 `vpmaddwd` + `vpaddd` (16 exact i16
/// multiply-adds per pair): what the AVX2 int8 kernels are built on. Each
/// chain multiplies its own accumulator, so that the products cannot be
/// hoisted out of the loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn madd_pairs(iters: usize) -> i32 {
    use core::arch::x86_64::*;
    let mut acc: [__m256i; 12] = core::array::from_fn(|i| _mm256_set1_epi32(i as i32 + 1));
    let b = _mm256_set1_epi16(3);
    for _ in 0..iters {
        for x in &mut acc {
            *x = _mm256_add_epi32(*x, _mm256_madd_epi16(*x, b));
        }
    }
    let mut s = _mm256_setzero_si256();
    for x in acc {
        s = _mm256_add_epi32(s, x);
    }
    _mm256_extract_epi32::<0>(s)
}

/// One core's int8 multiply-accumulate rate in GMAC/s with the instructions
/// the int8 kernels of `isa` are built on (VNNI: `vpdpbusd`; AVX2:
/// `vpmaddwd` + `vpaddd`), register-resident, measured like [`measure`];
/// `None` for the portable kernels.
pub(super) fn measure_int8(isa: Isa) -> Option<f64> {
    let (macs, f): (usize, unsafe fn(usize) -> i32) = match isa.int8().kernels {
        #[cfg(target_arch = "x86_64")]
        Int8Kernels::Avx512Vnni => (64, vnni),
        #[cfg(target_arch = "x86_64")]
        Int8Kernels::Avx2 => (16, madd_pairs),
        _ => return None,
    };
    // SAFETY: holding `isa` proves its instructions exist.
    Some((ITERS * 12 * macs) as f64 / unsafe { best_time(f) } / 1e9)
}

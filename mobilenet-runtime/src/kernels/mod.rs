//! The compute kernels generated code calls, `core` only, allocation-free.
//!
//! Tensors are NHWC slices of one image. Shapes are passed as plain values;
//! generated code passes constants, so each call site is fully specialized
//! when the kernel is inlined, and the kernels stay ordinary functions that
//! are unit-tested here against direct definitions.
//!
//! Fused kernels take an *epilogue*: a per-channel bias (a folded BatchNorm),
//! an activation and a residual input, applied while the output is written.
//!
//! The heavy kernels (GEMM for pointwise, regular and dense layers;
//! depthwise) are written once against a small vector trait and
//! instantiated for AVX-512, AVX2+FMA and portable Rust; an [`Isa`] chosen
//! at load time selects one. Their weights are packed at load time by
//! [`pack`]. Light kernels (pooling, elementwise) are plain loops.

/// `$body` once for each `$i` in `0..12`, `$i` a constant: loops unrolled
/// in source where LLVM's unroller declines, so that accumulators indexed
/// by `$i` stay in registers (the GEMM tile's rows, the depthwise group's
/// window columns). Defined before the modules that use it.
macro_rules! unroll12 {
    ($i:ident, $body:block) => {
        unroll12!(@ $i, $body, 0 1 2 3 4 5 6 7 8 9 10 11)
    };
    (@ $i:ident, $body:block, $($n:literal)*) => {{
        $({
            #[allow(non_upper_case_globals)]
            const $i: usize = $n;
            $body
        })*
    }};
}

mod block;
mod conv;
mod dwconv;
mod elementwise;
mod entry;
mod gemm;
mod isa;
pub mod pack;
mod par;
mod pool;
mod simd;

pub use block::{BlockGeom, Stage, block};
pub use conv::{ConvGeom, conv2d, pointwise};
pub use dwconv::depthwise;
pub use elementwise::{activation, add, batch_norm, mul_gate, rescale, softmax, softmax_in_place, zero_pad};
pub use isa::{Isa, Packing};
pub use pool::{dense, global_avg_pool, global_max_pool};

/// Elementwise activations, with Keras' definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Identity,
    /// `max(x, 0)`
    Relu,
    /// `min(max(x, 0), 6)`
    Relu6,
    /// `1 / (1 + exp(-x))`
    Sigmoid,
    /// `relu6(x + 3) / 6`
    HardSigmoid,
    /// `x * relu6(x + 3) / 6`
    HardSwish,
}

impl Act {
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Identity => x,
            Act::Relu => x.max(0.0),
            Act::Relu6 => x.clamp(0.0, 6.0),
            Act::Sigmoid => 1.0 / (1.0 + libm_exp(-x)),
            Act::HardSigmoid => (x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0),
            Act::HardSwish => x * ((x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)),
        }
    }

    /// Applies the activation to every element of `v`.
    #[inline(always)]
    pub fn apply_all(self, v: &mut [f32]) {
        match self {
            Act::Identity => {}
            Act::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
            Act::Relu6 => v.iter_mut().for_each(|x| *x = x.clamp(0.0, 6.0)),
            Act::Sigmoid => v.iter_mut().for_each(|x| *x = Act::Sigmoid.apply(*x)),
            Act::HardSigmoid => v.iter_mut().for_each(|x| *x = (*x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)),
            Act::HardSwish => v.iter_mut().for_each(|x| *x *= (*x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)),
        }
    }
}

/// `exp` without `std`: `e^x = 2^n e^r` with `n = round(x / ln 2)`, `r`
/// reduced in two parts (Cody-Waite, so `r` is exact), and `e^r` by a
/// degree-6 polynomial; relative error below 3e-7 for normal results. Used
/// only by sigmoid and softmax.
#[inline]
pub fn libm_exp(x: f32) -> f32 {
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // ln 2, low bits zero: n * LN2_HI is exact
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    if x > 88.72 {
        return f32::INFINITY;
    }
    if x < -103.98 {
        return 0.0;
    }
    let t = x * core::f32::consts::LOG2_E;
    let n = if t >= 0.0 { (t + 0.5) as i32 } else { (t - 0.5) as i32 };
    let nf = n as f32;
    let r = (x - nf * LN2_HI) - nf * LN2_LO; // |r| <= ln2 / 2
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n, in two steps so that subnormal results stay right.
    let half = n / 2;
    let scale = |e: i32| f32::from_bits(((e + 127).clamp(0, 254) as u32) << 23);
    p * scale(half) * scale(n - half)
}

/// An optional slice for epilogues.
pub type Opt<'a> = Option<&'a [f32]>;

#[cfg(test)]
mod tests;

/// One core's fused multiply-add rate in GFMA/s with the fastest available
/// vectors, from a register-resident loop of independent FMAs (~0.2 s). What
/// benchmarks compare their MAC rate with.
#[cfg(feature = "std")]
pub fn peak_gfma_per_s() -> f64 {
    peak::measure(Isa::detect())
}

#[cfg(feature = "std")]
mod peak;

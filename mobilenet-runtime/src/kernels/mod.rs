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
mod micro;
mod par;
mod pool;
pub mod q8;
mod simd;
mod window;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use block::{Stage, Stages, block};
pub use conv::{conv2d, pointwise};
pub use dwconv::depthwise;
pub use elementwise::{activation, add, batch_norm, mul_gate, rescale, softmax, softmax_in_place, zero_pad};
pub use isa::{Isa, Packing, Precision, QLayout};
pub use mobilenet_layout::geom::{BlockGeom, ConvGeom, ExpandConv, Expansion, MAX_KERNEL, PointwiseGeom};
pub use mobilenet_layout::{Act, libm_exp, pack};
pub use pool::{global_avg_pool, global_max_pool};

/// An optional slice for epilogues.
pub type Opt<'a> = Option<&'a [f32]>;

/// What a convolution or dense kernel does to each output as it stores it:
/// `act(sum + bias) + residual`. The passes fold a BatchNorm into `bias`,
/// fuse the activation that follows and the residual add that reads the
/// result; every GEMM and depthwise kernel takes this one description.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// Per output channel, packed like the kernel's weights
    /// ([`pack::gemm_bias_len`] or [`pack::depthwise_bias_len`] floats).
    pub bias: &'a [f32],
    pub act: Option<Act>,
    /// Added after the activation; laid out like the output.
    pub residual: Opt<'a>,
}

impl<'a> Epilogue<'a> {
    pub const fn new(bias: &'a [f32], act: Option<Act>, residual: Opt<'a>) -> Epilogue<'a> {
        Epilogue { bias, act, residual }
    }

    /// The epilogue of the outputs from element `at` of the output on (the
    /// residual moves with them; the bias is per channel and stays).
    #[inline]
    pub(crate) fn from(self, at: usize) -> Epilogue<'a> {
        Epilogue { residual: self.residual.map(|r| &r[at..]), ..self }
    }

    /// The epilogue of output elements `at..at + len`.
    #[inline]
    pub(crate) fn range(self, at: usize, len: usize) -> Epilogue<'a> {
        Epilogue { residual: self.residual.map(|r| &r[at..at + len]), ..self }
    }
}

#[cfg(test)]
mod tests;

/// One core's fused multiply-add rate in GFMA/s with the fastest available
/// vectors, from a register-resident loop of independent FMAs (~0.2 s). What
/// benchmarks compare their MAC rate with.
#[cfg(feature = "std")]
pub fn peak_gfma_per_s() -> f64 {
    peak::measure(Isa::detect())
}

/// One core's int8 multiply-accumulate rate in GMAC/s with the
/// instructions of the int8 kernels `isa` (VNNI `vpdpbusd`, AVX2
/// `vpmaddwd` + `vpaddd`; register-resident, ~0.2 s), or `None` for the
/// portable ones.
#[cfg(feature = "std")]
pub fn peak_int8_gmac_per_s(isa: Isa) -> Option<f64> {
    peak::measure_int8(isa)
}

#[cfg(feature = "std")]
mod peak;

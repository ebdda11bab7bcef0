//! Int8 kernels for quantized MobileNets: `core` only, allocation-free.
//!
//! Activations are `u8` with a zero point, weights `i8` (symmetric, per
//! output channel, in `-127..=127`), sums `i32`, computed exactly (no
//! saturating instruction anywhere: AVX2 widens to i16 and uses
//! `vpmaddwd`, AVX-512 uses VNNI's `vpdpbusd`). Every output is then
//! requantized by one definition, [`requant_scalar`], which the vector
//! code follows operation for operation, so every instruction set and
//! every thread count gives the same bytes.
//!
//! Tensors are NHWC slices of one image, as for the float kernels; every
//! kernel takes its shape as a geometry value and its epilogue as a
//! [`Requant`]. Weights are packed per layout by `mobilenet_layout::q8pack`
//! and read from the network's blob through the [`layer`] views.
//!
//! Modules: [`requant`] (the definition and the epilogue), [`gemm`]
//! (pointwise, classifier), [`conv`] (the im2col'd stem), [`dw`]
//! (depthwise), [`elementwise`] (input quantization, pooling), [`layer`]
//! (views of the blob); each kernel's per-instruction-set micro-kernels
//! are files of their own under it.

mod conv;
mod dw;
mod elementwise;
mod gemm;
mod layer;
mod requant;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

pub use conv::{conv2d, im2col};
pub use dw::depthwise;
pub use elementwise::{global_avg_pool, quantize};
pub use gemm::{pointwise, pointwise_f32};
pub use layer::{DepthwiseLayer, GemmLayer, InputLayer, PoolLayer};
pub use mobilenet_layout::q8pack::{self as pack, QLayout};
pub use requant::{Requant, Residual, requant_scalar};

use super::ConvGeom;

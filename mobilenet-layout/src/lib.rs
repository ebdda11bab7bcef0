//! What the mobilenet-rs compiler and its runtime must agree on, in one
//! place that holds no kernels:
//!
//! * [`Act`]: the activations, shared by the IR, the interpreter and the
//!   kernels' epilogues;
//! * [`geom`]: convolution and fused-block geometry (the compiler plans a
//!   block's scratch with the same [`geom::BlockGeom::scratch_len`] the
//!   kernel uses), and the limits the kernels accept ([`geom::MAX_KERNEL`],
//!   [`ALIGN`]);
//! * [`pack`]: the packed weight layouts and their lengths, per
//!   [`pack::Packing`];
//! * [`weights`] and [`prepare`] (feature `std`): reading a safetensors
//!   file and turning its tensors into the packed buffer (run by generated
//!   `load` functions, and by the compiler for weights compiled in);
//! * [`q8pack`]: the int8 weight layouts and the records of an int8
//!   network's weight blob; [`q8`], [`q8file`] and [`q8prep`] (feature
//!   `std`: they are used at load time): int8 quantization parameters, the
//!   quantized-model file, and its preparation into the blob.
//!
//! `mobilenet-runtime` re-exports what generated code names.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

mod act;
pub mod geom;
pub mod pack;
#[cfg(feature = "std")]
pub mod prepare;
#[cfg(feature = "std")]
pub mod q8;
#[cfg(feature = "std")]
pub mod q8file;
pub mod q8pack;
#[cfg(feature = "std")]
pub mod q8prep;
#[cfg(feature = "std")]
pub mod weights;

pub use act::{Act, libm_exp};

/// Alignment, in floats (64 bytes: a cache line, an AVX-512 vector), of
/// every buffer the planner places in the arena and every tensor in the
/// prepared weight buffer.
pub const ALIGN: usize = 16;

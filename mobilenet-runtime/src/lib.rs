//! Run-time support for networks compiled by mobilenet-rs.
//!
//! * [`kernels`]: the compute kernels generated `forward` functions call
//!   (`core` only, no allocation);
//! * [`prepare`] (feature `std`): load-time weight preparation (BatchNorm
//!   folding, packing), from `mobilenet-layout`;
//! * [`exec`]: running a forward pass on one thread or on a [`exec::Pool`];
//! * [`buffer`] (feature `std`): the heap buffers of weights and arenas, in
//!   huge pages where the OS offers them;
//! * [`weights`] (feature `std`, from `mobilenet-layout`): reads a
//!   safetensors file of Keras- or torchvision-named tensors and checks it
//!   against what the network expects, reporting every problem at once.
//!   With [`buffer`], the only part that allocates.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod embed;
pub mod exec;
pub mod kernels;
pub mod q8layers;

/// What every generated network provides, for code generic over networks.
/// The generated types also have inherent `load`, `from_safetensors`,
/// `new_arena` and a `forward` on fixed-size arrays.
pub trait Network {
    /// Input shape of one image, channels last.
    const INPUT_SHAPE: &'static [usize];
    /// Output shape of one image.
    const OUTPUT_SHAPE: &'static [usize];
    const INPUT_LEN: usize;
    const OUTPUT_LEN: usize;
    /// Floats of scratch memory a run needs.
    const ARENA_LEN: usize;
    /// Floats of per-thread scratch a run on several threads needs, per thread.
    const SCRATCH_LEN: usize;

    /// Runs the network on one image, allocating nothing.
    ///
    /// # Panics
    /// If a slice's length is not `INPUT_LEN`, `OUTPUT_LEN` or `ARENA_LEN`.
    fn run(&self, input: &[f32], output: &mut [f32], arena: &mut [f32]);

    /// Runs the network on one image with the threads of `exec` (a
    /// [`exec::Pool`]), allocating nothing; `scratch` holds
    /// `exec.threads() * SCRATCH_LEN` floats.
    ///
    /// # Panics
    /// If a slice is too short.
    fn run_on(&self, exec: &dyn exec::Exec, input: &[f32], output: &mut [f32], arena: &mut [f32], scratch: &mut [f32]);
}
#[cfg(feature = "std")]
pub mod buffer;
#[cfg(feature = "std")]
pub mod q8model;
#[cfg(feature = "std")]
pub use mobilenet_layout::{prepare, q8file, weights};

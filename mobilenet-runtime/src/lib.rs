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
//!   against what the network expects, reporting every problem at once;
//!   [`q8file`] and [`q8prep`] the same for int8 networks;
//! * [`model`] (feature `std`): a network's load step (file or bytes to
//!   prepared weights). With [`buffer`], the only part that allocates;
//! * [`embed`]: weights compiled into the binary.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod embed;
pub mod exec;
pub mod kernels;
pub mod preprocess;

/// What an arena or weight buffer holds: `f32`, or `u8` for int8 networks.
/// Numbers whose all-zero bytes are zero (buffers start zeroed) and for
/// which any bit pattern is a value. Sealed.
pub trait Element: Copy + Default + Send + Sync + 'static + private::Sealed {}
impl Element for f32 {}
impl Element for u8 {}

mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u8 {}
}

/// What every generated network provides, for code generic over networks
/// of both precisions. The generated types also have inherent `load`,
/// `from_safetensors` (or, with weights compiled in, `new`), `new_arena`
/// and a `forward` on fixed-size arrays.
pub trait Network {
    /// What the arena holds: `f32` for float networks, `u8` for int8 ones.
    type Elem: Element;
    /// Input shape of one image, channels last.
    const INPUT_SHAPE: &'static [usize];
    /// Output shape of one image.
    const OUTPUT_SHAPE: &'static [usize];
    const INPUT_LEN: usize;
    const OUTPUT_LEN: usize;
    /// Values of `Elem` of scratch memory a run needs.
    const ARENA_LEN: usize;
    /// Values of `Elem` of per-thread scratch a run on several threads
    /// needs, per thread.
    const SCRATCH_LEN: usize;

    /// The instruction set the network's kernels run with.
    fn isa(&self) -> kernels::Isa;

    /// Runs the network on one image (float input and output whatever the
    /// precision), allocating nothing.
    ///
    /// # Panics
    /// If a slice's length is not `INPUT_LEN`, `OUTPUT_LEN` or `ARENA_LEN`.
    fn run(&self, input: &[f32], output: &mut [f32], arena: &mut [Self::Elem]);

    /// Runs the network on one image with the threads of `exec` (a
    /// [`exec::Pool`]), allocating nothing; `scratch` holds
    /// `exec.threads() * SCRATCH_LEN` values.
    ///
    /// # Panics
    /// If a slice is too short.
    fn run_on(
        &self,
        exec: &dyn exec::Exec,
        input: &[f32],
        output: &mut [f32],
        arena: &mut [Self::Elem],
        scratch: &mut [Self::Elem],
    );
}
#[cfg(feature = "std")]
pub mod buffer;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub use mobilenet_layout::{prepare, q8file, q8prep, weights};

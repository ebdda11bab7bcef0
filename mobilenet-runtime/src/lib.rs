//! Run-time support for networks compiled by mobilenet-rs.
//!
//! * [`weights`] (feature `std`): reads a safetensors file of Keras-named
//!   tensors and checks it against what the network expects, reporting every
//!   problem at once. This is the only part that allocates.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "std")]
pub mod weights;

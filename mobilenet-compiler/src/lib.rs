//! mobilenet-compiler: an ahead-of-time compiler for MobileNet v1, v2 and v3.
//!
//! The pipeline is a chain of pure functions with a type at each boundary:
//!
//! * [`spec`]: YAML text -> [`spec::Spec`] (parsed and checked, with locations);
//! * [`lower`]: `Spec` -> unoptimized [`ir::Graph`], node for node the Keras model;
//! * [`weights`]: a safetensors file checked against the graph's [`ir::Param`]s;
//! * [`passes`]: `Graph -> Graph` optimizations (folding, fusion), one module each;
//! * [`plan`]: the static memory plan (one arena, reused by liveness);
//! * [`codegen`]: optimized graph + plan -> Rust tokens of an allocation-free `forward`;
//! * [`interp`] (feature `reference`): the reference interpreter, the oracle for everything after;
//! * [`quant`]: int8 networks: which graphs quantize, the quantized model; with feature
//!   `reference`, calibration and the integer reference interpreter;
//! * [`summary`]: parameters and multiply-accumulates per layer.

pub mod codegen;
#[cfg(feature = "reference")]
pub mod interp;
pub mod ir;
pub mod lower;
#[cfg(feature = "reference")]
pub mod npy;
pub mod passes;
pub mod plan;
pub mod quant;
pub mod spec;
pub mod summary;
pub mod weights;

pub use lower::lower;

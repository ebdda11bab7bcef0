//! Code generation: a spec -> a Rust type whose `forward` runs the network
//! with every shape and offset a constant and no allocation.
//!
//! [`generate`] is the one entry point, for both precisions and both weight
//! sources ([`Options`]). The stages:
//!
//! * [`f32`] or [`int8`]: the optimized graph and its memory plan become a
//!   `Program`: one kernel call per step (`f32::ops`, `int8::ops`: one
//!   function per op kind), on constant slices of the caller's input,
//!   output and arena and of one weight buffer, and the tables a load reads;
//! * [`embed`]: for weights compiled in, the weight buffer of every layout
//!   the target's kernels may read, prepared now and written to files;
//! * [`network`]: the type around the steps, the same for every precision
//!   and weight source.
//!
//! Each step is preceded by the IR line it implements.

mod arena;
mod embed;
mod f32;
mod int8;
mod network;
#[cfg(all(test, feature = "reference"))]
mod tests;

pub use embed::{Blob, BlobLayout, WriteError, blob_dir};

use std::path::PathBuf;

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::ir::Graph;
use crate::passes;
use crate::plan::Plan;
use crate::spec::{Spec, SpecError};
use network::Storage;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the generated type.
    pub type_name: String,
    /// Which optimization passes run (f32; int8 networks are always
    /// folded and fused, blocks unfused).
    pub fusion: Fusion,
    pub precision: Precision,
    /// Where the weights come from.
    pub weights: Weights,
    /// Path of the runtime crate in the generated code.
    pub runtime: TokenStream,
    /// Also emit `forward_timed`, which records each step's duration (uses
    /// `std`), and `forward_observed`, which shows each step's output.
    pub profile: bool,
    /// If set, the generated items go in a hidden module of this name and
    /// only the type is re-exported. The macro gives each call its own
    /// name, so that two networks of the same name in one module are one
    /// clear error ("the name `X` is defined multiple times") instead of
    /// one per generated item.
    pub module: Option<String>,
}

impl Options {
    /// A float network with weights loaded at run time, fused.
    pub fn new(type_name: impl Into<String>) -> Options {
        Options {
            type_name: type_name.into(),
            fusion: Fusion::Optimized,
            precision: Precision::F32,
            weights: Weights::Loaded,
            runtime: quote!(::mobilenet_runtime),
            profile: false,
            module: None,
        }
    }
}

/// How much of the optimization pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// No passes: the unfused program, one IR node, one kernel call, one
    /// buffer (the benchmarks' baseline and the tests' second opinion).
    Off,
    /// Every pass, blocks fused where that pays ([`passes::optimize`]).
    Optimized,
    /// Every pass, and every block fused whatever its size
    /// ([`passes::BlockFusion::Every`]): for tests, so that small networks
    /// exercise the fused-block kernel with residuals and v1 blocks.
    EveryBlock,
}

/// The arithmetic of the generated network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Float weights and activations (a safetensors file of the
    /// framework's tensors).
    F32,
    /// int8 weights, u8 activations, float input and logits (a
    /// quantized-model file made by `mobilenetc quantize`).
    Int8,
}

/// Where a network's weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weights {
    /// A file read at run time (`load`, `from_safetensors`).
    Loaded,
    /// The file `path` (called `shown` in errors), prepared now for every
    /// weight layout, written to `dir` (see [`blob_dir`]) and compiled in:
    /// the type is then a `const` value with no load step, no heap and no `std`.
    Embedded { path: PathBuf, shown: String, dir: PathBuf },
}

/// Why a network could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The network has a layer int8 cannot compute.
    #[error(transparent)]
    Unsupported(#[from] crate::quant::Unsupported),
    /// The float weights to compile in are unreadable or do not match.
    #[error(transparent)]
    Weights(#[from] mobilenet_layout::weights::WeightError),
    /// The quantized-model file to compile in is unreadable or does not match.
    #[error(transparent)]
    QuantizedWeights(#[from] mobilenet_layout::q8file::QFileError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Generated code, with the graph and plan it implements.
#[derive(Debug, Clone)]
pub struct Generated {
    pub tokens: TokenStream,
    pub graph: Graph,
    pub plan: Plan,
}

impl Generated {
    /// The code formatted for people (`mobilenetc rust`, snapshots).
    pub fn pretty(&self) -> String {
        pretty(&self.tokens)
    }
}

/// `tokens` formatted, if they parse as a file.
fn pretty(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => format!("// generated code does not parse: {e}\n{tokens}"),
    }
}

/// Lowers `spec`, optimizes it (as `options.fusion` and the precision say),
/// plans its memory and emits its type.
pub fn generate(spec: &Spec, options: &Options) -> Result<Generated, GenerateError> {
    let lowered = crate::lower(spec)?;
    let rt = &options.runtime;
    let (graph, program, storage) = match options.precision {
        Precision::F32 => {
            let graph = match options.fusion {
                Fusion::Off => lowered,
                Fusion::Optimized => passes::optimize(&lowered),
                Fusion::EveryBlock => passes::optimize_with(&lowered, passes::BlockFusion::Every),
            };
            let program = f32::program(&graph, options.fusion, rt);
            let storage = match &options.weights {
                Weights::Loaded => Storage::Loaded,
                Weights::Embedded { path, shown, dir } => {
                    let bytes = std::fs::read(path)
                        .map_err(|source| mobilenet_layout::weights::WeightError::Io { path: shown.clone(), source })?;
                    Storage::Embedded(f32::blobs(&graph, &bytes, shown, dir)?)
                }
            };
            (graph, program, storage)
        }
        Precision::Int8 => {
            let net = crate::quant::Int8Graph::of(&lowered)?;
            let (program, table) = int8::program(&net, rt);
            let storage = match &options.weights {
                Weights::Loaded => Storage::Loaded,
                Weights::Embedded { path, shown, dir } => {
                    let bytes = std::fs::read(path)
                        .map_err(|source| mobilenet_layout::q8file::QFileError::Io { file: shown.clone(), source })?;
                    Storage::Embedded(int8::blobs(&table, &bytes, shown, dir)?)
                }
            };
            (net.graph, program, storage)
        }
    };
    let tokens = in_module(network::emit(&program, &storage, options), options);
    Ok(Generated { tokens, plan: Plan::of(&graph), graph })
}

/// `tokens`, in the hidden module `options.module` if set, with only the
/// type re-exported.
fn in_module(tokens: TokenStream, options: &Options) -> TokenStream {
    match &options.module {
        Some(module) => {
            let module = Ident::new(module, Span::call_site());
            let name = Ident::new(&options.type_name, Span::call_site());
            quote! {
                #[doc(hidden)]
                #[allow(non_snake_case)]
                mod #module {
                    #tokens
                }
                #[doc(inline)]
                pub use #module::#name;
            }
        }
        None => tokens,
    }
}

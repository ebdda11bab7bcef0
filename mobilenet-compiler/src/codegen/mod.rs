//! Code generation: optimized IR + memory plan -> a Rust type whose
//! `forward` runs the network with every shape and offset a constant and no
//! allocation.
//!
//! The emitted code is a straight sequence of calls to the kernels of
//! `mobilenet_runtime::kernels` (ordinary, unit-tested Rust), one per IR
//! node, on slices of the caller's input, output and arena at the offsets
//! the [`Plan`] chose, and of one weight buffer prepared at load time
//! ([`layout`]). Each call is preceded by the IR line it implements.

mod embed;
mod forward;
mod int8;
mod int8_embed;
mod layout;

pub use embed::{Blob, EmbedError, blob_dir, generate_embedded};

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::ir::Graph;
use crate::passes;
use crate::plan::{self, Plan};
use crate::spec::{Spec, SpecError};
use layout::{Layout, lit};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the generated type.
    pub type_name: String,
    /// Which optimization passes run.
    pub fusion: Fusion,
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
    pub fn new(type_name: impl Into<String>) -> Options {
        Options {
            type_name: type_name.into(),
            fusion: Fusion::Optimized,
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
        match syn::parse2::<syn::File>(self.tokens.clone()) {
            Ok(file) => prettyplease::unparse(&file),
            Err(e) => format!("// generated code does not parse: {e}\n{}", self.tokens),
        }
    }
}

/// Lowers, optimizes (as `options.fusion` says), plans and emits `spec`, for
/// weights loaded at run time.
pub fn generate(spec: &Spec, options: &Options) -> Result<Generated, SpecError> {
    Ok(emit(graph_of(spec, options)?, options))
}

/// The graph `options` compile `spec` to.
fn graph_of(spec: &Spec, options: &Options) -> Result<Graph, SpecError> {
    let graph = crate::lower(spec)?;
    Ok(match options.fusion {
        Fusion::Off => graph,
        Fusion::Optimized => passes::optimize(&graph),
        Fusion::EveryBlock => passes::optimize_with(&graph, passes::BlockFusion::Every),
    })
}

/// Why an int8 network could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum Int8Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Unsupported(#[from] crate::quant::Unsupported),
    /// The quantized-model file to embed is unreadable or does not match.
    #[error(transparent)]
    Weights(#[from] mobilenet_layout::q8file::QFileError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Lowers `spec` and emits its int8 network, which loads a quantized-model
/// file (`mobilenetc quantize`) at run time. `options.fusion` is ignored:
/// int8 networks are always folded and fused, blocks unfused.
pub fn generate_int8(spec: &Spec, options: &Options) -> Result<TokenStream, Int8Error> {
    let net = crate::quant::Int8Graph::of(&crate::lower(spec)?)?;
    Ok(in_module(int8::emit(&net, options, &int8::Weights::Loaded)?, options))
}

/// Like [`generate_int8`], with the quantized-model file `weights` (called
/// `shown` in errors) checked, packed for every int8 instruction set and
/// written to `dir` now, and compiled into the generated type, which then
/// has no load step (`const fn new`, no heap, no `std`).
pub fn generate_int8_embedded(
    spec: &Spec,
    options: &Options,
    weights: &std::path::Path,
    shown: &str,
    dir: &std::path::Path,
) -> Result<TokenStream, Int8Error> {
    let net = crate::quant::Int8Graph::of(&crate::lower(spec)?)?;
    let bytes = std::fs::read(weights)
        .map_err(|source| mobilenet_layout::q8file::QFileError::Io { file: shown.to_string(), source })?;
    let embedded = int8::Weights::Embedded { bytes: &bytes, shown, dir };
    Ok(in_module(int8::emit(&net, options, &embedded)?, options))
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

/// Where a network's weights come from.
#[derive(Debug, Clone)]
pub enum Storage {
    /// A weights file read at run time (`load`): the network allocates its
    /// prepared weights.
    Loaded,
    /// Prepared and packed at build time and compiled in, one blob per
    /// packing (see [`generate_embedded`]).
    Embedded(Vec<Blob>),
}

/// Emits the code of an already lowered (and possibly optimized) graph,
/// for weights loaded at run time.
pub fn emit(graph: Graph, options: &Options) -> Generated {
    emit_with(graph, options, &Storage::Loaded)
}

/// Emits the code of a graph whose weights come from `storage`.
pub fn emit_with(graph: Graph, options: &Options, storage: &Storage) -> Generated {
    let plan = Plan::of(&graph);
    let layout = Layout::of(&graph);
    let rt = &options.runtime;
    let name = Ident::new(&options.type_name, Span::call_site());

    let input_dims: Vec<_> = graph.input_shape().dims().into_iter().map(lit).collect();
    let output_dims: Vec<_> = graph.output_shape().dims().into_iter().map(lit).collect();
    let input_len = lit(graph.input_shape().len());
    let output_len = lit(graph.output_shape().len());
    let arena_len = lit(plan.arena_len);
    let weights_len = lit(layout.len);
    let rank_in = lit(input_dims.len());
    let tensors = layout.tensor_specs(rt);
    let prepare = layout.prepare_steps(&graph, rt);
    let steps = forward::steps(&graph, &plan, &layout, rt);
    let scratch_len = lit(plan.scratch.iter().flatten().map(|(_, len)| *len).max().unwrap_or(0));
    let timed = options.profile.then(|| {
        let names: Vec<String> = forward::step_nodes(&graph).map(|id| graph.node(id).name.clone()).collect();
        let count = lit(names.len());
        let timed_steps = steps.iter().enumerate().map(|(i, step)| {
            let i = lit(i);
            quote! {
                let started = ::std::time::Instant::now();
                #step
                times[#i] += started.elapsed().as_secs_f64();
            }
        });
        let observed_steps = steps.iter().zip(forward::step_nodes(&graph)).map(|(step, id)| {
            let name = &graph.node(id).name;
            let value = match plan.storage(id) {
                plan::Storage::Arena { offset, len } => {
                    let (start, end) = (lit(offset), lit(offset + len));
                    quote!(&arena[#start..#end])
                }
                plan::Storage::Output => quote!(&output[..]),
                plan::Storage::Input => quote!(&input[..]),
            };
            quote! {
                #step
                observe(#name, #value);
            }
        });
        quote! {
            /// The IR node each step of `forward` computes, in order.
            pub const STEP_NAMES: [&'static str; #count] = [#(#names),*];

            /// [`Self::forward`], calling `observe` after each step with the
            /// name of the IR node it computed and its value (what tests
            /// compare layer by layer with the reference interpreter).
            pub fn forward_observed(&self, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [f32; #arena_len], observe: &mut dyn FnMut(&str, &[f32])) {
                use #rt::kernels as k;
                let (w, isa): (&[f32], k::Isa) = self.parts();
                let e: &dyn #rt::exec::Exec = &#rt::exec::Serial;
                let scratch: &mut [f32] = &mut [];
                let _ = (&w, &isa, &e, &input, &arena, &scratch);
                #(#observed_steps)*
            }

            /// [`Self::forward`], adding each step's duration in seconds to `times`.
            pub fn forward_timed(&self, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [f32; #arena_len], times: &mut [f64; #count]) {
                self.forward_timed_on(&#rt::exec::Serial, input, output, arena, &mut [], times)
            }

            /// [`Self::forward_on`], adding each step's duration in seconds to `times`.
            pub fn forward_timed_on(&self, e: &dyn #rt::exec::Exec, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [f32; #arena_len], scratch: &mut [f32], times: &mut [f64; #count]) {
                assert!(scratch.len() >= e.threads() * Self::SCRATCH_LEN, "scratch needs threads * SCRATCH_LEN floats");
                use #rt::kernels as k;
                let (w, isa): (&[f32], k::Isa) = self.parts();
                let _ = (&w, &isa, &e, &input, &arena, &scratch);
                #(#timed_steps)*
            }
        }
    });

    let doc = format!(
        "`{}`, compiled by mobilenet-rs ({}): input `{}`, output `{}`, {} parameters, arena of {} floats.",
        graph.name,
        match options.fusion {
            Fusion::Off => "unfused",
            Fusion::Optimized => "fused",
            Fusion::EveryBlock => "every block fused",
        },
        graph.input_shape(),
        graph.output_shape(),
        layout.params,
        arena_len
    );

    let storage_items = match storage {
        Storage::Loaded => quote! {
            #[doc = #doc]
            pub struct #name {
                w: #rt::buffer::Buffer,
                isa: #rt::kernels::Isa,
            }

            #[allow(unused_doc_comments, clippy::all)]
            impl #name {
                /// The tensors the weights file must hold (names, shapes and
                /// layouts of the spec's framework: Keras or a torchvision state_dict).
                pub const TENSORS: &'static [#rt::weights::TensorSpec<'static>] = &[#(#tensors),*];
                /// How the weight buffer is prepared from [`Self::TENSORS`].
                const PREPARE: &'static [#rt::prepare::Step] = &[#(#prepare),*];

                /// Loads the weights from a safetensors file (named as the spec's
                /// framework names them), for the fastest kernels this CPU runs.
                pub fn load(path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<Self, #rt::weights::WeightError> {
                    Self::load_with(path, #rt::kernels::Isa::detect())
                }

                /// Like [`Self::load`], for the kernels of `isa`.
                pub fn load_with(path: impl ::core::convert::AsRef<::std::path::Path>, isa: #rt::kernels::Isa) -> ::core::result::Result<Self, #rt::weights::WeightError> {
                    let t = #rt::weights::load_file(path.as_ref(), Self::TENSORS)?;
                    Ok(Self::from_tensors(&t, isa))
                }

                /// Loads the weights from the bytes of a safetensors file.
                pub fn from_safetensors(bytes: &[u8]) -> ::core::result::Result<Self, #rt::weights::WeightError> {
                    Self::from_safetensors_with(bytes, #rt::kernels::Isa::detect())
                }

                /// Like [`Self::from_safetensors`], for the kernels of `isa`.
                pub fn from_safetensors_with(bytes: &[u8], isa: #rt::kernels::Isa) -> ::core::result::Result<Self, #rt::weights::WeightError> {
                    let t = #rt::weights::load_bytes("<safetensors bytes>", bytes, Self::TENSORS)?;
                    Ok(Self::from_tensors(&t, isa))
                }

                /// Prepares the kernels' weights: BatchNorm folded where fused,
                /// packed for `isa`. The only place the model allocates.
                fn from_tensors(t: &[#rt::weights::Tensor], isa: #rt::kernels::Isa) -> Self {
                    let mut w = #rt::buffer::Buffer::zeroed(#weights_len);
                    #rt::prepare::run(Self::PREPARE, t, &mut w, isa);
                    Self { w, isa }
                }

                /// The instruction set the kernels run with.
                pub fn isa(&self) -> #rt::kernels::Isa {
                    self.isa
                }

                /// The prepared weights and the kernels that read them.
                #[inline]
                fn parts(&self) -> (&[f32], #rt::kernels::Isa) {
                    (&self.w, self.isa)
                }

                /// A zeroed arena for [`Self::forward`], on the heap (in huge
                /// pages where the OS offers them); it derefs to the array.
                pub fn new_arena() -> #rt::buffer::Arena<#arena_len> {
                    #rt::buffer::Arena::new()
                }

                /// Zeroed scratch for [`Self::forward_on`] with `threads` threads.
                pub fn new_scratch(threads: usize) -> ::std::vec::Vec<f32> {
                    ::std::vec![0.0f32; threads * Self::SCRATCH_LEN]
                }
            }
        },
        Storage::Embedded(blobs) => embed::storage(&name, &doc, blobs, rt),
    };

    let tokens = quote! {
        #storage_items

        #[allow(unused_doc_comments, clippy::all)]
        impl #name {
            /// Input shape of one image, channels last.
            pub const INPUT_SHAPE: [usize; #rank_in] = [#(#input_dims),*];
            /// Floats in one input image.
            pub const INPUT_LEN: usize = #input_len;
            /// Output shape of one image.
            pub const OUTPUT_SHAPE: &'static [usize] = &[#(#output_dims),*];
            /// Floats in one output.
            pub const OUTPUT_LEN: usize = #output_len;
            /// Floats of scratch memory `forward` needs.
            pub const ARENA_LEN: usize = #arena_len;
            /// Floats of prepared weights the model holds.
            pub const WEIGHTS_LEN: usize = #weights_len;
            /// Floats of scratch per thread [`Self::forward_on`] needs.
            pub const SCRATCH_LEN: usize = #scratch_len;

            /// Runs the network on one image. Allocates nothing: every
            /// intermediate value lives in `arena`.
            pub fn forward(&self, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [f32; #arena_len]) {
                let (w, isa) = self.parts();
                Self::steps(w, isa, &#rt::exec::Serial, input, output, arena, &mut [])
            }

            /// Runs the network on one image with the threads of `exec`
            /// (a `mobilenet_runtime::exec::Pool`, created once), each
            /// kernel split between them. Allocates nothing; `scratch` holds
            /// `exec.threads() * SCRATCH_LEN` floats.
            pub fn forward_on(
                &self,
                exec: &dyn #rt::exec::Exec,
                input: &[f32; #input_len],
                output: &mut [f32; #output_len],
                arena: &mut [f32; #arena_len],
                scratch: &mut [f32],
            ) {
                assert!(scratch.len() >= exec.threads() * Self::SCRATCH_LEN, "scratch needs threads * SCRATCH_LEN floats");
                let (w, isa) = self.parts();
                Self::steps(w, isa, exec, input, output, arena, scratch)
            }

            /// The steps of a forward pass on the prepared weights `w`, with
            /// the kernels of `isa`. `scratch` is empty on one thread (blocks
            /// use their scratch in the arena), else one `SCRATCH_LEN` piece
            /// per thread of `e`.
            fn steps(w: &[f32], isa: #rt::kernels::Isa, e: &dyn #rt::exec::Exec, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [f32; #arena_len], scratch: &mut [f32]) {
                use #rt::kernels as k;
                let _ = (&w, &isa, &e, &input, &arena, &scratch);
                #(#steps)*
            }

            #timed
        }

        impl #rt::Network for #name {
            const INPUT_SHAPE: &'static [usize] = &[#(#input_dims),*];
            const OUTPUT_SHAPE: &'static [usize] = &[#(#output_dims),*];
            const INPUT_LEN: usize = #input_len;
            const OUTPUT_LEN: usize = #output_len;
            const ARENA_LEN: usize = #arena_len;
            const SCRATCH_LEN: usize = #scratch_len;

            fn run(&self, input: &[f32], output: &mut [f32], arena: &mut [f32]) {
                self.forward(
                    input.try_into().expect("input length is INPUT_LEN"),
                    output.try_into().expect("output length is OUTPUT_LEN"),
                    arena.try_into().expect("arena length is ARENA_LEN"),
                )
            }

            fn run_on(&self, exec: &dyn #rt::exec::Exec, input: &[f32], output: &mut [f32], arena: &mut [f32], scratch: &mut [f32]) {
                self.forward_on(
                    exec,
                    input.try_into().expect("input length is INPUT_LEN"),
                    output.try_into().expect("output length is OUTPUT_LEN"),
                    arena.try_into().expect("arena length is ARENA_LEN"),
                    scratch,
                )
            }
        }
    };
    let tokens = in_module(tokens, options);
    Generated { tokens, graph, plan }
}

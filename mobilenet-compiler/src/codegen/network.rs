//! The generated type, written once for both precisions and both weight
//! sources: a network is its steps (one kernel call each, on constant
//! slices of the input, output, arena and one weight buffer) and the
//! buffer's storage, loaded at run time or compiled in. What differs
//! between f32 and int8 is data in a [`Program`]: the element types, the
//! step code, the tables a load reads; the type around them is the same.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use super::arena::lit;
use super::{Options, Precision};

/// A network ready to emit: what [`super::f32`] or [`super::int8`] made
/// of its graph.
pub(super) struct Program {
    pub precision: Precision,
    /// The type's documentation.
    pub doc: String,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    /// Elements (floats, or bytes for int8) of the arena.
    pub arena_len: usize,
    /// Elements of the weight buffer.
    pub weights_len: usize,
    /// Elements of per-thread scratch of `forward_on`.
    pub scratch_len: usize,
    pub steps: Vec<StepCode>,
    /// The constants a load reads (f32: `TENSORS`, `PREPARE`; int8: `STEPS`).
    pub tables: TokenStream,
}

/// The code of one step of `forward`.
pub(super) struct StepCode {
    /// The IR node it computes.
    pub name: String,
    /// The IR line it implements (its doc comment).
    pub line: String,
    pub code: TokenStream,
    /// Its output, for `forward_observed` (int8 observes the u8 tensors only).
    pub value: Option<TokenStream>,
}

/// Where the weight buffer comes from.
pub(super) enum Storage {
    /// A weights file read at run time (`load`): the network allocates its
    /// prepared weights.
    Loaded,
    /// Prepared at build time and compiled in, one blob per weight layout.
    Embedded(Vec<super::embed::Blob>),
}

/// The tokens in which the two precisions differ.
struct Kinds {
    /// Arena and scratch element.
    elem: TokenStream,
    /// Weight buffer element.
    weight: TokenStream,
    /// The error of a load.
    error: TokenStream,
    /// The call that makes the weight buffer from `source` for `isa`.
    load: TokenStream,
    /// `use` lines the steps need.
    uses: TokenStream,
    /// The weight layout of `isa` (a `match` on it picks a compiled-in blob).
    layout_of: TokenStream,
    /// The compiled-in blob `W` as the weight slice.
    view: TokenStream,
}

impl Kinds {
    fn of(p: Precision, rt: &TokenStream) -> Kinds {
        match p {
            Precision::F32 => Kinds {
                elem: quote!(f32),
                weight: quote!(f32),
                error: quote!(#rt::weights::WeightError),
                load: quote!(#rt::model::f32_weights(source, Self::TENSORS, Self::PREPARE, Self::WEIGHTS_LEN, isa)),
                uses: quote!(use #rt::kernels as k;),
                layout_of: quote!(isa.packing()),
                view: quote!(W.floats()),
            },
            Precision::Int8 => Kinds {
                elem: quote!(u8),
                weight: quote!(u8),
                error: quote!(#rt::q8file::QFileError),
                load: quote!(#rt::model::int8_weights(source, Self::STEPS, Self::WEIGHTS_LEN, isa)),
                uses: quote!(use #rt::kernels as k; use #rt::kernels::q8 as k8;),
                layout_of: quote!(isa.qlayout()),
                view: quote!(W.bytes()),
            },
        }
    }
}

/// The generated type of `p`.
pub(super) fn emit(p: &Program, storage: &Storage, options: &Options) -> TokenStream {
    let rt = &options.runtime;
    let name = Ident::new(&options.type_name, Span::call_site());
    let kinds = Kinds::of(p.precision, rt);
    let storage = match storage {
        Storage::Loaded => loaded(p, &name, &kinds, rt),
        Storage::Embedded(blobs) => embedded(p, &name, &kinds, blobs, rt),
    };
    let constants = constants(p);
    let run = run(p, &kinds, rt);
    let profile = options.profile.then(|| profile(p, &kinds, rt));
    let network = network_impl(p, &name, &kinds, rt);
    quote! {
        #storage

        #[allow(unused_doc_comments, clippy::all)]
        impl #name {
            #constants
            #run
            #profile
        }

        #network
    }
}

/// The type with a weight buffer loaded at run time.
fn loaded(p: &Program, name: &Ident, k: &Kinds, rt: &TokenStream) -> TokenStream {
    let Kinds { weight, error, load, elem, .. } = k;
    let (doc, tables) = (&p.doc, &p.tables);
    let arena_len = lit(p.arena_len);
    quote! {
        #[doc = #doc]
        pub struct #name {
            w: #rt::buffer::Buffer<#weight>,
            isa: #rt::kernels::Isa,
        }

        #[allow(unused_doc_comments, clippy::all)]
        impl #name {
            #tables

            /// Loads the weights from a file, for the fastest kernels this CPU runs.
            pub fn load(path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<Self, #error> {
                Self::load_with(path, #rt::kernels::Isa::detect())
            }

            /// Like [`Self::load`], for the kernels of `isa`.
            pub fn load_with(path: impl ::core::convert::AsRef<::std::path::Path>, isa: #rt::kernels::Isa) -> ::core::result::Result<Self, #error> {
                Self::from_source(#rt::model::Source::File(path.as_ref()), isa)
            }

            /// Loads the weights from the bytes of their (safetensors) file.
            pub fn from_safetensors(bytes: &[u8]) -> ::core::result::Result<Self, #error> {
                Self::from_safetensors_with(bytes, #rt::kernels::Isa::detect())
            }

            /// Like [`Self::from_safetensors`], for the kernels of `isa`.
            pub fn from_safetensors_with(bytes: &[u8], isa: #rt::kernels::Isa) -> ::core::result::Result<Self, #error> {
                Self::from_source(#rt::model::Source::Bytes(bytes), isa)
            }

            /// Reads and prepares the weights for `isa`: the only place the
            /// network allocates.
            fn from_source(source: #rt::model::Source<'_>, isa: #rt::kernels::Isa) -> ::core::result::Result<Self, #error> {
                Ok(Self { w: #load?, isa })
            }

            /// The instruction set the kernels run with.
            pub fn isa(&self) -> #rt::kernels::Isa {
                self.isa
            }

            /// The prepared weights and the kernels that read them.
            #[inline]
            fn parts(&self) -> (&[#weight], #rt::kernels::Isa) {
                (&self.w, self.isa)
            }

            /// A zeroed arena for [`Self::forward`], on the heap (in huge
            /// pages where the OS offers them); it derefs to the array.
            pub fn new_arena() -> #rt::buffer::Arena<#elem, #arena_len> {
                #rt::buffer::Arena::new()
            }

            /// Zeroed scratch for [`Self::forward_on`] with `threads` threads.
            pub fn new_scratch(threads: usize) -> ::std::vec::Vec<#elem> {
                ::std::vec![Default::default(); threads * Self::SCRATCH_LEN]
            }
        }
    }
}

/// The type with its weights compiled in: a `const` value.
fn embedded(p: &Program, name: &Ident, k: &Kinds, blobs: &[super::embed::Blob], rt: &TokenStream) -> TokenStream {
    let Kinds { weight, layout_of, view, .. } = k;
    let doc = format!("{} Weights compiled in.", p.doc);
    let arms = blobs.iter().map(|b| {
        let (path, len) = (b.path.display().to_string(), lit(b.bytes));
        let variant = b.layout.tokens(rt);
        let cfg = b.layout.cfg();
        quote! {
            #cfg
            #variant => {
                static W: #rt::embed::Aligned<#len> = #rt::embed::Aligned(*include_bytes!(#path));
                #view
            }
        }
    });
    quote! {
        #[doc = #doc]
        ///
        /// A `const` value: `static NET: T = T::new();` needs no load step,
        /// no heap and no `std`.
        #[derive(Debug, Clone, Copy)]
        pub struct #name {
            isa: ::core::option::Option<#rt::kernels::Isa>,
        }

        #[allow(unused_doc_comments, clippy::all)]
        impl #name {
            /// The network, on the fastest kernels the CPU runs
            /// (`Isa::best`, checked at each call).
            pub const fn new() -> Self {
                Self { isa: ::core::option::Option::None }
            }

            /// The network on the kernels of `isa`.
            pub const fn with_isa(isa: #rt::kernels::Isa) -> Self {
                Self { isa: ::core::option::Option::Some(isa) }
            }

            /// The instruction set the kernels run with.
            pub fn isa(&self) -> #rt::kernels::Isa {
                match self.isa {
                    ::core::option::Option::Some(isa) => isa,
                    ::core::option::Option::None => #rt::kernels::Isa::best(),
                }
            }

            /// The compiled-in weights of the layout the kernels read, and the kernels.
            #[inline]
            fn parts(&self) -> (&'static [#weight], #rt::kernels::Isa) {
                let isa = self.isa();
                // Only the layouts this target's kernels read are compiled in,
                // and an `Isa` exists only for kernels the CPU runs.
                #[allow(unreachable_patterns)]
                let w = match #layout_of {
                    #(#arms)*
                    _ => unreachable!("no weights for the kernels of {}", isa),
                };
                (w, isa)
            }
        }

        impl ::core::default::Default for #name {
            fn default() -> Self {
                Self::new()
            }
        }
    }
}

/// The shapes and sizes.
fn constants(p: &Program) -> TokenStream {
    let input_dims = p.input_shape.iter().map(|&d| lit(d));
    let output_dims = p.output_shape.iter().map(|&d| lit(d));
    let rank_in = lit(p.input_shape.len());
    let (input_len, output_len) = (lit(p.input_shape.iter().product()), lit(p.output_shape.iter().product()));
    let (arena_len, weights_len, scratch_len) = (lit(p.arena_len), lit(p.weights_len), lit(p.scratch_len));
    let unit = match p.precision {
        Precision::F32 => "Floats",
        Precision::Int8 => "Bytes",
    };
    let (arena_doc, weights_doc, scratch_doc) = (
        format!(" {unit} of scratch memory `forward` needs."),
        format!(" {unit} of prepared weights the model holds."),
        format!(" {unit} of scratch per thread [`Self::forward_on`] needs."),
    );
    quote! {
        /// Input shape of one image, channels last.
        pub const INPUT_SHAPE: [usize; #rank_in] = [#(#input_dims),*];
        /// Floats in one input image.
        pub const INPUT_LEN: usize = #input_len;
        /// Output shape of one image.
        pub const OUTPUT_SHAPE: &'static [usize] = &[#(#output_dims),*];
        /// Floats in one output.
        pub const OUTPUT_LEN: usize = #output_len;
        #[doc = #arena_doc]
        pub const ARENA_LEN: usize = #arena_len;
        #[doc = #weights_doc]
        pub const WEIGHTS_LEN: usize = #weights_len;
        #[doc = #scratch_doc]
        pub const SCRATCH_LEN: usize = #scratch_len;
    }
}

/// The signature of `forward`'s buffers.
fn buffers(p: &Program, k: &Kinds) -> TokenStream {
    let (input_len, output_len) = (lit(p.input_shape.iter().product()), lit(p.output_shape.iter().product()));
    let (arena_len, elem) = (lit(p.arena_len), &k.elem);
    quote!(input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [#elem; #arena_len])
}

/// `forward`, `forward_on` and the steps they run.
fn run(p: &Program, k: &Kinds, rt: &TokenStream) -> TokenStream {
    let buffers = buffers(p, k);
    let Kinds { elem, weight, uses, .. } = k;
    let steps = p.steps.iter().map(step_tokens);
    quote! {
        /// Runs the network on one image. Allocates nothing: every
        /// intermediate value lives in `arena`.
        pub fn forward(&self, #buffers) {
            let (w, isa) = self.parts();
            Self::steps(w, isa, &#rt::exec::Serial, input, output, arena, &mut [])
        }

        /// Runs the network on one image with the threads of `exec` (a
        /// `mobilenet_runtime::exec::Pool`, created once), each kernel split
        /// between them; the same bits whatever the number of threads.
        /// Allocates nothing; `scratch` holds `exec.threads() * SCRATCH_LEN`
        /// values.
        pub fn forward_on(&self, exec: &dyn #rt::exec::Exec, #buffers, scratch: &mut [#elem]) {
            assert!(scratch.len() >= exec.threads() * Self::SCRATCH_LEN, "scratch needs threads * SCRATCH_LEN values");
            let (w, isa) = self.parts();
            Self::steps(w, isa, exec, input, output, arena, scratch)
        }

        /// The steps of a forward pass on the prepared weights `w`, with
        /// the kernels of `isa`. `scratch` is empty on one thread (blocks
        /// use their scratch in the arena), else one `SCRATCH_LEN` piece per
        /// thread of `e`.
        fn steps(w: &[#weight], isa: #rt::kernels::Isa, e: &dyn #rt::exec::Exec, #buffers, scratch: &mut [#elem]) {
            #uses
            let _ = (&w, &isa, &e, &input, &arena, &scratch);
            #(#steps)*
        }
    }
}

/// A step with its IR line as a doc comment.
fn step_tokens(s: &StepCode) -> TokenStream {
    let (line, code) = (format!(" {}", s.line), &s.code);
    quote! {
        #[doc = #line]
        {
            #code
        }
    }
}

/// `STEP_NAMES`, `forward_observed`, `forward_timed`, `forward_timed_on`.
fn profile(p: &Program, k: &Kinds, rt: &TokenStream) -> TokenStream {
    let buffers = buffers(p, k);
    let Kinds { elem, uses, .. } = k;
    let names = p.steps.iter().map(|s| &s.name);
    let count = lit(p.steps.len());
    let observed = p.steps.iter().map(|s| {
        let step = step_tokens(s);
        let observe = s.value.as_ref().map(|v| {
            let name = &s.name;
            quote!(observe(#name, #v);)
        });
        quote!(#step #observe)
    });
    let timed = p.steps.iter().enumerate().map(|(i, s)| {
        let (i, step) = (lit(i), step_tokens(s));
        quote! {
            let started = ::std::time::Instant::now();
            #step
            times[#i] += started.elapsed().as_secs_f64();
        }
    });
    let observed_doc = match p.precision {
        Precision::F32 => "after each step",
        Precision::Int8 => "after each step that writes a u8 tensor",
    };
    let observed_doc = format!(
        " [`Self::forward`], calling `observe` {observed_doc} with the name of the IR node it computed and its \
         value (what tests compare layer by layer with the reference interpreter)."
    );
    quote! {
        /// The IR node each step of `forward` computes, in order.
        pub const STEP_NAMES: [&'static str; #count] = [#(#names),*];

        #[doc = #observed_doc]
        pub fn forward_observed(&self, #buffers, observe: &mut dyn FnMut(&str, &[#elem])) {
            #uses
            let (w, isa) = self.parts();
            let e: &dyn #rt::exec::Exec = &#rt::exec::Serial;
            let scratch: &mut [#elem] = &mut [];
            let _ = (&w, &isa, &e, &input, &arena, &scratch);
            #(#observed)*
        }

        /// [`Self::forward`], adding each step's duration in seconds to `times`.
        pub fn forward_timed(&self, #buffers, times: &mut [f64; #count]) {
            self.forward_timed_on(&#rt::exec::Serial, input, output, arena, &mut [], times)
        }

        /// [`Self::forward_on`], adding each step's duration in seconds to `times`.
        pub fn forward_timed_on(&self, e: &dyn #rt::exec::Exec, #buffers, scratch: &mut [#elem], times: &mut [f64; #count]) {
            assert!(scratch.len() >= e.threads() * Self::SCRATCH_LEN, "scratch needs threads * SCRATCH_LEN values");
            #uses
            let (w, isa) = self.parts();
            let _ = (&w, &isa, &e, &input, &arena, &scratch);
            #(#timed)*
        }
    }
}

/// `impl Network`: slice-based access for code generic over networks.
fn network_impl(p: &Program, name: &Ident, k: &Kinds, rt: &TokenStream) -> TokenStream {
    let input_dims = p.input_shape.iter().map(|&d| lit(d));
    let output_dims = p.output_shape.iter().map(|&d| lit(d));
    let elem = &k.elem;
    let expect = |what: &str| format!("{what} length is {}", what.to_uppercase() + "_LEN");
    let (e_in, e_out, e_arena) = (expect("input"), expect("output"), expect("arena"));
    let forward = format_ident!("forward");
    quote! {
        impl #rt::Network for #name {
            type Elem = #elem;
            const INPUT_SHAPE: &'static [usize] = &[#(#input_dims),*];
            const OUTPUT_SHAPE: &'static [usize] = &[#(#output_dims),*];
            const INPUT_LEN: usize = Self::INPUT_LEN;
            const OUTPUT_LEN: usize = Self::OUTPUT_LEN;
            const ARENA_LEN: usize = Self::ARENA_LEN;
            const SCRATCH_LEN: usize = Self::SCRATCH_LEN;

            fn isa(&self) -> #rt::kernels::Isa {
                #name::isa(self)
            }

            fn run(&self, input: &[f32], output: &mut [f32], arena: &mut [#elem]) {
                self.#forward(
                    input.try_into().expect(#e_in),
                    output.try_into().expect(#e_out),
                    arena.try_into().expect(#e_arena),
                )
            }

            fn run_on(&self, exec: &dyn #rt::exec::Exec, input: &[f32], output: &mut [f32], arena: &mut [#elem], scratch: &mut [#elem]) {
                self.forward_on(
                    exec,
                    input.try_into().expect(#e_in),
                    output.try_into().expect(#e_out),
                    arena.try_into().expect(#e_arena),
                    scratch,
                )
            }
        }
    }
}

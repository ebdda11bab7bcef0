//! Code generation of int8 networks: an [`Int8Graph`] -> a type whose
//! `forward` quantizes its float input into the arena, runs the int8
//! kernels of `mobilenet_runtime::kernels::q8` with every shape a
//! constant, and writes float logits.
//!
//! The arena is bytes: the memory plan of the graph (its element counts
//! are bytes for u8 tensors), then the quantized input, then (only for a
//! regular conv whose window exceeds the kernel's on-stack band) im2col rows. Weights come from a
//! quantized-model file at load time (`mobilenet_runtime::q8model`),
//! described to it by the `STEPS` table this module emits, or are packed
//! from that file now and compiled in ([`super::int8_embed`]); either way
//! `forward` reads them through `mobilenet_runtime::q8layers::Layers`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use mobilenet_runtime::q8model::QStep;

use super::forward::{Borrows, act, dims, option};
use super::layout::lit;
use super::{Int8Error, Options, int8_embed};
use crate::ir::{Act, ConvKind, DenseAct, NodeId, Op, Shape};
use crate::plan::{Plan, Storage};
use crate::quant::{Int8Graph, Role};

/// Where an int8 network's weights come from.
pub enum Weights<'a> {
    /// A quantized-model file, loaded at run time (`load`, `from_bytes`).
    Loaded,
    /// The bytes of one, packed now and compiled in; `shown` names it in
    /// errors, packed blobs go to `dir`.
    Embedded { bytes: &'a [u8], shown: &'a str, dir: &'a std::path::Path },
}

/// What one weighted step reads from the quantized-model file: the values
/// of a [`QStep`], owned, so that the build can pack embedded weights with
/// them and emit them as the `STEPS` table.
enum StepData {
    Input {
        node: String,
        rescale: Option<(f32, f32)>,
    },
    Gemm {
        layer: String,
        shape: Vec<usize>,
        k: usize,
        n: usize,
        im2col: bool,
        x: String,
        y: Option<String>,
        act: Option<Act>,
        residual: Option<String>,
    },
    Depthwise {
        layer: String,
        shape: Vec<usize>,
        taps: usize,
        c: usize,
        x: String,
        y: String,
        act: Option<Act>,
    },
    Pool {
        x: String,
        y: String,
        pixels: usize,
    },
}

impl StepData {
    fn view(&self) -> QStep<'_> {
        match self {
            StepData::Input { node, rescale } => QStep::Input { node, rescale: *rescale },
            StepData::Gemm { layer, shape, k, n, im2col, x, y, act, residual } => QStep::Gemm {
                layer,
                shape,
                k: *k,
                n: *n,
                im2col: *im2col,
                x,
                y: y.as_deref(),
                act: *act,
                residual: residual.as_deref(),
            },
            StepData::Depthwise { layer, shape, taps, c, x, y, act } => {
                QStep::Depthwise { layer, shape, taps: *taps, c: *c, x, y, act: *act }
            }
            StepData::Pool { x, y, pixels } => QStep::Pool { x, y, pixels: *pixels },
        }
    }

    /// The `q::QStep` expression.
    fn tokens(&self) -> TokenStream {
        let names = |v: &Option<String>| option(v.as_ref().map(|n| quote!(#n)));
        match self {
            StepData::Input { node, rescale } => {
                let rescale = option(rescale.map(|(s, o)| quote!((#s, #o))));
                quote!(q::QStep::Input { node: #node, rescale: #rescale })
            }
            StepData::Gemm { layer, shape, k, n, im2col, x, y, act: a, residual } => {
                let shape = shape.iter().map(|&v| lit(v));
                let (kl, nl, y, rn, a) = (lit(*k), lit(*n), names(y), names(residual), option(a.map(act)));
                quote!(q::QStep::Gemm {
                    layer: #layer, shape: &[#(#shape),*], k: #kl, n: #nl, im2col: #im2col,
                    x: #x, y: #y, act: #a, residual: #rn,
                })
            }
            StepData::Depthwise { layer, shape, taps, c, x, y, act: a } => {
                let shape = shape.iter().map(|&v| lit(v));
                let (taps, cl, a) = (lit(*taps), lit(*c), option(a.map(act)));
                quote!(q::QStep::Depthwise {
                    layer: #layer, shape: &[#(#shape),*], taps: #taps, c: #cl, x: #x, y: #y, act: #a,
                })
            }
            StepData::Pool { x, y, pixels } => {
                let pixels = lit(*pixels);
                quote!(q::QStep::Pool { x: #x, y: #y, pixels: #pixels })
            }
        }
    }
}

/// Arena regions beyond the plan.
struct Regions {
    /// The quantized input.
    input: (usize, usize),
    /// im2col rows (`pixels * kpad` bytes for the largest regular conv).
    col: (usize, usize),
    len: usize,
}

fn align(v: usize) -> usize {
    v.next_multiple_of(64)
}

/// Bytes of im2col rows a regular conv needs in the arena: none when its
/// window (`k` rounded up to a multiple of 4, the most any instruction set
/// pads to) fits the kernel's on-stack band (`k8::conv2d`), else every row.
fn col_len(k: usize, pixels: usize) -> usize {
    let kpad = k.next_multiple_of(4);
    if kpad <= 4096 { 0 } else { kpad * pixels }
}

/// Emits the int8 network `net`.
pub fn emit(net: &Int8Graph, options: &Options, weights: &Weights<'_>) -> Result<TokenStream, Int8Error> {
    let g = &net.graph;
    let plan = Plan::of(g);
    let rt = &options.runtime;
    let name = Ident::new(&options.type_name, Span::call_site());
    let input_len = g.input_shape().len();
    let mut col = 0;
    for id in g.ids() {
        let node = g.node(id);
        if let Op::Conv(c) = &node.op
            && c.kind == ConvKind::Regular
            && !c.is_pointwise()
        {
            let (oh, ow, _) = dims(node.shape);
            col = col.max(col_len((c.kernel[0] * c.kernel[1] * c.in_channels) as usize, oh * ow));
        }
    }
    let input_at = align(plan.arena_len);
    let col_at = align(input_at + input_len);
    let r = Regions { input: (input_at, input_len), col: (col_at, col), len: col_at + col };

    let read_of = |id: NodeId| -> Storage {
        let src = net.source(id);
        if src == net.input { Storage::Arena { offset: r.input.0, len: r.input.1 } } else { plan.storage(src) }
    };

    let mut table = Vec::new();
    let mut steps = Vec::new();
    let mut observed = Vec::new();
    let mut step_names = Vec::new();
    let (mut n_gemm, mut n_dw, mut n_pool) = (0usize, 0usize, 0usize);
    let name_of = |id: NodeId| g.node(net.source(id)).name.clone();
    for id in g.ids() {
        let node = g.node(id);
        let role = net.role(id);
        let mut writes = Vec::new();
        let own = match role {
            Role::Quantized => match plan.storage(id) {
                Storage::Arena { offset, len } => Some((offset, len)),
                _ => unreachable!("quantized nodes live in the arena"),
            },
            Role::Input if id == net.input => Some(r.input),
            _ => None,
        };
        writes.extend(own);
        let im2col = matches!(&node.op, Op::Conv(c) if c.kind == ConvKind::Regular && !c.is_pointwise());
        if im2col && r.col.1 > 0 {
            writes.push(r.col);
        }
        let mut b = Borrows::new(writes, false);
        let y = own.map(|(o, _)| b.write(o));
        let call = match role {
            Role::Alias => continue,
            Role::Input if id != net.input => continue,
            Role::Input => {
                table.push(StepData::Input { node: node.name.clone(), rescale: net.rescale });
                quote!(k8::quantize(p.input().0, p.input().1, &input[..], #y);)
            }
            Role::Softmax => {
                if matches!(&g.node(net.tail).op, Op::Dense(d) if d.activation == Some(DenseAct::Softmax)) {
                    continue;
                }
                quote!(k::softmax_in_place(&mut output[..]);)
            }
            Role::Tail => {
                let x = b.read(read_of(node.inputs[0]));
                let (layer, shape, k, n, pixels) = match &node.op {
                    Op::Conv(c) => {
                        let (h, w, cin) = dims(g.node(node.inputs[0]).shape);
                        (&c.layer, c.kernel_shape(), cin, c.out_channels as usize, h * w)
                    }
                    Op::Dense(d) => (
                        &d.layer,
                        vec![d.in_features as usize, d.units as usize],
                        d.in_features as usize,
                        d.units as usize,
                        1,
                    ),
                    _ => unreachable!("the tail is a conv or dense layer"),
                };
                let (kl, nl, pl) = (lit(k), lit(n), lit(pixels));
                table.push(StepData::Gemm {
                    layer: layer.clone(),
                    shape,
                    k,
                    n,
                    im2col: false,
                    x: name_of(node.inputs[0]),
                    y: None,
                    act: None,
                    residual: None,
                });
                let i = lit(n_gemm);
                n_gemm += 1;
                let softmax = matches!(&node.op, Op::Dense(d) if d.activation == Some(DenseAct::Softmax))
                    .then(|| quote!(k::softmax_in_place(&mut output[..]);));
                quote! {
                    let l = p.gemm(#i);
                    k8::pointwise_f32(isa, #pl, #kl, #nl, #x, &l.w, &l.bias, &l.mult, &mut output[..]);
                    #softmax
                }
            }
            Role::Quantized => {
                let y = y.expect("quantized nodes write");
                let x = b.read(read_of(node.inputs[0]));
                let xn = name_of(node.inputs[0]);
                let yn = node.name.clone();
                let in_shape = g.node(node.inputs[0]).shape;
                match &node.op {
                    Op::Conv(c) => {
                        let (h, w, cin) = dims(in_shape);
                        let (oh, ow, cout) = dims(node.shape);
                        let shape = c.kernel_shape();
                        let layer = c.layer.clone();
                        let [kh, kw] = c.kernel.map(|v| lit(v as usize));
                        let [sh, sw] = c.stride.map(|v| lit(v as usize));
                        let (pt, pleft) = (lit(c.padding.top as usize), lit(c.padding.left as usize));
                        let geom = {
                            let (h, w, cin, oh, ow, cout) = (lit(h), lit(w), lit(cin), lit(oh), lit(ow), lit(cout));
                            quote!(&k::ConvGeom::new([#h, #w, #cin], [#oh, #ow, #cout], [#kh, #kw], [#sh, #sw], [#pt, #pleft]))
                        };
                        match c.kind {
                            ConvKind::Depthwise { .. } => {
                                let taps = (c.kernel[0] * c.kernel[1]) as usize;
                                table.push(StepData::Depthwise {
                                    layer,
                                    shape,
                                    taps,
                                    c: cout,
                                    x: xn,
                                    y: yn,
                                    act: c.activation,
                                });
                                let i = lit(n_dw);
                                n_dw += 1;
                                quote! {
                                    let l = p.depthwise(#i);
                                    k8::depthwise(e, isa, #geom, #x, l.x_zp, &l.w, &l.bias, &l.requant(), #y);
                                }
                            }
                            ConvKind::Regular => {
                                let residual = c.residual.then(|| b.read(read_of(node.inputs[1])));
                                let k = if im2col { (c.kernel[0] * c.kernel[1]) as usize * cin } else { cin };
                                let (kl, nl) = (lit(k), lit(cout));
                                table.push(StepData::Gemm {
                                    layer,
                                    shape,
                                    k,
                                    n: cout,
                                    im2col,
                                    x: xn,
                                    y: Some(yn),
                                    act: c.activation,
                                    residual: c.residual.then(|| name_of(node.inputs[1])),
                                });
                                let i = lit(n_gemm);
                                n_gemm += 1;
                                let pixels = lit(oh * ow);
                                let residual = option(residual);
                                if im2col {
                                    let col = if r.col.1 > 0 {
                                        let w = b.write(r.col.0);
                                        quote!(#w)
                                    } else {
                                        quote!(&mut [])
                                    };
                                    quote! {
                                        let l = p.gemm(#i);
                                        k8::conv2d(e, isa, #geom, #x, l.x_zp, l.kpad, &l.w, &l.bias, &l.requant(#residual), #col, #y);
                                    }
                                } else {
                                    quote! {
                                        let l = p.gemm(#i);
                                        k8::pointwise(e, isa, #pixels, #kl, #nl, #x, &l.w, &l.bias, &l.requant(#residual), #y);
                                    }
                                }
                            }
                        }
                    }
                    Op::GlobalPool { .. } => {
                        let Shape::Map { h, w, c } = in_shape else { unreachable!("pools read maps") };
                        table.push(StepData::Pool { x: xn, y: yn, pixels: (h * w) as usize });
                        let pixels = lit((h * w) as usize);
                        let c = lit(c as usize);
                        let i = lit(n_pool);
                        n_pool += 1;
                        quote! {
                            let l = p.pool(#i);
                            k8::global_avg_pool(#pixels, #c, #x, l.x_zp, l.mult, l.zp, #y);
                        }
                    }
                    _ => unreachable!("Int8Graph::of admits only convs and average pools"),
                }
            }
        };
        let prelude = b.prelude();
        step_names.push(node.name.clone());
        let line = format!(" {}", g.line(id));
        steps.push(quote! {
            #[doc = #line]
            {
                #prelude
                #call
            }
        });
        if let Some((o, l)) = own {
            let (a, z) = (lit(o), lit(o + l));
            let n = &node.name;
            observed.push(quote!(observe(#n, &arena[#a..#z]);));
        } else {
            observed.push(quote!());
        }
    }

    let input_dims: Vec<_> = g.input_shape().dims().into_iter().map(lit).collect();
    let output_dims: Vec<_> = g.output_shape().dims().into_iter().map(lit).collect();
    let rank_in = lit(input_dims.len());
    let (input_len, output_len, arena_len) = (lit(input_len), lit(g.output_shape().len()), lit(r.len));
    let doc = format!(
        "`{}`, compiled by mobilenet-rs (int8): input `{}` (float), output `{}` (float), arena of {} bytes.",
        g.name,
        g.input_shape(),
        g.output_shape(),
        r.len
    );
    let profile = options.profile.then(|| {
        let observed_steps = steps.iter().zip(&observed).map(|(s, o)| quote!(#s #o));
        let count = lit(step_names.len());
        let timed_steps = steps.iter().enumerate().map(|(i, step)| {
            let i = lit(i);
            quote! {
                let started = ::std::time::Instant::now();
                #step
                times[#i] += started.elapsed().as_secs_f64();
            }
        });
        quote! {
            /// The IR node each step of `forward` computes, in order.
            pub const STEP_NAMES: [&'static str; #count] = [#(#step_names),*];

            /// [`Self::forward_on`], adding each step's duration in seconds to `times`.
            pub fn forward_timed_on(&self, e: &dyn #rt::exec::Exec, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [u8; #arena_len], times: &mut [f64; #count]) {
                use #rt::kernels as k;
                use #rt::kernels::q8 as k8;
                use #rt::q8layers::Layers as _;
                let p = &self.layers();
                let isa = p.isa();
                let _ = (&p, &isa, &e);
                #(#timed_steps)*
            }

            /// [`Self::forward`], calling `observe` after each step that
            /// writes a u8 tensor with its IR node's name and bytes (what
            /// tests compare with the integer reference interpreter).
            pub fn forward_observed(&self, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [u8; #arena_len], observe: &mut dyn FnMut(&str, &[u8])) {
                use #rt::kernels as k;
                use #rt::kernels::q8 as k8;
                use #rt::q8layers::Layers as _;
                let p = &self.layers();
                let isa = p.isa();
                let e: &dyn #rt::exec::Exec = &#rt::exec::Serial;
                let _ = (&p, &isa, &e);
                #(#observed_steps)*
            }
        }
    });
    let table_tokens = table.iter().map(StepData::tokens);
    let storage = match weights {
        Weights::Loaded => quote! {
            #[doc = #doc]
            pub struct #name {
                p: #rt::q8model::Prepared,
            }

            #[allow(unused_doc_comments, clippy::all)]
            impl #name {
                /// Loads an int8 model made by `mobilenetc quantize` for this
                /// spec, for the fastest int8 kernels this CPU runs.
                pub fn load(path: impl ::core::convert::AsRef<::std::path::Path>) -> ::core::result::Result<Self, #rt::q8file::QFileError> {
                    Self::load_with(path, #rt::kernels::q8::QIsa::detect())
                }

                /// Like [`Self::load`], for the kernels of `isa`.
                pub fn load_with(path: impl ::core::convert::AsRef<::std::path::Path>, isa: #rt::kernels::q8::QIsa) -> ::core::result::Result<Self, #rt::q8file::QFileError> {
                    Ok(Self { p: #rt::q8model::Prepared::load(path.as_ref(), Self::STEPS, isa)? })
                }

                /// Loads the int8 model from the bytes of its file.
                pub fn from_bytes(bytes: &[u8]) -> ::core::result::Result<Self, #rt::q8file::QFileError> {
                    Self::from_bytes_with(bytes, #rt::kernels::q8::QIsa::detect())
                }

                /// Like [`Self::from_bytes`], for the kernels of `isa`.
                pub fn from_bytes_with(bytes: &[u8], isa: #rt::kernels::q8::QIsa) -> ::core::result::Result<Self, #rt::q8file::QFileError> {
                    Ok(Self { p: #rt::q8model::Prepared::from_bytes("<int8 model bytes>", bytes, Self::STEPS, isa)? })
                }

                /// The instruction set the int8 kernels run with.
                pub fn isa(&self) -> #rt::kernels::q8::QIsa {
                    self.p.isa
                }

                /// The prepared layers.
                #[inline]
                fn layers(&self) -> &#rt::q8model::Prepared {
                    &self.p
                }

                /// A zeroed arena for [`Self::forward`], on the heap.
                pub fn new_arena() -> ::std::boxed::Box<[u8; #arena_len]> {
                    match ::std::vec![0u8; #arena_len].into_boxed_slice().try_into() {
                        Ok(a) => a,
                        Err(_) => unreachable!("the vector has ARENA_LEN bytes"),
                    }
                }
            }
        },
        Weights::Embedded { bytes, shown, dir } => {
            let steps: Vec<QStep<'_>> = table.iter().map(StepData::view).collect();
            int8_embed::storage(&name, &doc, &steps, bytes, shown, dir, rt)?
        }
    };
    Ok(quote! {
        #storage

        #[allow(unused_doc_comments, clippy::all)]
        impl #name {
            /// What each weighted step reads from the quantized-model file.
            pub const STEPS: &'static [#rt::q8layers::QStep<'static>] = {
                use #rt::q8layers as q;
                use #rt::kernels as k;
                &[#(#table_tokens),*]
            };
            /// Input shape of one image, channels last.
            pub const INPUT_SHAPE: [usize; #rank_in] = [#(#input_dims),*];
            /// Floats in one input image.
            pub const INPUT_LEN: usize = #input_len;
            /// Output shape of one image.
            pub const OUTPUT_SHAPE: &'static [usize] = &[#(#output_dims),*];
            /// Floats in one output.
            pub const OUTPUT_LEN: usize = #output_len;
            /// Bytes of scratch memory `forward` needs.
            pub const ARENA_LEN: usize = #arena_len;

            /// Runs the network on one image: quantizes it, runs the int8
            /// layers, writes float logits (or probabilities). Allocates nothing.
            pub fn forward(&self, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [u8; #arena_len]) {
                Self::steps(&self.layers(), &#rt::exec::Serial, input, output, arena)
            }

            /// [`Self::forward`] with each kernel split between the threads
            /// of `exec` (a `mobilenet_runtime::exec::Pool`); the same bytes
            /// whatever the thread count.
            pub fn forward_on(&self, exec: &dyn #rt::exec::Exec, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [u8; #arena_len]) {
                Self::steps(&self.layers(), exec, input, output, arena)
            }

            fn steps<P: #rt::q8layers::Layers>(p: &P, e: &dyn #rt::exec::Exec, input: &[f32; #input_len], output: &mut [f32; #output_len], arena: &mut [u8; #arena_len]) {
                use #rt::kernels as k;
                use #rt::kernels::q8 as k8;
                let isa = p.isa();
                let _ = (&isa, &e);
                #(#steps)*
            }

            #profile
        }
    })
}

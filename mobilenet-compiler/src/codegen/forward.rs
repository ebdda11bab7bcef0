//! The body of `forward`: one kernel call per IR node, on constant slices of
//! the input, output, arena and weights.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::layout::{Layout, Slot, lit};
use crate::ir::{Act, Conv, ConvKind, DenseAct, Graph, NodeId, Op, Pool, Shape};
use crate::plan::{Plan, Storage, block_geom};
use mobilenet_layout::geom::Expansion;

/// The nodes that take a step of `forward` (not the input, not views).
pub(super) fn step_nodes(graph: &Graph) -> impl Iterator<Item = NodeId> + '_ {
    graph.ids().filter(|&id| !matches!(graph.node(id).op, Op::Input) && !Plan::is_alias(graph, id))
}

/// How a step borrows the arena: the regions it writes (its output, its
/// scratch) are split off as `&mut` slices, everything it reads comes from
/// the pieces between them (the plan never lets them overlap).
pub(super) struct Borrows {
    /// `(offset, len)` of the written regions, by offset.
    writes: Vec<(usize, usize)>,
    /// Which of the pieces between writes are read (`gap0`, `gap1`, ...).
    used_gaps: Vec<bool>,
    /// The output is the caller's output buffer.
    to_output: bool,
}

impl Borrows {
    pub(super) fn new(mut writes: Vec<(usize, usize)>, to_output: bool) -> Borrows {
        writes.sort();
        let gaps = writes.len() + 1;
        Borrows { writes, used_gaps: vec![false; gaps], to_output }
    }

    /// A read of `s`.
    pub(super) fn read(&mut self, s: Storage) -> TokenStream {
        match s {
            Storage::Input => quote!(&input[..]),
            Storage::Output => unreachable!("the output is written last and never read"),
            Storage::Arena { offset, len } => {
                if self.writes.is_empty() {
                    let (a, b) = (lit(offset), lit(offset + len));
                    return quote!(&arena[#a..#b]);
                }
                // The gap holding [offset, offset + len): after the writes ending at or before it.
                let gap = self.writes.iter().take_while(|(o, l)| o + l <= offset).count();
                let start = if gap == 0 { 0 } else { self.writes[gap - 1].0 + self.writes[gap - 1].1 };
                assert!(
                    gap == self.writes.len() || offset + len <= self.writes[gap].0,
                    "the plan never overlaps what a step reads and writes"
                );
                self.used_gaps[gap] = true;
                let name = gap_name(gap);
                let (a, b) = (lit(offset - start), lit(offset - start + len));
                quote!(&#name[#a..#b])
            }
        }
    }

    /// The write slice of region `offset`.
    pub(super) fn write(&self, offset: usize) -> proc_macro2::Ident {
        let i = self.writes.iter().position(|(o, _)| *o == offset).expect("a written region");
        quote::format_ident!("w{}", i)
    }

    /// `let` statements splitting the arena, to put before the call.
    pub(super) fn prelude(&self) -> TokenStream {
        let mut out = TokenStream::new();
        if self.to_output {
            out.extend(quote!(let y: &mut [f32] = &mut output[..];));
        }
        if self.writes.is_empty() {
            return out;
        }
        let mut at = 0;
        out.extend(quote!(let rest = &mut arena[..];));
        for (i, (offset, len)) in self.writes.iter().enumerate() {
            let gap = if self.used_gaps[i] { gap_name(i) } else { quote::format_ident!("_") };
            let w = quote::format_ident!("w{}", i);
            let (skip, n) = (lit(offset - at), lit(*len));
            out.extend(quote! {
                let (#gap, rest) = rest.split_at_mut(#skip);
                let (#w, rest) = rest.split_at_mut(#n);
            });
            at = offset + len;
        }
        let last = gap_name(self.writes.len());
        if self.used_gaps[self.writes.len()] {
            out.extend(quote!(let #last = rest;));
        } else {
            out.extend(quote!(let _ = rest;));
        }
        out
    }
}

fn gap_name(i: usize) -> proc_macro2::Ident {
    quote::format_ident!("gap{}", i)
}

/// `k::Act::..`.
pub(super) fn act(a: Act) -> TokenStream {
    match a {
        Act::Relu => quote!(k::Act::Relu),
        Act::Relu6 => quote!(k::Act::Relu6),
        Act::Sigmoid => quote!(k::Act::Sigmoid),
        Act::HardSigmoid => quote!(k::Act::HardSigmoid),
        Act::HardSwish => quote!(k::Act::HardSwish),
    }
}

/// `k::Epilogue::new(bias, act, residual)`.
fn epilogue(bias: TokenStream, a: Option<Act>, residual: Option<TokenStream>) -> TokenStream {
    let (a, residual) = (option(a.map(act)), option(residual));
    quote!(k::Epilogue::new(#bias, #a, #residual))
}

pub(super) fn dims(s: Shape) -> (usize, usize, usize) {
    match s {
        Shape::Map { h, w, c } => (h as usize, w as usize, c as usize),
        Shape::Vector { n } => (1, 1, n as usize),
    }
}

/// `dims` as unsuffixed literals.
fn dim_lits(s: Shape) -> (Literal, Literal, Literal) {
    let (h, w, c) = dims(s);
    (lit(h), lit(w), lit(c))
}

pub(super) fn option(t: Option<TokenStream>) -> TokenStream {
    match t {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    }
}

/// `k::Stage { .. }` of a block's conv, with the block's residual if it
/// is the projection of a residual block.
fn stage(c: &Conv, (kernel, bias): (Slot, Slot), residual: Option<TokenStream>) -> TokenStream {
    let (w, epi) = (kernel.read(), epilogue(bias.read(), c.activation, residual));
    quote!(k::Stage { w: #w, epi: #epi })
}

pub(super) fn steps(graph: &Graph, plan: &Plan, layout: &Layout, _rt: &TokenStream) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for id in step_nodes(graph) {
        let node = graph.node(id);
        let mut writes = Vec::new();
        let to_output = match plan.storage(id) {
            Storage::Output => true,
            Storage::Arena { offset, len } => {
                writes.push((offset, len));
                false
            }
            Storage::Input => unreachable!("only the input lives in the input buffer"),
        };
        let scratch = plan.scratch[id.index()];
        if let Some(s) = scratch {
            writes.push(s);
        }
        let mut b = Borrows::new(writes, to_output);
        let y = match plan.storage(id) {
            Storage::Arena { offset, .. } => {
                let w = b.write(offset);
                quote!(#w)
            }
            _ => quote!(y),
        };
        let mut input = |i: usize| b.read(plan.storage(node.inputs[i]));
        let in_shape = |i: usize| graph.node(node.inputs[i]).shape;
        let nw = &layout.nodes[id.index()];
        let call = match &node.op {
            Op::Input | Op::Flatten => unreachable!("skipped"),
            Op::Conv(c) => {
                let x = input(0);
                let residual = c.residual.then(|| input(1));
                let (kernel, bias) = nw.layer();
                let kernel = kernel.read();
                let epi = epilogue(bias.read(), c.activation, residual);
                let pixels = lit(dims(in_shape(0)).0 * dims(in_shape(0)).1);
                let (h, w, cin) = dim_lits(in_shape(0));
                let (oh, ow, cout) = dim_lits(node.shape);
                let [kh, kw] = c.kernel.map(|v| lit(v as usize));
                let [sh, sw] = c.stride.map(|v| lit(v as usize));
                let (pt, pl) = (lit(c.padding.top as usize), lit(c.padding.left as usize));
                let geom =
                    quote!(&k::ConvGeom::new([#h, #w, #cin], [#oh, #ow, #cout], [#kh, #kw], [#sh, #sw], [#pt, #pl]));
                match c.kind {
                    // The multiplier is `cout / cin` of the geometry.
                    ConvKind::Depthwise { .. } => quote!(k::depthwise(e, isa, #geom, #x, #kernel, #epi, #y);),
                    ConvKind::Regular if c.is_pointwise() => {
                        let geom = quote!(&k::PointwiseGeom::new(#pixels, #cin, #cout));
                        quote!(k::pointwise(e, isa, #geom, #x, #kernel, #epi, #y);)
                    }
                    ConvKind::Regular => quote!(k::conv2d(e, isa, #geom, #x, #kernel, #epi, #y);),
                }
            }
            Op::Block(blk) => {
                let x = input(0);
                let residual = blk.residual().then(|| input(1));
                let g = block_geom(graph, id).expect("a block node");
                let [h, w, cin, e, oh, ow, cout, k, s, pt, pl] =
                    [g.h, g.w, g.cin, g.e, g.oh, g.ow, g.cout, g.k, g.s, g.pad_top, g.pad_left].map(lit);
                let project = g.project;
                let expand = match g.expand {
                    Expansion::None => quote!(k::Expansion::None),
                    Expansion::Pointwise => quote!(k::Expansion::Pointwise),
                    Expansion::Conv(c) => {
                        let [h, w, kk, s, pt, pl] = [c.h, c.w, c.k, c.s, c.pad_top, c.pad_left].map(lit);
                        quote!(k::Expansion::Conv(k::ExpandConv { h: #h, w: #w, k: #kk, s: #s, pad_top: #pt, pad_left: #pl }))
                    }
                };
                let mut layers = nw.layers.iter().copied();
                let ex = option(blk.expand.as_ref().map(|c| stage(c, layers.next().expect("laid out"), None)));
                let dw = stage(&blk.depthwise, layers.next().expect("laid out"), None);
                let pr = option(blk.project.as_ref().map(|c| stage(c, layers.next().expect("laid out"), residual)));
                let (so, _) = scratch.expect("blocks have scratch");
                let own = b.write(so);
                quote! {
                    let s: &mut [f32] = if scratch.is_empty() { #own } else { &mut scratch[..] };
                    k::block(
                        e,
                        isa,
                        &k::BlockGeom { h: #h, w: #w, cin: #cin, e: #e, oh: #oh, ow: #ow, cout: #cout, k: #k, s: #s, pad_top: #pt, pad_left: #pl, expand: #expand, project: #project },
                        #x, &k::Stages { expand: #ex, depthwise: #dw, project: #pr }, s, #y,
                    );
                }
            }
            Op::BatchNorm(bn) => {
                let x = input(0);
                let c = lit(bn.channels as usize);
                let (scale, shift) = (nw.scale.expect("laid out").read(), nw.shift.expect("laid out").read());
                quote!(k::batch_norm(#c, #x, #scale, #shift, #y);)
            }
            Op::Activation(a) => {
                let x = input(0);
                let a = act(*a);
                quote!(k::activation(#a, #x, #y);)
            }
            Op::Rescale { scale, offset } => {
                let x = input(0);
                quote!(k::rescale(#scale, #offset, #x, #y);)
            }
            Op::ZeroPad(p) => {
                let x = input(0);
                let (h, w, c) = dim_lits(in_shape(0));
                let [t, bo, l, r] = [p.top, p.bottom, p.left, p.right].map(|v| lit(v as usize));
                quote!(k::zero_pad(#h, #w, #c, [#t, #bo, #l, #r], #x, #y);)
            }
            Op::Add => {
                let (a, bb) = (input(0), input(1));
                quote!(k::add(#a, #bb, #y);)
            }
            Op::Mul => {
                let (x, gate) = (input(0), input(1));
                let c = lit(node.shape.channels() as usize);
                quote!(k::mul_gate(#c, #x, #gate, #y);)
            }
            Op::GlobalPool { pool, .. } => {
                let x = input(0);
                let (h, w, c) = dims(in_shape(0));
                let (pixels, c) = (lit(h * w), lit(c));
                match pool {
                    Pool::Avg => quote!(k::global_avg_pool(#pixels, #c, #x, #y);),
                    Pool::Max => quote!(k::global_max_pool(#pixels, #c, #x, #y);),
                }
            }
            Op::Dense(d) => {
                let x = input(0);
                let (kernel, bias) = nw.layer();
                let (kernel, bias) = (kernel.read(), bias.read());
                let (inputs, units) = (lit(d.in_features as usize), lit(d.units as usize));
                // A dense layer is a 1x1 convolution of one pixel.
                let geom = quote!(&k::PointwiseGeom::new(1, #inputs, #units));
                let elementwise = match d.activation {
                    Some(DenseAct::Elementwise(a)) => Some(a),
                    Some(DenseAct::Softmax) | None => None,
                };
                let epi = epilogue(bias, elementwise, None);
                let call = quote!(k::pointwise(e, isa, #geom, #x, #kernel, #epi, #y););
                match d.activation {
                    Some(DenseAct::Softmax) => quote! {
                        #call
                        k::softmax_in_place(#y);
                    },
                    _ => call,
                }
            }
            Op::Softmax => {
                let x = input(0);
                quote!(k::softmax(#x, #y);)
            }
        };
        let prelude = b.prelude();
        let line = format!(" {}", graph.line(id));
        out.push(quote! {
            #[doc = #line]
            {
                #prelude
                #call
            }
        });
    }
    out
}

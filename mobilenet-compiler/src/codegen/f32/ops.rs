//! The kernel call of each op kind of a float network: one function per
//! kind, each with its own snapshot test (`codegen/tests.rs`).

use proc_macro2::TokenStream;
use quote::quote;

use super::layout::{NodeWeights, Slot};
use crate::codegen::arena::{Borrows, act, conv_geom, dim_lits, dims, lit, option, pointwise_geom};
use crate::ir::{Act, Block, Conv, ConvKind, Dense, DenseAct, Graph, Node, NodeId, Op, Padding, Pool, Shape};
use crate::plan::{Plan, block_geom};
use mobilenet_layout::geom::Expansion;

/// One step being written: its node, how it borrows the arena, its weights.
pub(super) struct At<'a> {
    pub graph: &'a Graph,
    pub id: NodeId,
    pub node: &'a Node,
    pub plan: &'a Plan,
    pub nw: &'a NodeWeights,
    pub b: Borrows,
    /// The output slice.
    pub y: TokenStream,
}

impl At<'_> {
    /// A read of input `i`.
    fn input(&mut self, i: usize) -> TokenStream {
        self.b.read(self.plan.storage(self.node.inputs[i]))
    }

    fn in_shape(&self, i: usize) -> Shape {
        self.graph.node(self.node.inputs[i]).shape
    }
}

/// The kernel call of the step at `at`.
pub(super) fn call(at: &mut At<'_>) -> TokenStream {
    match &at.node.op {
        Op::Input | Op::Flatten => unreachable!("no step"),
        Op::Conv(c) => conv(at, c),
        Op::Block(blk) => block(at, blk),
        Op::BatchNorm(bn) => batch_norm(at, bn.channels as usize),
        Op::Activation(a) => activation(at, *a),
        Op::Rescale { scale, offset } => rescale(at, *scale, *offset),
        Op::ZeroPad(p) => zero_pad(at, p),
        Op::Add => add(at),
        Op::Mul => mul_gate(at),
        Op::GlobalPool { pool, .. } => global_pool(at, *pool),
        Op::Dense(d) => dense(at, d),
        Op::Softmax => softmax(at),
    }
}

/// `k::Epilogue::new(bias, act, residual)`.
fn epilogue(bias: TokenStream, a: Option<Act>, residual: Option<TokenStream>) -> TokenStream {
    let (a, residual) = (option(a.map(act)), option(residual));
    quote!(k::Epilogue::new(#bias, #a, #residual))
}

/// A conv: depthwise, pointwise (a GEMM) or regular (the stem).
pub(super) fn conv(at: &mut At<'_>, c: &Conv) -> TokenStream {
    let x = at.input(0);
    let residual = c.residual.then(|| at.input(1));
    let (kernel, bias) = at.nw.layer();
    let (kernel, epi) = (kernel.read(), epilogue(bias.read(), c.activation, residual));
    let (input, y) = (at.in_shape(0), &at.y);
    let geom = conv_geom(c, input, at.node.shape);
    match c.kind {
        // The multiplier is `cout / cin` of the geometry.
        ConvKind::Depthwise { .. } => quote!(k::depthwise(e, isa, #geom, #x, #kernel, #epi, #y);),
        ConvKind::Regular if c.is_pointwise() => {
            let (h, w, cin) = dims(input);
            let geom = pointwise_geom(h * w, cin, c.out_channels as usize);
            quote!(k::pointwise(e, isa, #geom, #x, #kernel, #epi, #y);)
        }
        ConvKind::Regular => quote!(k::conv2d(e, isa, #geom, #x, #kernel, #epi, #y);),
    }
}

/// `k::Stage { .. }` of a block's conv, with the block's residual if it
/// is the projection of a residual block.
fn stage(c: &Conv, (kernel, bias): (Slot, Slot), residual: Option<TokenStream>) -> TokenStream {
    let (w, epi) = (kernel.read(), epilogue(bias.read(), c.activation, residual));
    quote!(k::Stage { w: #w, epi: #epi })
}

/// `&k::BlockGeom { .. }` of a fused block.
fn block_geom_tokens(g: &mobilenet_layout::geom::BlockGeom) -> TokenStream {
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
    quote!(&k::BlockGeom {
        h: #h, w: #w, cin: #cin, e: #e, oh: #oh, ow: #ow, cout: #cout, k: #k, s: #s,
        pad_top: #pt, pad_left: #pl, expand: #expand, project: #project
    })
}

/// A fused inverted-residual block: one call, its scratch in the arena on
/// one thread, per thread in `scratch` on several.
pub(super) fn block(at: &mut At<'_>, blk: &Block) -> TokenStream {
    let x = at.input(0);
    let residual = blk.residual().then(|| at.input(1));
    let g = block_geom(at.graph, at.id).expect("a block node");
    let mut layers = at.nw.layers.iter().copied();
    let ex = option(blk.expand.as_ref().map(|c| stage(c, layers.next().expect("laid out"), None)));
    let dw = stage(&blk.depthwise, layers.next().expect("laid out"), None);
    let pr = option(blk.project.as_ref().map(|c| stage(c, layers.next().expect("laid out"), residual)));
    let (so, _) = at.plan.scratch[at.id.index()].expect("blocks have scratch");
    let own = at.b.write(so);
    let (geom, y) = (block_geom_tokens(&g), &at.y);
    quote! {
        let s: &mut [f32] = if scratch.is_empty() { #own } else { &mut scratch[..] };
        k::block(e, isa, #geom, #x, &k::Stages { expand: #ex, depthwise: #dw, project: #pr }, s, #y);
    }
}

/// A standalone BatchNorm (not folded: nothing before it to fold into).
pub(super) fn batch_norm(at: &mut At<'_>, channels: usize) -> TokenStream {
    let x = at.input(0);
    let c = lit(channels);
    let (scale, shift) = (at.nw.scale.expect("laid out").read(), at.nw.shift.expect("laid out").read());
    let y = &at.y;
    quote!(k::batch_norm(#c, #x, #scale, #shift, #y);)
}

/// A standalone activation (not fused).
pub(super) fn activation(at: &mut At<'_>, a: Act) -> TokenStream {
    let x = at.input(0);
    let (a, y) = (act(a), &at.y);
    quote!(k::activation(#a, #x, #y);)
}

/// Keras' `Rescaling` (v3 with `include_preprocessing`).
pub(super) fn rescale(at: &mut At<'_>, scale: f32, offset: f32) -> TokenStream {
    let x = at.input(0);
    let y = &at.y;
    quote!(k::rescale(#scale, #offset, #x, #y);)
}

/// Explicit zero padding (where it could not be folded into a conv).
pub(super) fn zero_pad(at: &mut At<'_>, p: &Padding) -> TokenStream {
    let x = at.input(0);
    let (h, w, c) = dim_lits(at.in_shape(0));
    let [t, bo, l, r] = [p.top, p.bottom, p.left, p.right].map(|v| lit(v as usize));
    let y = &at.y;
    quote!(k::zero_pad(#h, #w, #c, [#t, #bo, #l, #r], #x, #y);)
}

/// A residual add (not fused).
pub(super) fn add(at: &mut At<'_>) -> TokenStream {
    let (a, b) = (at.input(0), at.input(1));
    let y = &at.y;
    quote!(k::add(#a, #b, #y);)
}

/// Squeeze-excite's channel gate.
pub(super) fn mul_gate(at: &mut At<'_>) -> TokenStream {
    let (x, gate) = (at.input(0), at.input(1));
    let c = lit(at.node.shape.channels() as usize);
    let y = &at.y;
    quote!(k::mul_gate(#c, #x, #gate, #y);)
}

/// Global average or max pooling.
pub(super) fn global_pool(at: &mut At<'_>, pool: Pool) -> TokenStream {
    let x = at.input(0);
    let (h, w, c) = dims(at.in_shape(0));
    let (pixels, c, y) = (lit(h * w), lit(c), &at.y);
    match pool {
        Pool::Avg => quote!(k::global_avg_pool(#pixels, #c, #x, #y);),
        Pool::Max => quote!(k::global_max_pool(#pixels, #c, #x, #y);),
    }
}

/// A dense layer: a 1x1 convolution of one pixel, then its softmax if it has one.
pub(super) fn dense(at: &mut At<'_>, d: &Dense) -> TokenStream {
    let x = at.input(0);
    let (kernel, bias) = at.nw.layer();
    let (kernel, bias) = (kernel.read(), bias.read());
    let geom = pointwise_geom(1, d.in_features as usize, d.units as usize);
    let elementwise = match d.activation {
        Some(DenseAct::Elementwise(a)) => Some(a),
        Some(DenseAct::Softmax) | None => None,
    };
    let (epi, y) = (epilogue(bias, elementwise, None), &at.y);
    let call = quote!(k::pointwise(e, isa, #geom, #x, #kernel, #epi, #y););
    match d.activation {
        Some(DenseAct::Softmax) => quote! {
            #call
            k::softmax_in_place(#y);
        },
        _ => call,
    }
}

/// A standalone softmax.
pub(super) fn softmax(at: &mut At<'_>) -> TokenStream {
    let x = at.input(0);
    let y = &at.y;
    quote!(k::softmax(#x, #y);)
}

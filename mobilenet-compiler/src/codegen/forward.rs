//! The body of `forward`: one kernel call per IR node, on constant slices of
//! the input, output, arena and weights.

use proc_macro2::TokenStream;
use quote::quote;

use super::layout::{Layout, lit};
use crate::ir::{Act, ConvKind, DenseAct, Graph, Op, Pool, Shape};
use crate::plan::{Plan, Storage};

/// Where the current step writes.
#[derive(Clone, Copy)]
enum Write {
    Output,
    Arena { offset: usize, len: usize },
}

/// Slices a step reads, relative to the borrows its write leaves.
struct Reads {
    write: Write,
    lo: bool,
    hi: bool,
}

impl Reads {
    fn value(&mut self, s: Storage) -> TokenStream {
        match (s, self.write) {
            (Storage::Input, _) => quote!(&input[..]),
            (Storage::Output, _) => unreachable!("the output is written last and never read"),
            (Storage::Arena { offset, len }, Write::Output) => {
                let (a, b) = (lit(offset), lit(offset + len));
                quote!(&arena[#a..#b])
            }
            (Storage::Arena { offset, len }, Write::Arena { offset: w, len: wl }) => {
                if offset + len <= w {
                    self.lo = true;
                    let (a, b) = (lit(offset), lit(offset + len));
                    quote!(&lo[#a..#b])
                } else {
                    assert!(offset >= w + wl, "the plan never overlaps a step's input and output");
                    self.hi = true;
                    let (a, b) = (lit(offset - w - wl), lit(offset - w - wl + len));
                    quote!(&hi[#a..#b])
                }
            }
        }
    }
}

fn act(a: Option<Act>) -> TokenStream {
    match a {
        None => quote!(k::Act::Identity),
        Some(Act::Relu) => quote!(k::Act::Relu),
        Some(Act::Relu6) => quote!(k::Act::Relu6),
        Some(Act::Sigmoid) => quote!(k::Act::Sigmoid),
        Some(Act::HardSigmoid) => quote!(k::Act::HardSigmoid),
        Some(Act::HardSwish) => quote!(k::Act::HardSwish),
    }
}

fn dims(s: Shape) -> (usize, usize, usize) {
    match s {
        Shape::Map { h, w, c } => (h as usize, w as usize, c as usize),
        Shape::Vector { n } => (1, 1, n as usize),
    }
}

/// `dims` as unsuffixed literals.
fn dim_lits(s: Shape) -> (proc_macro2::Literal, proc_macro2::Literal, proc_macro2::Literal) {
    let (h, w, c) = dims(s);
    (lit(h), lit(w), lit(c))
}

fn option(t: Option<TokenStream>) -> TokenStream {
    match t {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    }
}

fn slot(s: Option<super::layout::Slot>) -> TokenStream {
    s.expect("laid out").read()
}

/// The nodes that take a step of `forward` (not the input, not views).
pub(super) fn step_nodes(graph: &Graph) -> impl Iterator<Item = crate::ir::NodeId> + '_ {
    graph.ids().filter(|&id| !matches!(graph.node(id).op, Op::Input) && !Plan::is_alias(graph, id))
}

pub(super) fn steps(graph: &Graph, plan: &Plan, layout: &Layout, _rt: &TokenStream) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for id in step_nodes(graph) {
        let node = graph.node(id);
        let write = match plan.storage(id) {
            Storage::Output => Write::Output,
            Storage::Arena { offset, len } => Write::Arena { offset, len },
            Storage::Input => unreachable!("only the input lives in the input buffer"),
        };
        let mut reads = Reads { write, lo: false, hi: false };
        let mut input = |i: usize| reads.value(plan.storage(node.inputs[i]));
        let in_shape = |i: usize| graph.node(node.inputs[i]).shape;
        let nw = layout.nodes[id.index()];
        let call = match &node.op {
            Op::Input | Op::Flatten => unreachable!("skipped"),
            Op::Conv(c) => {
                let x = input(0);
                let residual = option(c.residual.then(|| input(1)));
                let (kernel, bias) = (slot(nw.kernel), slot(nw.bias));
                let a = act(c.activation);
                let pixels = lit(dims(in_shape(0)).0 * dims(in_shape(0)).1);
                let (h, w, cin) = dim_lits(in_shape(0));
                let (oh, ow, cout) = dim_lits(node.shape);
                let [kh, kw] = c.kernel.map(|v| lit(v as usize));
                let [sh, sw] = c.stride.map(|v| lit(v as usize));
                let (pt, pl) = (lit(c.padding.top as usize), lit(c.padding.left as usize));
                let geom =
                    quote!(&k::ConvGeom::new([#h, #w, #cin], [#oh, #ow, #cout], [#kh, #kw], [#sh, #sw], [#pt, #pl]));
                match c.kind {
                    ConvKind::Depthwise { multiplier } => {
                        let m = lit(multiplier as usize);
                        quote!(k::depthwise(isa, #geom, #m, #x, #kernel, #bias, #a, #residual, y);)
                    }
                    ConvKind::Regular if c.is_pointwise() => {
                        quote!(k::pointwise(isa, #pixels, #cin, #cout, #x, #kernel, #bias, #a, #residual, y);)
                    }
                    ConvKind::Regular => quote!(k::conv2d(isa, #geom, #x, #kernel, #bias, #a, #residual, y);),
                }
            }
            Op::BatchNorm(bn) => {
                let x = input(0);
                let c = lit(bn.channels as usize);
                let (scale, shift) = (nw.scale.expect("laid out").read(), nw.shift.expect("laid out").read());
                quote!(k::batch_norm(#c, #x, #scale, #shift, y);)
            }
            Op::Activation(a) => {
                let x = input(0);
                let a = act(Some(*a));
                quote!(k::activation(#a, #x, y);)
            }
            Op::Rescale { scale, offset } => {
                let x = input(0);
                quote!(k::rescale(#scale, #offset, #x, y);)
            }
            Op::ZeroPad(p) => {
                let x = input(0);
                let (h, w, c) = dim_lits(in_shape(0));
                let [t, b, l, r] = [p.top, p.bottom, p.left, p.right].map(|v| lit(v as usize));
                quote!(k::zero_pad(#h, #w, #c, [#t, #b, #l, #r], #x, y);)
            }
            Op::Add => {
                let (a, b) = (input(0), input(1));
                quote!(k::add(#a, #b, y);)
            }
            Op::Mul => {
                let (x, gate) = (input(0), input(1));
                let c = lit(node.shape.channels() as usize);
                quote!(k::mul_gate(#c, #x, #gate, y);)
            }
            Op::GlobalPool { pool, .. } => {
                let x = input(0);
                let (h, w, c) = dims(in_shape(0));
                let (pixels, c) = (lit(h * w), lit(c));
                match pool {
                    Pool::Avg => quote!(k::global_avg_pool(#pixels, #c, #x, y);),
                    Pool::Max => quote!(k::global_max_pool(#pixels, #c, #x, y);),
                }
            }
            Op::Dense(d) => {
                let x = input(0);
                let (kernel, bias) = (slot(nw.kernel), slot(nw.bias));
                let (inputs, units) = (lit(d.in_features as usize), lit(d.units as usize));
                match d.activation {
                    Some(DenseAct::Softmax) => quote! {
                        k::dense(isa, #inputs, #units, #x, #kernel, #bias, k::Act::Identity, y);
                        k::softmax_in_place(y);
                    },
                    Some(DenseAct::Elementwise(a)) => {
                        let a = act(Some(a));
                        quote!(k::dense(isa, #inputs, #units, #x, #kernel, #bias, #a, y);)
                    }
                    None => quote!(k::dense(isa, #inputs, #units, #x, #kernel, #bias, k::Act::Identity, y);),
                }
            }
            Op::Softmax => {
                let x = input(0);
                quote!(k::softmax(#x, y);)
            }
        };
        let prelude = match write {
            Write::Output => quote!(let y: &mut [f32] = &mut output[..];),
            Write::Arena { offset, len } => {
                let lo = if reads.lo { quote!(lo) } else { quote!(_) };
                let hi = if reads.hi { quote!(hi) } else { quote!(_) };
                let (offset, len) = (lit(offset), lit(len));
                quote! {
                    let (#lo, rest) = arena.split_at_mut(#offset);
                    let (y, #hi) = rest.split_at_mut(#len);
                }
            }
        };
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

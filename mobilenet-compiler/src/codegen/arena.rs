//! What the steps of both precisions share: how a step borrows the arena,
//! and small token helpers.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ir::{Graph, NodeId, Op, Shape};
use crate::plan::{Plan, Storage};

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

pub(super) fn dims(s: Shape) -> (usize, usize, usize) {
    match s {
        Shape::Map { h, w, c } => (h as usize, w as usize, c as usize),
        Shape::Vector { n } => (1, 1, n as usize),
    }
}

/// `dims` as unsuffixed literals.
pub(super) fn dim_lits(s: Shape) -> (Literal, Literal, Literal) {
    let (h, w, c) = dims(s);
    (lit(h), lit(w), lit(c))
}

pub(super) fn option(t: Option<TokenStream>) -> TokenStream {
    match t {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    }
}

/// An unsuffixed integer literal (`12`, not `12usize`), for readable code.
pub(super) fn lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

/// `&k::ConvGeom::new(..)` of a conv from an `[h, w, cin]` map to `[oh, ow, cout]`.
pub(super) fn conv_geom(c: &crate::ir::Conv, input: Shape, output: Shape) -> TokenStream {
    let (h, w, cin) = dim_lits(input);
    let (oh, ow, cout) = dim_lits(output);
    let [kh, kw] = c.kernel.map(|v| lit(v as usize));
    let [sh, sw] = c.stride.map(|v| lit(v as usize));
    let (pt, pl) = (lit(c.padding.top as usize), lit(c.padding.left as usize));
    quote!(&k::ConvGeom::new([#h, #w, #cin], [#oh, #ow, #cout], [#kh, #kw], [#sh, #sw], [#pt, #pl]))
}

/// `&k::PointwiseGeom::new(pixels, cin, cout)`.
pub(super) fn pointwise_geom(pixels: usize, cin: usize, cout: usize) -> TokenStream {
    let (p, i, o) = (lit(pixels), lit(cin), lit(cout));
    quote!(&k::PointwiseGeom::new(#p, #i, #o))
}

/// `k::Act::..`.
pub(super) fn act(a: crate::ir::Act) -> TokenStream {
    use crate::ir::Act;
    match a {
        Act::Relu => quote!(k::Act::Relu),
        Act::Relu6 => quote!(k::Act::Relu6),
        Act::Sigmoid => quote!(k::Act::Sigmoid),
        Act::HardSigmoid => quote!(k::Act::HardSigmoid),
        Act::HardSwish => quote!(k::Act::HardSwish),
    }
}

//! The table of an int8 network's weighted steps: what each reads from the
//! quantized-model file and where its record sits in the weight blob
//! (`mobilenet_layout::q8prep::QStep`, owned here so that the build can
//! pack compiled-in weights with it and emit it as the `STEPS` constant).

use proc_macro2::TokenStream;
use quote::quote;

use mobilenet_layout::q8prep::QStep;

use crate::codegen::arena::{act, lit, option};
use crate::ir::Act;

/// One step's data, owned ([`QStep`] borrows its names).
#[derive(Debug, Clone)]
pub(in crate::codegen) enum StepData {
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

/// The steps in order, each with its record's offset.
#[derive(Debug, Default)]
pub(in crate::codegen) struct Table {
    steps: Vec<(StepData, usize)>,
    /// Bytes of the blob so far.
    pub len: usize,
}

impl Table {
    /// Adds a step; returns where its record starts.
    pub fn push(&mut self, data: StepData) -> usize {
        let at = self.len;
        self.len += view(&data, at).record().len;
        self.steps.push((data, at));
        at
    }

    /// The steps as the layout crate's [`QStep`]s.
    pub fn views(&self) -> Vec<QStep<'_>> {
        self.steps.iter().map(|(d, at)| view(d, *at)).collect()
    }

    /// The `STEPS` constant's elements.
    pub fn tokens(&self, rt: &TokenStream) -> Vec<TokenStream> {
        self.steps.iter().map(|(d, at)| tokens(d, *at, rt)).collect()
    }
}

fn view(d: &StepData, at: usize) -> QStep<'_> {
    match d {
        StepData::Input { node, rescale } => QStep::Input { node, rescale: *rescale, at },
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
            at,
        },
        StepData::Depthwise { layer, shape, taps, c, x, y, act } => {
            QStep::Depthwise { layer, shape, taps: *taps, c: *c, x, y, act: *act, at }
        }
        StepData::Pool { x, y, pixels } => QStep::Pool { x, y, pixels: *pixels, at },
    }
}

/// The `q::QStep` expression of a step.
fn tokens(d: &StepData, at: usize, rt: &TokenStream) -> TokenStream {
    let names = |v: &Option<String>| option(v.as_ref().map(|n| quote!(#n)));
    let at = lit(at);
    let q = quote!(#rt::q8prep::QStep);
    match d {
        StepData::Input { node, rescale } => {
            let rescale = option(rescale.map(|(s, o)| quote!((#s, #o))));
            quote!(#q::Input { node: #node, rescale: #rescale, at: #at })
        }
        StepData::Gemm { layer, shape, k, n, im2col, x, y, act: a, residual } => {
            let shape = shape.iter().map(|&v| lit(v));
            let (kl, nl, y, rn, a) = (lit(*k), lit(*n), names(y), names(residual), option(a.map(act)));
            quote!(#q::Gemm {
                layer: #layer, shape: &[#(#shape),*], k: #kl, n: #nl, im2col: #im2col,
                x: #x, y: #y, act: #a, residual: #rn, at: #at,
            })
        }
        StepData::Depthwise { layer, shape, taps, c, x, y, act: a } => {
            let shape = shape.iter().map(|&v| lit(v));
            let (taps, cl, a) = (lit(*taps), lit(*c), option(a.map(act)));
            quote!(#q::Depthwise {
                layer: #layer, shape: &[#(#shape),*], taps: #taps, c: #cl, x: #x, y: #y, act: #a, at: #at,
            })
        }
        StepData::Pool { x, y, pixels } => {
            let pixels = lit(*pixels);
            quote!(#q::Pool { x: #x, y: #y, pixels: #pixels, at: #at })
        }
    }
}

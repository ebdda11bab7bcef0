//! The kernel call of each kind of int8 step: one function per kind, each
//! with its own snapshot test (`codegen/tests.rs`). Each step also adds its
//! entry to the [`Table`] (what it reads from the quantized-model file) and
//! reads its layer from the blob at the entry's offset.

use proc_macro2::TokenStream;
use quote::quote;

use super::table::{StepData, Table};
use crate::codegen::arena::{Borrows, conv_geom, dims, lit, option, pointwise_geom};
use crate::ir::{Conv, ConvKind, DenseAct, Node, Op, Shape};
use crate::plan::{Plan, Storage};
use crate::quant::Int8Graph;
use mobilenet_layout::q8pack::im2col_kpad;

/// One step being written.
pub(super) struct At<'a> {
    pub net: &'a Int8Graph,
    pub node: &'a Node,
    pub plan: &'a Plan,
    /// The quantized input's region of the arena.
    pub input: (usize, usize),
    pub b: Borrows,
    /// The step's u8 output slice, if it writes one.
    pub y: Option<TokenStream>,
    pub table: &'a mut Table,
}

impl At<'_> {
    /// A read of input `i`'s tensor (through flattens; the quantized input for the input).
    fn read(&mut self, i: usize) -> TokenStream {
        let src = self.net.source(self.node.inputs[i]);
        let s = if src == self.net.input {
            Storage::Arena { offset: self.input.0, len: self.input.1 }
        } else {
            self.plan.storage(src)
        };
        self.b.read(s)
    }

    /// The name of the node whose tensor input `i` is.
    fn input_name(&self, i: usize) -> String {
        self.net.graph.node(self.net.source(self.node.inputs[i])).name.clone()
    }

    fn in_shape(&self, i: usize) -> Shape {
        self.net.graph.node(self.node.inputs[i]).shape
    }

    fn y(&self) -> &TokenStream {
        self.y.as_ref().expect("quantized steps write a tensor")
    }
}

/// The input quantization (a Keras `Rescaling` folded in).
pub(super) fn quantize_input(at: &mut At<'_>) -> TokenStream {
    let rec = lit(at.table.push(StepData::Input { node: at.node.name.clone(), rescale: at.net.rescale }));
    let y = at.y();
    quote! {
        let l = k8::InputLayer::at(w, #rec);
        k8::quantize(l.a, l.b, &input[..], #y);
    }
}

/// A quantized conv: depthwise, pointwise (a GEMM) or regular (the stem, im2col'd).
pub(super) fn conv(at: &mut At<'_>, c: &Conv) -> TokenStream {
    let x = at.read(0);
    let (input, output) = (at.in_shape(0), at.node.shape);
    let ((h, w, cin), (_, _, cout)) = (dims(input), dims(output));
    let geom = conv_geom(c, input, output);
    let (layer, shape, xn, yn) = (c.layer.clone(), c.kernel_shape(), at.input_name(0), at.node.name.clone());
    if let ConvKind::Depthwise { .. } = c.kind {
        let taps = (c.kernel[0] * c.kernel[1]) as usize;
        let data = StepData::Depthwise { layer, shape, taps, c: cout, x: xn, y: yn, act: c.activation };
        let (rec, taps, cl, y) = (lit(at.table.push(data)), lit(taps), lit(cout), at.y());
        return quote! {
            let l = k8::DepthwiseLayer::at(w, #rec, #taps, #cl);
            k8::depthwise(e, isa, #geom, #x, l.w, &l.requant(), #y);
        };
    }
    let residual = c.residual.then(|| at.read(1));
    let im2col = !c.is_pointwise();
    let k = if im2col { (c.kernel[0] * c.kernel[1]) as usize * cin } else { cin };
    let data = StepData::Gemm {
        layer,
        shape,
        k,
        n: cout,
        im2col,
        x: xn,
        y: Some(yn),
        act: c.activation,
        residual: c.residual.then(|| at.input_name(1)),
    };
    let (rec, kpad, nl) = (lit(at.table.push(data)), lit(if im2col { im2col_kpad(k) } else { k }), lit(cout));
    let (residual, y) = (option(residual), at.y());
    let call = if im2col {
        quote!(k8::conv2d(e, isa, #geom, #x, l.w, &l.requant(#residual), #y);)
    } else {
        let geom = pointwise_geom(h * w, cin, cout);
        quote!(k8::pointwise(e, isa, #geom, #x, l.w, &l.requant(#residual), #y);)
    };
    quote! {
        let l = k8::GemmLayer::at(w, #rec, #kpad, #nl);
        #call
    }
}

/// A global average pool.
pub(super) fn pool(at: &mut At<'_>) -> TokenStream {
    let x = at.read(0);
    let (h, w, c) = dims(at.in_shape(0));
    let data = StepData::Pool { x: at.input_name(0), y: at.node.name.clone(), pixels: h * w };
    let (rec, pixels, c, y) = (lit(at.table.push(data)), lit(h * w), lit(c), at.y());
    quote! {
        let l = k8::PoolLayer::at(w, #rec);
        k8::global_avg_pool(#pixels, #c, #x, &l, #y);
    }
}

/// The classifier: the last conv or dense layer, writing float logits (and
/// its softmax, if it has one).
pub(super) fn classifier(at: &mut At<'_>) -> TokenStream {
    let x = at.read(0);
    let node = at.node;
    let (layer, shape, k, n, pixels) = match &node.op {
        Op::Conv(c) => {
            let (h, w, cin) = dims(at.in_shape(0));
            (&c.layer, c.kernel_shape(), cin, c.out_channels as usize, h * w)
        }
        Op::Dense(d) => {
            let (k, n) = (d.in_features as usize, d.units as usize);
            (&d.layer, vec![k, n], k, n, 1)
        }
        _ => unreachable!("the classifier is a conv or dense layer"),
    };
    let data = StepData::Gemm {
        layer: layer.clone(),
        shape,
        k,
        n,
        im2col: false,
        x: at.input_name(0),
        y: None,
        act: None,
        residual: None,
    };
    let (rec, kl, nl) = (lit(at.table.push(data)), lit(k), lit(n));
    let geom = pointwise_geom(pixels, k, n);
    let softmax = matches!(&node.op, Op::Dense(d) if d.activation == Some(DenseAct::Softmax))
        .then(|| quote!(k::softmax_in_place(&mut output[..]);));
    quote! {
        let l = k8::GemmLayer::at(w, #rec, #kl, #nl);
        k8::pointwise_f32(isa, #geom, #x, l.w, l.bias, l.mult, &mut output[..]);
        #softmax
    }
}

/// A softmax of the logits (float, in place).
pub(super) fn softmax() -> TokenStream {
    quote!(k::softmax_in_place(&mut output[..]);)
}

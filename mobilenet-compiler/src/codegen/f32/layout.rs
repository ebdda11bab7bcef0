//! Where each layer's prepared weights live in the model's one weight
//! buffer, and the load-time code that fills it from the Keras tensors.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::quote;

use mobilenet_layout::pack;
use mobilenet_layout::prepare::{BnTensors, Pack, Span, Step};

use crate::codegen::arena::lit;
use crate::ir::{BatchNorm, Conv, ConvKind, Graph, Layout as FileLayout, Op, Param};

/// Prepared weights start at multiples of this many floats (64 bytes).
use mobilenet_layout::ALIGN;

/// A range of the weight buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::codegen) struct Slot {
    pub offset: usize,
    pub len: usize,
}

impl Slot {
    pub fn end(&self) -> usize {
        self.offset + self.len
    }

    /// `&w[offset..end]`
    pub fn read(&self) -> TokenStream {
        let (a, b) = (lit(self.offset), lit(self.end()));
        quote!(&w[#a..#b])
    }
}

/// The prepared weights of one node.
#[derive(Debug, Clone, Default)]
pub(in crate::codegen) struct NodeWeights {
    /// Packed kernel and bias (own bias and/or folded BatchNorm shift, or
    /// zeros) of each conv / dense layer of the node: one, or the stages of
    /// a fused block in order.
    pub layers: Vec<(Slot, Slot)>,
    /// Standalone BatchNorm scale, followed by its shift.
    pub scale: Option<Slot>,
    pub shift: Option<Slot>,
}

impl NodeWeights {
    /// The only layer of a conv or dense node.
    pub fn layer(&self) -> (Slot, Slot) {
        self.layers[0]
    }
}

pub(in crate::codegen) struct Layout {
    /// Floats in the buffer.
    pub len: usize,
    /// Values in the Keras tensors (the parameter count).
    pub params: usize,
    pub nodes: Vec<NodeWeights>,
    tensors: Vec<Param>,
    index: HashMap<String, usize>,
}

impl Layout {
    pub fn of(graph: &Graph) -> Layout {
        let tensors = graph.params();
        let index = tensors.iter().enumerate().map(|(i, p)| (p.key.clone(), i)).collect();
        let mut at = 0;
        let mut slot = |len: usize| {
            let s = Slot { offset: at, len };
            at += len.div_ceil(ALIGN) * ALIGN;
            s
        };
        let nodes = graph
            .nodes()
            .iter()
            .map(|n| match &n.op {
                Op::Conv(_) | Op::Dense(_) | Op::Block(_) => {
                    let layers = weighted_layers(&n.op)
                        .into_iter()
                        .map(|(_, pack, _, _)| {
                            let (kernel, bias) = match pack {
                                Pack::Gemm { k, n } => (pack::gemm_len(k, n), pack::gemm_bias_len(n)),
                                Pack::Depthwise { taps, c } => {
                                    (pack::depthwise_len(taps, c), pack::depthwise_bias_len(c))
                                }
                            };
                            (slot(kernel), slot(bias))
                        })
                        .collect();
                    NodeWeights { layers, ..NodeWeights::default() }
                }
                Op::BatchNorm(bn) => NodeWeights {
                    scale: Some(slot(bn.channels as usize)),
                    shift: Some(slot(bn.channels as usize)),
                    ..NodeWeights::default()
                },
                _ => NodeWeights::default(),
            })
            .collect();
        let params = tensors.iter().map(Param::len).sum();
        Layout { len: at, params, nodes, tensors, index }
    }

    /// The `TensorSpec` literals of the tensors the model reads.
    pub fn tensor_specs(&self, rt: &TokenStream) -> Vec<TokenStream> {
        self.tensors
            .iter()
            .map(|p| {
                let key = &p.file_key;
                let shape = p.file_shape.iter().map(|&d| lit(d));
                let spec = quote!(#rt::weights::TensorSpec::new(#key, &[#(#shape),*]));
                let spec = match &p.alt_key {
                    Some(alt) => quote!(#spec.or(#alt)),
                    None => spec,
                };
                let spec = match p.layout {
                    FileLayout::Keras => spec,
                    FileLayout::Oihw => quote!(#spec.in_layout(#rt::weights::Layout::Oihw)),
                    FileLayout::OutIn => quote!(#spec.in_layout(#rt::weights::Layout::OutIn)),
                };
                if p.non_negative { quote!(#spec.non_negative()) } else { spec }
            })
            .collect()
    }

    /// Index of the tensor `key` in the loaded tensors.
    fn tensor(&self, key: &str) -> usize {
        self.index[key]
    }

    fn bn_tensors(&self, bn: &BatchNorm) -> BnTensors {
        let get = |v: &str| self.tensor(&format!("{}/{v}", bn.layer));
        BnTensors {
            gamma: get("gamma"),
            beta: get("beta"),
            mean: get("moving_mean"),
            variance: get("moving_variance"),
            epsilon: bn.epsilon as f32,
        }
    }

    /// The preparation steps that fill the weight buffer from the loaded
    /// tensors (what load-time code runs, and what the build runs for
    /// embedded weights).
    pub fn steps(&self, graph: &Graph) -> Vec<Step> {
        let span = |s: Slot| Span::new(s.offset, s.len);
        let mut out = Vec::new();
        for (n, nw) in graph.nodes().iter().zip(&self.nodes) {
            if let Op::BatchNorm(bn) = &n.op {
                let (scale, shift) = (nw.scale.expect("laid out"), nw.shift.expect("laid out"));
                out.push(Step::BatchNorm { scale: span(scale), shift: span(shift), bn: self.bn_tensors(bn) });
                continue;
            }
            for ((layer, pack, own_bias, bn), (kernel, bias)) in weighted_layers(&n.op).into_iter().zip(&nw.layers) {
                out.push(Step::Layer {
                    kernel: span(*kernel),
                    kernel_tensor: self.tensor(&format!("{layer}/kernel")),
                    bias: span(*bias),
                    bias_tensor: own_bias.then(|| self.tensor(&format!("{layer}/bias"))),
                    bn: bn.map(|bn| self.bn_tensors(bn)),
                    pack,
                });
            }
        }
        out
    }

    /// [`Layout::steps`] as `prepare::Step` literals.
    pub fn prepare_steps(&self, graph: &Graph, rt: &TokenStream) -> Vec<TokenStream> {
        let span = |s: Span| {
            let (o, l) = (lit(s.offset), lit(s.len));
            quote!(#rt::prepare::Span::new(#o, #l))
        };
        let bn_tokens = |b: &BnTensors| {
            let (gamma, beta, mean, variance) = (lit(b.gamma), lit(b.beta), lit(b.mean), lit(b.variance));
            let epsilon = proc_macro2::Literal::f32_unsuffixed(b.epsilon);
            quote!(#rt::prepare::BnTensors { gamma: #gamma, beta: #beta, mean: #mean, variance: #variance, epsilon: #epsilon })
        };
        self.steps(graph)
            .iter()
            .map(|step| match step {
                Step::BatchNorm { scale, shift, bn } => {
                    let (scale, shift, bn) = (span(*scale), span(*shift), bn_tokens(bn));
                    quote!(#rt::prepare::Step::BatchNorm { scale: #scale, shift: #shift, bn: #bn })
                }
                Step::Layer { kernel, kernel_tensor, bias, bias_tensor, bn, pack } => {
                    let (kernel, bias, kernel_tensor) = (span(*kernel), span(*bias), lit(*kernel_tensor));
                    let bias_tensor = match bias_tensor {
                        Some(t) => {
                            let t = lit(*t);
                            quote!(Some(#t))
                        }
                        None => quote!(None),
                    };
                    let bn = match bn {
                        Some(bn) => {
                            let bn = bn_tokens(bn);
                            quote!(Some(#bn))
                        }
                        None => quote!(None),
                    };
                    let pack = match *pack {
                        Pack::Gemm { k, n } => {
                            let (k, n) = (lit(k), lit(n));
                            quote!(#rt::prepare::Pack::Gemm { k: #k, n: #n })
                        }
                        Pack::Depthwise { taps, c } => {
                            let (taps, c) = (lit(taps), lit(c));
                            quote!(#rt::prepare::Pack::Depthwise { taps: #taps, c: #c })
                        }
                    };
                    quote! {
                        #rt::prepare::Step::Layer {
                            kernel: #kernel, kernel_tensor: #kernel_tensor, bias: #bias, bias_tensor: #bias_tensor, bn: #bn, pack: #pack
                        }
                    }
                }
            })
            .collect()
    }
}

/// How the kernel function of a conv wants its weights.
fn conv_pack(c: &Conv) -> Pack {
    match c.kind {
        ConvKind::Depthwise { .. } => {
            Pack::Depthwise { taps: (c.kernel[0] * c.kernel[1]) as usize, c: c.out_channels as usize }
        }
        ConvKind::Regular => {
            Pack::Gemm { k: (c.kernel[0] * c.kernel[1] * c.in_channels) as usize, n: c.out_channels as usize }
        }
    }
}

/// The layers with kernels of a node, in order: `(Keras layer, packing, own
/// bias, folded BatchNorm)`.
fn weighted_layers(op: &Op) -> Vec<(&str, Pack, bool, Option<&BatchNorm>)> {
    match op {
        Op::Conv(c) => vec![(c.layer.as_str(), conv_pack(c), c.bias, c.batch_norm.as_ref())],
        Op::Block(b) => b.convs().map(|c| (c.layer.as_str(), conv_pack(c), c.bias, c.batch_norm.as_ref())).collect(),
        Op::Dense(d) => vec![(
            d.layer.as_str(),
            Pack::Gemm { k: d.in_features as usize, n: d.units as usize },
            d.bias,
            d.batch_norm.as_ref(),
        )],
        _ => vec![],
    }
}

//! int8 networks: which graphs quantize, post-training quantization
//! ([`calibrate`]), the quantized model a file holds ([`QModel`]) and the
//! integer reference interpreter ([`reference`]), the oracle of the
//! generated int8 code.
//!
//! An int8 network is the optimized graph of its spec without fused
//! blocks (int8 activations are a quarter of the bytes, so streaming a
//! block's expanded tensor through cache buys little), where
//!
//! * the input is quantized on entry (a Keras `Rescaling` folded in);
//! * every conv computes u8 outputs from u8 inputs and i8 weights, its
//!   BatchNorm folded, its ReLU / ReLU6 a clamp, its residual add
//!   requantized in its epilogue;
//! * the global average pool computes u8 from u8;
//! * the last conv or dense layer (the classifier) writes float logits,
//!   and a softmax after it stays float.
//!
//! Calibration and the reference interpreter need feature `reference`.
//!
//! That covers MobileNet v1 and v2 (Keras and torchvision). v3's
//! hard-swish and squeeze-excite are not supported yet: [`Int8Graph::of`]
//! names the first node it cannot quantize.

#[cfg(feature = "reference")]
pub mod calibrate;
#[cfg(feature = "reference")]
pub mod reference;

use std::collections::HashMap;

use mobilenet_layout::q8::{self, QParams};
use mobilenet_layout::q8file::{QFile, QFileError, Reader};

use crate::ir::{Act, ConvKind, DenseAct, Graph, NodeId, Op, Pool};
use crate::passes::{self, BlockFusion};

#[cfg(feature = "reference")]
pub use calibrate::{CalibrateError, Ranges, quantize, quantize_with};

/// Why a graph cannot run in int8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "int8: node `{node}` ({op}) {why}; int8 networks support MobileNet v1 and v2 (convs with ReLU or ReLU6, residual adds, average pooling)"
)]
pub struct Unsupported {
    pub node: String,
    pub op: String,
    pub why: String,
}

/// A graph checked for int8, with the roles of its nodes.
#[derive(Debug, Clone)]
pub struct Int8Graph {
    /// The optimized graph, blocks unfused.
    pub graph: Graph,
    /// The node whose value is the quantized input: the input, or the
    /// `Rescaling` right after it (folded into the quantization).
    pub input: NodeId,
    /// `(scale, offset)` of that `Rescaling`.
    pub rescale: Option<(f32, f32)>,
    /// The classifier: the last conv or dense layer, which writes float logits.
    pub tail: NodeId,
    /// Whether a softmax follows the logits (the tail's own or a node's).
    pub softmax: bool,
}

/// What an int8 node computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Node 0, or a `Rescaling` folded into the input quantization.
    Input,
    /// A conv or average pool computing a u8 tensor.
    Quantized,
    /// A view of its input (flatten): no step, the same tensor.
    Alias,
    /// The classifier, writing float logits.
    Tail,
    /// A softmax of the logits.
    Softmax,
}

impl Int8Graph {
    /// The int8 form of `graph` (an unoptimized, lowered graph), or the
    /// first node int8 cannot compute.
    pub fn of(graph: &Graph) -> Result<Int8Graph, Unsupported> {
        let graph = passes::optimize_with(graph, BlockFusion::Never);
        let nodes = graph.nodes();
        let fail = |id: NodeId, why: &str| {
            let n = graph.node(id);
            Err(Unsupported { node: n.name.clone(), op: n.op.mnemonic().into(), why: why.to_string() })
        };
        let uses = graph.use_counts();
        let (input, rescale) = match nodes.get(1) {
            Some(n) if matches!(n.op, Op::Rescale { .. }) && n.inputs == [NodeId(0)] && uses[0] == 1 => {
                let Op::Rescale { scale, offset } = n.op else { unreachable!() };
                (NodeId(1), Some((scale, offset)))
            }
            _ => (NodeId(0), None),
        };
        let Some(tail) = graph.ids().rev().find(|&id| matches!(graph.node(id).op, Op::Conv(_) | Op::Dense(_))) else {
            return fail(graph.output(), "has no conv or dense layer to compute logits");
        };
        let mut softmax = false;
        for id in graph.ids().skip(input.index() + 1) {
            let n = graph.node(id);
            let after_tail = id > tail;
            match &n.op {
                Op::Flatten => {}
                Op::Softmax if after_tail && !softmax => softmax = true,
                Op::Conv(c) if id == tail => {
                    if c.activation.is_some() || c.residual {
                        return fail(id, "is the classifier, and has an activation or residual before its logits");
                    }
                    if !c.is_pointwise() {
                        return fail(id, "is the classifier, and is not a 1x1 conv");
                    }
                }
                Op::Dense(d) if id == tail => match d.activation {
                    None => {}
                    Some(DenseAct::Softmax) => softmax = true,
                    Some(DenseAct::Elementwise(_)) => {
                        return fail(id, "is the classifier, and has an activation before its logits");
                    }
                },
                Op::Conv(c) if !after_tail => {
                    if let ConvKind::Depthwise { multiplier } = c.kind
                        && multiplier != 1
                    {
                        return fail(id, "has a depth multiplier other than 1");
                    }
                    if c.kind != ConvKind::Regular
                        && c.kernel.iter().any(|&k| k as usize > mobilenet_layout::geom::MAX_KERNEL)
                    {
                        return fail(id, "has a kernel larger than the depthwise kernels take");
                    }
                    match c.activation {
                        None | Some(Act::Relu) | Some(Act::Relu6) => {}
                        Some(a) => {
                            return fail(id, &format!("has a fused {} activation (only ReLU and ReLU6 are)", a.name()));
                        }
                    }
                    if c.residual && c.activation.is_some() {
                        return fail(id, "adds a residual after an activation");
                    }
                }
                Op::GlobalPool { pool: Pool::Avg, .. } if !after_tail => {}
                _ => return fail(id, if after_tail { "follows the classifier" } else { "is not supported in int8" }),
            }
        }
        Ok(Int8Graph { graph, input, rescale, tail, softmax })
    }

    /// The role of node `id`.
    pub fn role(&self, id: NodeId) -> Role {
        match &self.graph.node(id).op {
            _ if id.index() <= self.input.index() => Role::Input,
            _ if id == self.tail => Role::Tail,
            Op::Flatten => Role::Alias,
            Op::Softmax => Role::Softmax,
            _ => Role::Quantized,
        }
    }

    /// The node whose tensor node `id`'s value is (through flattens).
    pub fn source(&self, mut id: NodeId) -> NodeId {
        while matches!(self.graph.node(id).op, Op::Flatten) {
            id = self.graph.node(id).inputs[0];
        }
        id
    }

    /// The nodes holding u8 tensors, each with activation parameters in a
    /// quantized model: the quantized input and every quantized node.
    pub fn quantized_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.graph.ids().filter(|&id| id == self.input || self.role(id) == Role::Quantized)
    }
}

/// The int8 weights of one conv or dense layer, Keras layout.
#[derive(Debug, Clone, PartialEq)]
pub struct QLayer {
    /// `[rows][out]`: `[kh*kw*in][out]`, depthwise `[kh*kw][c]`, dense `[in][out]`.
    pub kernel: Vec<i8>,
    pub bias: Vec<i32>,
    pub wscale: Vec<f32>,
}

/// An [`Int8Graph`] with the parameters of a quantized-model file.
#[derive(Debug, Clone)]
pub struct QModel {
    pub net: Int8Graph,
    /// Activation parameters of each quantized node (by node index).
    pub acts: Vec<Option<QParams>>,
    /// Layers by layer name.
    pub layers: HashMap<String, QLayer>,
}

/// The Keras shape of a layer's kernel, its layer name and output count.
pub(crate) fn layer_of(op: &Op) -> Option<(&str, Vec<usize>, usize)> {
    match op {
        Op::Conv(c) => Some((&c.layer, c.kernel_shape(), c.out_channels as usize)),
        Op::Dense(d) => Some((&d.layer, vec![d.in_features as usize, d.units as usize], d.units as usize)),
        _ => None,
    }
}

impl QModel {
    /// The parameters `file` holds for `net`, checked: every tensor
    /// present with its dtype and shape, every value usable.
    pub fn from_file(net: Int8Graph, name: &str, file: &QFile) -> Result<QModel, QFileError> {
        let r = Reader { file: name, q: file };
        let mut acts = vec![None; net.graph.nodes().len()];
        for id in net.quantized_nodes() {
            acts[id.index()] = Some(r.act(&net.graph.node(id).name)?);
        }
        let mut layers = HashMap::new();
        for n in net.graph.nodes() {
            if let Some((layer, shape, out)) = layer_of(&n.op) {
                let kernel = r.kernel(layer, &shape)?.to_vec();
                let wscale = r.weight_scales(layer, out)?.to_vec();
                let bias = r.bias(layer, out)?.to_vec();
                layers.insert(layer.to_string(), QLayer { kernel, bias, wscale });
            }
        }
        Ok(QModel { net, acts, layers })
    }

    /// The activation parameters of the tensor node `id` reads or is.
    pub fn act(&self, id: NodeId) -> QParams {
        self.acts[self.net.source(id).index()].expect("quantized nodes have parameters")
    }

    /// `(a, b)` of the input quantization (`q8::input_affine`).
    pub fn input_affine(&self) -> (f32, f32) {
        q8::input_affine(self.net.rescale, self.act(self.net.input))
    }
}

#[cfg(all(test, feature = "reference"))]
mod tests;

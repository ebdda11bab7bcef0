//! The layer-level IR: one node per Keras layer (or raw Keras op), every
//! shape static.
//!
//! Lowering produces the *unoptimized* graph, which mirrors the Keras model
//! node for node (names included, so a node's value can be compared with the
//! Keras intermediate of the same name). Passes rewrite it in place of
//! several nodes: a conv then absorbs its BatchNorm, activation, padding and
//! residual add in its [`Conv`] fields, and takes the name of the last node
//! it absorbed, whose value it now computes.
//!
//! Tensors are per image, channels last: `[h, w, c]` maps or `[n]` vectors.
//! Padding is explicit per side and BatchNorm epsilon per layer, because
//! frameworks disagree on both (Keras pads `same` stride-2 convs
//! asymmetrically; PyTorch symmetrically).

mod builder;
mod shape;
mod text;

pub use builder::{BuildError, GraphBuilder};
pub use mobilenet_layout::Act;
pub use mobilenet_layout::weights::Layout;
pub use shape::Shape;

pub use crate::spec::Framework;

/// Index of a node in [`Graph::nodes`]. Node 0 is the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A network: nodes in execution (topological) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Model name, informational.
    pub name: String,
    /// Whose model it is: fixes the names and layouts of its weight tensors
    /// in a file (see [`Graph::params`]).
    pub framework: Framework,
    nodes: Vec<Node>,
    output: NodeId,
}

/// What a graph is besides its nodes: kept unchanged by every pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub framework: Framework,
}

impl Graph {
    /// A graph from nodes already in topological order with inferred shapes
    /// (see [`GraphBuilder`], which checks both).
    fn from_parts(header: Header, nodes: Vec<Node>, output: NodeId) -> Graph {
        Graph { name: header.name, framework: header.framework, nodes, output }
    }

    /// A graph from nodes a pass rewrote: checks that node 0 is the only
    /// input, that nodes only read earlier nodes, that names are unique and
    /// that every shape is what the op gives on its inputs.
    pub fn from_nodes(header: Header, nodes: Vec<Node>, output: NodeId) -> Result<Graph, BuildError> {
        let fail = |node: &Node, message: String| BuildError { node: node.name.clone(), message };
        let mut names = std::collections::HashSet::new();
        for (i, n) in nodes.iter().enumerate() {
            if !names.insert(n.name.as_str()) {
                return Err(fail(n, "a layer of this name already exists".into()));
            }
            if (i == 0) != matches!(n.op, Op::Input) {
                return Err(fail(n, "node 0, and only node 0, is the input".into()));
            }
            if let Some(bad) = n.inputs.iter().find(|x| x.index() >= i) {
                return Err(fail(n, format!("reads node {}, which does not come before it", bad.0)));
            }
            if i > 0 {
                let shapes: Vec<Shape> = n.inputs.iter().map(|x| nodes[x.index()].shape).collect();
                let shape = builder::infer(&n.op, &shapes).map_err(|m| fail(n, m))?;
                if shape != n.shape {
                    return Err(fail(n, format!("has shape {}, but its op gives {shape}", n.shape)));
                }
            }
        }
        if output.index() >= nodes.len() {
            return Err(BuildError { node: "<output>".into(), message: "the output node does not exist".into() });
        }
        Ok(Graph::from_parts(header, nodes, output))
    }

    /// The nodes and output, for passes to rewrite (see [`Graph::from_nodes`]).
    pub fn into_parts(self) -> (Header, Vec<Node>, NodeId) {
        (Header { name: self.name, framework: self.framework }, self.nodes, self.output)
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn input(&self) -> NodeId {
        NodeId(0)
    }

    pub fn output(&self) -> NodeId {
        self.output
    }

    pub fn input_shape(&self) -> Shape {
        self.node(self.input()).shape
    }

    pub fn output_shape(&self) -> Shape {
        self.node(self.output).shape
    }

    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + '_ {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(|i| NodeId(i as u32))
    }

    /// For each node, how many nodes read its value (the output counts as a reader).
    pub fn use_counts(&self) -> Vec<usize> {
        let mut uses = vec![0; self.nodes.len()];
        for n in &self.nodes {
            for i in &n.inputs {
                uses[i.index()] += 1;
            }
        }
        uses[self.output.index()] += 1;
        uses
    }

    /// Every weight tensor the graph reads, in node order, named and laid
    /// out as the graph's framework stores it.
    pub fn params(&self) -> Vec<Param> {
        let mut out = Vec::new();
        for n in &self.nodes {
            n.op.params_into(self.framework, &mut out);
        }
        out
    }
}

/// One operation and the value it produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique; the Keras layer (or op) name whose output this node computes.
    pub name: String,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub shape: Shape,
}

/// Operations. Weighted ops name the Keras layer their weights belong to.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Input,
    /// `x * scale + offset` (Keras `Rescaling`).
    Rescale {
        scale: f32,
        offset: f32,
    },
    Conv(Conv),
    BatchNorm(BatchNorm),
    /// Elementwise nonlinearity.
    Activation(Act),
    ZeroPad(Padding),
    /// Elementwise sum of two tensors of the same shape.
    Add,
    /// `inputs[0] * inputs[1]`, where `inputs[1]` is `[1, 1, c]` broadcast
    /// over the map (squeeze-excite gating).
    Mul,
    /// Global pooling over the spatial dims, to `[1,1,c]` if `keepdims`, else `[c]`.
    GlobalPool {
        pool: Pool,
        keepdims: bool,
    },
    Dense(Dense),
    /// Row-major (channels-last) flattening to a vector, also Keras' `Reshape((k,))` of `[1,1,k]`.
    Flatten,
    /// Softmax over the last axis.
    Softmax,
    /// Expand (1x1, or a network's square stem conv) -> depthwise -> project
    /// (1x1) computed as one unit (the `fuse_block` pass), streamed over rows
    /// so the expanded tensor never exists whole. `inputs[1]` is the residual
    /// if the projection has one.
    Block(Box<Block>),
}

/// A fused inverted-residual (or depthwise-separable) block. Each conv keeps
/// its own epilogue; at least one of `expand` and `project` is present.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Regular conv with a square kernel and stride, no residual: 1x1
    /// (stride 1, no padding) in an inverted-residual block, `k x k` where a
    /// stem feeds the first depthwise conv.
    pub expand: Option<Conv>,
    /// Depthwise conv with multiplier 1, no residual.
    pub depthwise: Conv,
    /// Regular 1x1 conv, stride 1, no padding; may add the residual.
    pub project: Option<Conv>,
}

impl Block {
    /// The convs in execution order.
    pub fn convs(&self) -> impl Iterator<Item = &Conv> {
        self.expand.iter().chain(std::iter::once(&self.depthwise)).chain(self.project.iter())
    }

    pub fn residual(&self) -> bool {
        self.project.as_ref().is_some_and(|p| p.residual)
    }

    /// The output shape of each conv, in order, for a block input of `input`.
    pub fn shapes(&self, input: Shape) -> Result<Vec<Shape>, String> {
        let mut shapes = Vec::new();
        let mut x = input;
        for c in self.convs() {
            let mut plain = c.clone();
            plain.residual = false;
            x = builder::infer(&Op::Conv(plain), &[x])?;
            shapes.push(x);
        }
        Ok(shapes)
    }
}

/// A 2-D convolution, regular or depthwise, with the epilogue that fusion
/// passes fill in.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// Keras layer holding `kernel` (and `bias`).
    pub layer: String,
    pub kind: ConvKind,
    /// `[kh, kw]`
    pub kernel: [u32; 2],
    /// `[sh, sw]`
    pub stride: [u32; 2],
    pub padding: Padding,
    pub in_channels: u32,
    pub out_channels: u32,
    /// Whether the layer has its own `bias` tensor.
    pub bias: bool,
    /// A BatchNorm folded into this conv (by the `fold_batch_norm` pass).
    pub batch_norm: Option<BatchNorm>,
    /// Applied after bias / BatchNorm.
    pub activation: Option<Act>,
    /// If set, `inputs[1]` is added after the activation (a fused skip connection).
    pub residual: bool,
}

impl Conv {
    /// Keras layout of the kernel: `[kh, kw, in, out]` or, depthwise,
    /// `[kh, kw, in, multiplier]`.
    pub fn kernel_shape(&self) -> Vec<usize> {
        let [kh, kw] = self.kernel.map(|k| k as usize);
        match self.kind {
            ConvKind::Regular => vec![kh, kw, self.in_channels as usize, self.out_channels as usize],
            ConvKind::Depthwise { multiplier } => vec![kh, kw, self.in_channels as usize, multiplier as usize],
        }
    }

    /// Multiply-accumulates per output element.
    pub fn macs_per_output(&self) -> u64 {
        let k = u64::from(self.kernel[0]) * u64::from(self.kernel[1]);
        match self.kind {
            ConvKind::Regular => k * u64::from(self.in_channels),
            ConvKind::Depthwise { .. } => k,
        }
    }

    pub fn is_pointwise(&self) -> bool {
        self.kind == ConvKind::Regular && self.kernel == [1, 1] && self.stride == [1, 1] && self.padding.is_zero()
    }

    /// Whether it can be a [`Block`]'s expansion: regular, a square kernel
    /// and stride, no residual (1x1 in inverted-residual blocks, a stem).
    pub fn is_block_expansion(&self) -> bool {
        self.kind == ConvKind::Regular
            && self.kernel[0] == self.kernel[1]
            && self.stride[0] == self.stride[1]
            && !self.residual
    }
}

/// Regular convolutions mix all input channels; depthwise ones
/// (`groups = in_channels`) map input channel `i` to outputs
/// `i*multiplier .. (i+1)*multiplier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    Regular,
    Depthwise { multiplier: u32 },
}

/// Zero padding per side, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    pub top: u32,
    pub bottom: u32,
    pub left: u32,
    pub right: u32,
}

impl Padding {
    pub const ZERO: Padding = Padding { top: 0, bottom: 0, left: 0, right: 0 };

    pub fn is_zero(&self) -> bool {
        *self == Padding::ZERO
    }

    /// Keras/TensorFlow `padding="same"`: total `max((ceil(in/s)-1)*s + k - in, 0)`,
    /// the odd pixel at the bottom/right.
    pub fn same(in_hw: [u32; 2], kernel: [u32; 2], stride: [u32; 2]) -> Padding {
        let side = |i: u32, k: u32, s: u32| {
            let out = i.div_ceil(s);
            let total = ((out.saturating_sub(1)) * s + k).saturating_sub(i);
            (total / 2, total - total / 2)
        };
        let (top, bottom) = side(in_hw[0], kernel[0], stride[0]);
        let (left, right) = side(in_hw[1], kernel[1], stride[1]);
        Padding { top, bottom, left, right }
    }

    /// Keras' `imagenet_utils.correct_pad` for the `ZeroPadding2D` before a
    /// stride-2 depthwise conv: `(k//2 - adj, k//2)` with `adj = 1 - in % 2`.
    pub fn keras_correct_pad(in_hw: [u32; 2], kernel: [u32; 2]) -> Padding {
        let side = |i: u32, k: u32| {
            let adj = 1 - i % 2;
            ((k / 2).saturating_sub(adj), k / 2)
        };
        let (top, bottom) = side(in_hw[0], kernel[0]);
        let (left, right) = side(in_hw[1], kernel[1]);
        Padding { top, bottom, left, right }
    }

    /// Padding `self` then `o`: the sum per side.
    pub fn then(self, o: Padding) -> Padding {
        Padding {
            top: self.top + o.top,
            bottom: self.bottom + o.bottom,
            left: self.left + o.left,
            right: self.right + o.right,
        }
    }
}

/// Inference-mode BatchNorm: `(x - mean) / sqrt(var + epsilon) * gamma + beta`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    /// Keras layer holding `gamma`, `beta`, `moving_mean`, `moving_variance`.
    pub layer: String,
    pub channels: u32,
    pub epsilon: f64,
}

impl BatchNorm {
    pub const VARIABLES: [&str; 4] = ["gamma", "beta", "moving_mean", "moving_variance"];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Avg,
    Max,
}

/// A fully connected layer on a vector (Keras `Dense`), with its activation.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub layer: String,
    pub in_features: u32,
    pub units: u32,
    pub bias: bool,
    /// A BatchNorm folded into this layer (by the `fold_batch_norm` pass).
    pub batch_norm: Option<BatchNorm>,
    pub activation: Option<DenseAct>,
}

/// What a `Dense` layer may apply to its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseAct {
    Elementwise(Act),
    Softmax,
}

/// A weight tensor a graph reads.
///
/// Inside the compiler every tensor is known by its Keras-style `key`
/// (`<layer>/<variable>`) and has Keras' layout `shape`, whatever the
/// framework; the interpreter and the code generator use only those. How a
/// weights file names and lays out the same tensor is `file_key`,
/// `file_shape` and `layout` (the same as `key` and `shape` for Keras).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    /// Shape in Keras' layout.
    pub shape: Vec<usize>,
    /// Name in the weights file.
    pub file_key: String,
    /// Second accepted name in the file (`depthwise_kernel` of tf.keras 2).
    pub alt_key: Option<String>,
    /// Shape in the file.
    pub file_shape: Vec<usize>,
    /// How the file lays the values out.
    pub layout: Layout,
    /// A variance: negative values are an error at load.
    pub non_negative: bool,
}

/// The variables of the weighted layers, as Keras names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    ConvKernel,
    DepthwiseKernel,
    DenseKernel,
    Bias,
    Gamma,
    Beta,
    MovingMean,
    MovingVariance,
}

impl Variable {
    /// Keras' name of the variable (the compiler's key suffix).
    pub fn keras_name(self) -> &'static str {
        match self {
            Variable::ConvKernel | Variable::DepthwiseKernel | Variable::DenseKernel => "kernel",
            Variable::Bias => "bias",
            Variable::Gamma => "gamma",
            Variable::Beta => "beta",
            Variable::MovingMean => "moving_mean",
            Variable::MovingVariance => "moving_variance",
        }
    }

    /// PyTorch's name of the variable in a state_dict.
    pub fn torch_name(self) -> &'static str {
        match self {
            Variable::ConvKernel | Variable::DepthwiseKernel | Variable::DenseKernel | Variable::Gamma => "weight",
            Variable::Bias | Variable::Beta => "bias",
            Variable::MovingMean => "running_mean",
            Variable::MovingVariance => "running_var",
        }
    }
}

impl Param {
    /// Variable `var` of `layer`, of Keras shape `shape`, as `framework` stores it.
    pub fn new(framework: Framework, layer: &str, var: Variable, shape: Vec<usize>) -> Param {
        let key = format!("{layer}/{}", var.keras_name());
        let (file_key, alt_key, layout) = match framework {
            Framework::Keras => {
                let alt = (var == Variable::DepthwiseKernel).then(|| format!("{layer}/depthwise_kernel"));
                (key.clone(), alt, Layout::Keras)
            }
            Framework::Torchvision => {
                let layout = match var {
                    Variable::ConvKernel | Variable::DepthwiseKernel => Layout::Oihw,
                    Variable::DenseKernel => Layout::OutIn,
                    _ => Layout::Keras,
                };
                (format!("{layer}.{}", var.torch_name()), None, layout)
            }
        };
        let file_shape = match (layout, shape.as_slice()) {
            // A depthwise [kh, kw, c, m] is stored [c*m, 1, kh, kw].
            (Layout::Oihw, &[kh, kw, c, m]) if var == Variable::DepthwiseKernel => vec![c * m, 1, kh, kw],
            (Layout::Oihw, &[kh, kw, i, o]) => vec![o, i, kh, kw],
            (Layout::OutIn, &[i, o]) => vec![o, i],
            _ => shape.clone(),
        };
        Param { key, shape, file_key, alt_key, file_shape, layout, non_negative: var == Variable::MovingVariance }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Op {
    /// Appends the weight tensors this op reads, as `framework` stores them.
    pub fn params_into(&self, framework: Framework, out: &mut Vec<Param>) {
        let p = |layer: &str, var, shape| Param::new(framework, layer, var, shape);
        match self {
            Op::Conv(c) => {
                let var = match c.kind {
                    ConvKind::Depthwise { .. } => Variable::DepthwiseKernel,
                    ConvKind::Regular => Variable::ConvKernel,
                };
                out.push(p(&c.layer, var, c.kernel_shape()));
                if c.bias {
                    out.push(p(&c.layer, Variable::Bias, vec![c.out_channels as usize]));
                }
                if let Some(bn) = &c.batch_norm {
                    bn.params(framework, out);
                }
            }
            Op::BatchNorm(bn) => bn.params(framework, out),
            Op::Block(b) => {
                for c in b.convs() {
                    Op::Conv(c.clone()).params_into(framework, out);
                }
            }
            Op::Dense(d) => {
                out.push(p(&d.layer, Variable::DenseKernel, vec![d.in_features as usize, d.units as usize]));
                if d.bias {
                    out.push(p(&d.layer, Variable::Bias, vec![d.units as usize]));
                }
                if let Some(bn) = &d.batch_norm {
                    bn.params(framework, out);
                }
            }
            _ => {}
        }
    }

    /// Short name of the operation, as the IR text shows it.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Rescale { .. } => "rescale",
            Op::Conv(c) => match c.kind {
                ConvKind::Regular => "conv",
                ConvKind::Depthwise { .. } => "depthwise",
            },
            Op::BatchNorm(_) => "batch_norm",
            Op::Activation(a) => a.name(),
            Op::ZeroPad(_) => "zero_pad",
            Op::Add => "add",
            Op::Mul => "mul",
            Op::GlobalPool { pool: Pool::Avg, .. } => "global_avg_pool",
            Op::GlobalPool { pool: Pool::Max, .. } => "global_max_pool",
            Op::Dense(_) => "dense",
            Op::Flatten => "flatten",
            Op::Softmax => "softmax",
            Op::Block(_) => "block",
        }
    }
}

impl BatchNorm {
    fn params(&self, framework: Framework, out: &mut Vec<Param>) {
        for v in [Variable::Gamma, Variable::Beta, Variable::MovingMean, Variable::MovingVariance] {
            out.push(Param::new(framework, &self.layer, v, vec![self.channels as usize]));
        }
    }
}

//! Building a graph node by node with shape inference.

use std::collections::HashSet;

use super::shape::MAX_LEN;
use super::{Conv, ConvKind, Framework, Graph, Header, Node, NodeId, Op, Shape};

/// A node that cannot be added: its inputs do not fit the operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("layer `{node}`: {message}")]
pub struct BuildError {
    pub node: String,
    pub message: String,
}

/// Appends nodes in execution order, inferring and checking shapes.
#[derive(Debug)]
pub struct GraphBuilder {
    name: String,
    framework: Framework,
    nodes: Vec<Node>,
    names: HashSet<String>,
}

impl GraphBuilder {
    /// A graph whose input (node 0) is called `input_name` and has `shape`.
    pub fn new(name: impl Into<String>, input_name: impl Into<String>, shape: Shape) -> GraphBuilder {
        let input_name = input_name.into();
        let mut names = HashSet::new();
        names.insert(input_name.clone());
        GraphBuilder {
            name: name.into(),
            framework: Framework::Keras,
            nodes: vec![Node { name: input_name, op: Op::Input, inputs: vec![], shape }],
            names,
        }
    }

    /// The graph is `framework`'s model (Keras unless said).
    pub fn framework(mut self, framework: Framework) -> GraphBuilder {
        self.framework = framework;
        self
    }

    pub fn shape(&self, id: NodeId) -> Shape {
        self.nodes[id.index()].shape
    }

    /// Adds `op` reading `inputs`; the name must be new.
    pub fn add(&mut self, name: impl Into<String>, op: Op, inputs: &[NodeId]) -> Result<NodeId, BuildError> {
        let name = name.into();
        let fail = |message: String| BuildError { node: name.clone(), message };
        if self.names.contains(&name) {
            return Err(fail("a layer of this name already exists".into()));
        }
        if let Some(bad) = inputs.iter().find(|i| i.index() >= self.nodes.len()) {
            return Err(fail(format!("reads node {} which does not exist yet", bad.0)));
        }
        let shapes: Vec<Shape> = inputs.iter().map(|i| self.shape(*i)).collect();
        let shape = infer(&op, &shapes).map_err(fail)?;
        if shape.is_empty() {
            return Err(fail(format!("output shape {shape} is empty: the input is too small")));
        }
        self.names.insert(name.clone());
        self.nodes.push(Node { name, op, inputs: inputs.to_vec(), shape });
        Ok(NodeId(self.nodes.len() as u32 - 1))
    }

    pub fn finish(self, output: NodeId) -> Graph {
        Graph::from_parts(Header { name: self.name, framework: self.framework }, self.nodes, output)
    }
}

/// The output shape of `op` on inputs of `shapes`; the output and the
/// op's weights may have at most [`MAX_LEN`] elements each, so that sizes
/// derived from a graph's shapes never overflow.
pub(crate) fn infer(op: &Op, shapes: &[Shape]) -> Result<Shape, String> {
    let shape = infer_shape(op, shapes)?;
    if shape.checked_len().is_none_or(|n| n > MAX_LEN) {
        return Err(format!(
            "output {shape} has more than {MAX_LEN} elements, the most the compiler takes in one tensor"
        ));
    }
    let weights = match op {
        Op::Conv(c) => kernel_len(c),
        Op::Dense(d) => u64::from(d.in_features).checked_mul(u64::from(d.units)),
        _ => Some(0),
    };
    if weights.is_none_or(|n| n > MAX_LEN) {
        return Err(format!(
            "its weights have more than {MAX_LEN} elements, the most the compiler takes in one tensor"
        ));
    }
    Ok(shape)
}

/// Elements of a conv's kernel, if they fit a `u64`.
fn kernel_len(c: &Conv) -> Option<u64> {
    let per_input = match c.kind {
        ConvKind::Regular => c.out_channels,
        ConvKind::Depthwise { multiplier } => multiplier,
    };
    [c.kernel[1], c.in_channels, per_input]
        .into_iter()
        .try_fold(u64::from(c.kernel[0]), |n, d| n.checked_mul(u64::from(d)))
}

/// `size + before + after`, or an error if it does not fit a `u32`.
fn padded(size: u32, before: u32, after: u32) -> Result<u32, String> {
    size.checked_add(before)
        .and_then(|s| s.checked_add(after))
        .ok_or_else(|| format!("padding {before}+{after} around {size} pixels is more than the compiler takes"))
}

fn infer_shape(op: &Op, shapes: &[Shape]) -> Result<Shape, String> {
    let arity = match op {
        Op::Input => 0,
        Op::Add | Op::Mul => 2,
        Op::Conv(c) if c.residual => 2,
        Op::Block(b) if b.residual() => 2,
        _ => 1,
    };
    if shapes.len() != arity {
        return Err(format!("{} takes {arity} input(s), got {}", op.mnemonic(), shapes.len()));
    }
    let map = |s: Shape| match s {
        Shape::Map { h, w, c } => Ok((h, w, c)),
        Shape::Vector { .. } => Err(format!("{} needs a feature map, got a vector {s}", op.mnemonic())),
    };
    match op {
        Op::Input => Err("the input is created with the builder".into()),
        Op::Rescale { .. } | Op::Activation(_) | Op::Softmax => Ok(shapes[0]),
        Op::BatchNorm(bn) => {
            if shapes[0].channels() != bn.channels {
                return Err(format!("batch norm has {} channels, its input {}", bn.channels, shapes[0]));
            }
            Ok(shapes[0])
        }
        Op::ZeroPad(p) => {
            let (h, w, c) = map(shapes[0])?;
            Ok(Shape::map(padded(h, p.top, p.bottom)?, padded(w, p.left, p.right)?, c))
        }
        Op::Conv(conv) => {
            let (h, w, c) = map(shapes[0])?;
            if c != conv.in_channels {
                return Err(format!("conv expects {} input channels, its input is {}", conv.in_channels, shapes[0]));
            }
            if let ConvKind::Depthwise { multiplier } = conv.kind
                && Some(conv.out_channels) != c.checked_mul(multiplier)
            {
                return Err(format!(
                    "depthwise conv with multiplier {multiplier} on {c} channels gives {}, not {}",
                    u64::from(c) * u64::from(multiplier),
                    conv.out_channels
                ));
            }
            if conv.kernel.contains(&0) || conv.stride.contains(&0) {
                return Err("kernel and stride must be at least 1".into());
            }
            let p = conv.padding;
            let (ph, pw) = (padded(h, p.top, p.bottom)?, padded(w, p.left, p.right)?);
            if ph < conv.kernel[0] || pw < conv.kernel[1] {
                return Err(format!(
                    "a {}x{} kernel does not fit the padded {ph}x{pw} input: the input is too small for the strides",
                    conv.kernel[0], conv.kernel[1]
                ));
            }
            let out = Shape::map(
                (ph - conv.kernel[0]) / conv.stride[0] + 1,
                (pw - conv.kernel[1]) / conv.stride[1] + 1,
                conv.out_channels,
            );
            if conv.residual && shapes[1] != out {
                return Err(format!("residual input {} does not match the conv output {out}", shapes[1]));
            }
            Ok(out)
        }
        Op::Add => {
            if shapes[0] != shapes[1] {
                return Err(format!("cannot add {} and {}", shapes[0], shapes[1]));
            }
            Ok(shapes[0])
        }
        Op::Mul => {
            let (_, _, c) = map(shapes[0])?;
            match shapes[1] {
                Shape::Map { h: 1, w: 1, c: g } | Shape::Vector { n: g } if g == c => Ok(shapes[0]),
                g => Err(format!("cannot gate {} with {g}: the gate must be [1,1,{c}]", shapes[0])),
            }
        }
        Op::GlobalPool { keepdims, .. } => {
            let (_, _, c) = map(shapes[0])?;
            Ok(if *keepdims { Shape::map(1, 1, c) } else { Shape::Vector { n: c } })
        }
        Op::Dense(d) => match shapes[0] {
            Shape::Vector { n } if n == d.in_features => Ok(Shape::Vector { n: d.units }),
            Shape::Vector { n } => Err(format!("dense expects {} inputs, got {n}", d.in_features)),
            s => Err(format!("dense needs a vector input, got the feature map {s}; pool or flatten first")),
        },
        Op::Flatten => match shapes[0].checked_len().map(u32::try_from) {
            Some(Ok(n)) => Ok(Shape::Vector { n }),
            _ => Err(format!("flattening {} gives more than {MAX_LEN} elements", shapes[0])),
        },
        Op::Block(b) => {
            let pointwise = |c: &Conv| c.kind == ConvKind::Regular && c.kernel == [1, 1] && c.stride == [1, 1];
            if b.expand.as_ref().is_some_and(|e| !e.is_block_expansion())
                || b.project.as_ref().is_some_and(|p| !pointwise(p) || !p.padding.is_zero())
                || b.depthwise.kind != (ConvKind::Depthwise { multiplier: 1 })
                || b.depthwise.residual
                || b.depthwise.kernel[0] != b.depthwise.kernel[1]
                || b.depthwise.stride[0] != b.depthwise.stride[1]
                || (b.expand.is_none() && b.project.is_none())
            {
                return Err(
                    "a block is [1x1 or square regular expand] -> square depthwise (multiplier 1) -> [1x1 project]"
                        .into(),
                );
            }
            let out = *b.shapes(shapes[0])?.last().expect("a block has convs");
            if b.residual() && shapes[1] != out {
                return Err(format!("residual input {} does not match the block output {out}", shapes[1]));
            }
            Ok(out)
        }
    }
}

//! Lowering: spec -> unoptimized IR, node for node as `keras.applications`
//! (or `torchvision.models`) builds the model (same layers, same names, same
//! padding).
//!
//! Each Keras family has its own module for the backbone ([`v1`], [`v2`],
//! [`v3`]); Keras heads are shared ([`head`]); torchvision's models, whose
//! naming and rounding differ throughout, have theirs ([`torchvision`]). [`Lowerer`] holds the graph under
//! construction and the small vocabulary of Keras layers they all use.

mod head;
mod names;
mod torchvision;
mod v1;
mod v2;
mod v3;
pub mod width;

use serde_saphyr::Location;

use crate::ir::{Act, BatchNorm, Conv, ConvKind, Graph, GraphBuilder, NodeId, Op, Padding, Shape};
use crate::spec::{Family, Framework, Nonlinearity, Spec, SpecError, StandardOptions};
use names::KerasNames;

/// Lowers a checked spec to the unoptimized IR.
pub fn lower(spec: &Spec) -> Result<Graph, SpecError> {
    let m = &spec.model;
    let input = &m.input.value;
    let name = m.name.clone().unwrap_or_else(|| {
        let mut o = StandardOptions::new(m.family);
        o.framework = m.framework();
        o.alpha = m.alpha.value;
        o.height = input.height;
        o.width = input.width;
        o.keras_name()
    });
    let mut names = KerasNames::default();
    let framework = m.framework();
    let input_name = match framework {
        Framework::Keras => names.next("input_layer"),
        Framework::Torchvision => "input".to_string(),
    };
    let shape = Shape::map(input.height, input.width, input.channels);
    let mut l = Lowerer {
        spec,
        b: GraphBuilder::new(name, input_name, shape).framework(framework),
        names,
        epsilon: m.bn_epsilon(),
    };
    let x = NodeId(0);
    let out = match framework {
        Framework::Keras => {
            let features = match m.family {
                Family::V1 => v1::backbone(&mut l, x)?,
                Family::V2 => v2::backbone(&mut l, x)?,
                Family::V3Large | Family::V3Small => v3::backbone(&mut l, x)?,
            };
            head::head(&mut l, features)?
        }
        Framework::Torchvision => {
            let features = torchvision::backbone(&mut l, x)?;
            torchvision::head(&mut l, features)?
        }
    };
    Ok(l.b.finish(out))
}

/// How a conv pads its input.
#[derive(Debug, Clone, Copy)]
enum Pad {
    /// Keras `padding="same"` (TensorFlow semantics, odd pixel bottom/right).
    Same,
    /// Keras `padding="valid"`.
    Valid,
    /// PyTorch `padding=(k-1)//2` on every side, whatever the stride.
    Symmetric,
}

/// The graph under construction and the spec it comes from.
struct Lowerer<'s> {
    spec: &'s Spec,
    b: GraphBuilder,
    names: KerasNames,
    epsilon: f64,
}

impl Lowerer<'_> {
    fn alpha(&self) -> f64 {
        self.spec.model.alpha.value
    }

    fn channels(&self, x: NodeId) -> u32 {
        self.b.shape(x).channels()
    }

    fn hw(&self, x: NodeId) -> [u32; 2] {
        match self.b.shape(x) {
            Shape::Map { h, w, .. } => [h, w],
            Shape::Vector { .. } => [1, 1],
        }
    }

    /// Adds a node; a shape error becomes a spec error at `at`.
    fn add(&mut self, name: impl Into<String>, op: Op, inputs: &[NodeId], at: Location) -> Result<NodeId, SpecError> {
        self.b.add(name, op, inputs).map_err(|e| self.spec.error_at(at, e.to_string()))
    }

    /// A channel count from Keras' rounding, or an error if it rounds to
    /// nothing (`Some(0)`) or to more than a `u32` holds (`None`).
    fn width(&self, v: Option<u32>, what: &str, at: Location) -> Result<u32, SpecError> {
        match v {
            Some(c) if c > 0 => Ok(c),
            Some(_) => Err(self
                .spec
                .error_at(at, format!("alpha {} gives {what} no channels; use a larger alpha", self.alpha()))),
            None => Err(self
                .spec
                .error_at(at, format!("{what} would have more than {} channels (alpha {})", u32::MAX, self.alpha()))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: NodeId,
        name: &str,
        kind: ConvKind,
        kernel: u32,
        stride: u32,
        pad: Pad,
        out_channels: u32,
        bias: bool,
        at: Location,
    ) -> Result<NodeId, SpecError> {
        let (k, s) = ([kernel; 2], [stride; 2]);
        let padding = match pad {
            Pad::Same => Padding::same(self.hw(x), k, s),
            Pad::Valid => Padding::ZERO,
            Pad::Symmetric => {
                let p = (kernel - 1) / 2;
                Padding { top: p, bottom: p, left: p, right: p }
            }
        };
        let op = Op::Conv(Conv {
            layer: name.to_string(),
            kind,
            kernel: k,
            stride: s,
            padding,
            in_channels: self.channels(x),
            out_channels,
            bias,
            batch_norm: None,
            activation: None,
            residual: false,
        });
        self.add(name, op, &[x], at)
    }

    /// A regular 1x1 convolution without bias.
    fn pointwise(&mut self, x: NodeId, name: &str, out: u32, at: Location) -> Result<NodeId, SpecError> {
        self.conv(x, name, ConvKind::Regular, 1, 1, Pad::Same, out, false, at)
    }

    #[allow(clippy::too_many_arguments)]
    /// A depthwise conv, with Keras' explicit `ZeroPadding2D` (named `pad_name`)
    /// before it when strided.
    fn depthwise(
        &mut self,
        x: NodeId,
        name: &str,
        kernel: u32,
        stride: u32,
        multiplier: u32,
        strided_pad: impl FnOnce([u32; 2]) -> (String, Padding),
        at: Location,
    ) -> Result<NodeId, SpecError> {
        let out = self.width(self.channels(x).checked_mul(multiplier), name, at)?;
        let kind = ConvKind::Depthwise { multiplier };
        if stride == 1 {
            self.conv(x, name, kind, kernel, 1, Pad::Same, out, false, at)
        } else {
            let (pad_name, padding) = strided_pad(self.hw(x));
            let p = self.add(pad_name, Op::ZeroPad(padding), &[x], at)?;
            self.conv(p, name, kind, kernel, stride, Pad::Valid, out, false, at)
        }
    }

    fn batch_norm(&mut self, x: NodeId, name: &str, at: Location) -> Result<NodeId, SpecError> {
        let op =
            Op::BatchNorm(BatchNorm { layer: name.to_string(), channels: self.channels(x), epsilon: self.epsilon });
        self.add(name, op, &[x], at)
    }

    fn activation(&mut self, x: NodeId, name: String, act: Act, at: Location) -> Result<NodeId, SpecError> {
        self.add(name, Op::Activation(act), &[x], at)
    }

    /// A v3 nonlinearity as Keras' MobileNetV3 creates it: an unnamed
    /// `ReLU()` or `Activation("hard_swish")` layer.
    fn v3_nonlinearity(&mut self, x: NodeId, nl: Nonlinearity, at: Location) -> Result<NodeId, SpecError> {
        let (prefix, act) = match nl {
            Nonlinearity::Relu => ("re_lu", Act::Relu),
            Nonlinearity::Relu6 => ("re_lu", Act::Relu6),
            Nonlinearity::HardSwish => ("activation", Act::HardSwish),
        };
        let name = self.names.next(prefix);
        self.activation(x, name, act, at)
    }
}

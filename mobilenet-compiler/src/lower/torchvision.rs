//! torchvision's MobileNetV2 and V3 (`torchvision.models.mobilenetv2`,
//! `torchvision.models.mobilenetv3`), node for node as their `forward`
//! computes them.
//!
//! Nodes are named after the module whose output they compute, so that a
//! node's weights are the state_dict entries `<name>.weight` ... and a
//! module's output (what a forward hook sees) is the value of the last node
//! whose name is the module's or starts with it and a dot:
//!
//! * `Conv2dNormActivation` `m`: conv `m.0`, BatchNorm `m.1`, activation `m.2`;
//! * an inverted residual `features.i` with a skip connection: the add is
//!   named `features.i` (the block's `x + self.block(x)` has no module);
//! * squeeze-excite `p`: `p.avgpool`, `p.fc1`, `p.activation`, `p.fc2`,
//!   `p.scale_activation`, and the gating multiply `p`.
//!
//! Every conv pads `(k-1)/2` on all four sides (no `ZeroPadding2D`), and
//! channel counts are rounded by torchvision's `_make_divisible` where
//! torchvision applies it, which is not where Keras does.

use serde_saphyr::Location;

use super::head::dense;
use super::{Lowerer, Pad, width};
use crate::ir::{Act, BatchNorm, ConvKind, NodeId, Op, Pool};
use crate::spec::{ClassifierActivation, Family, Head, HeadInput, HeadLayer, Nonlinearity, Pooling, SpecError};

pub(super) fn backbone(l: &mut Lowerer<'_>, input: NodeId) -> Result<NodeId, SpecError> {
    match l.spec.model.family {
        Family::V2 => v2(l, input),
        Family::V3Large | Family::V3Small => v3(l, input),
        // The spec checks reject this with a located message first.
        Family::V1 => Err(l.spec.error_at(l.spec.model.stem.referenced, "torchvision has no MobileNetV1")),
    }
}

/// `_make_divisible(c * alpha, 8)` for a channel count of the spec.
fn scaled(l: &Lowerer<'_>, c: u32, what: &str, at: Location) -> Result<u32, SpecError> {
    l.width(width::make_divisible(f64::from(c) * l.alpha(), 8), what, at)
}

/// A `Conv2dNormActivation` module `m`: conv (no bias), BatchNorm, and the
/// activation if any.
#[allow(clippy::too_many_arguments)]
fn conv_norm_act(
    l: &mut Lowerer<'_>,
    x: NodeId,
    m: &str,
    kind: ConvKind,
    kernel: u32,
    stride: u32,
    out: u32,
    act: Option<Act>,
    at: Location,
) -> Result<NodeId, SpecError> {
    let x = l.conv(x, &format!("{m}.0"), kind, kernel, stride, Pad::Symmetric, out, false, at)?;
    let x = l.batch_norm(x, &format!("{m}.1"), at)?;
    match act {
        Some(act) => l.activation(x, format!("{m}.2"), act, at),
        None => Ok(x),
    }
}

fn act(nl: Nonlinearity) -> Act {
    match nl {
        Nonlinearity::Relu => Act::Relu,
        Nonlinearity::Relu6 => Act::Relu6,
        Nonlinearity::HardSwish => Act::HardSwish,
    }
}

/// `torchvision.models.MobileNetV2(width_mult=alpha)`.
fn v2(l: &mut Lowerer<'_>, input: NodeId) -> Result<NodeId, SpecError> {
    let m = &l.spec.model;
    let stem = &m.stem;
    let at = stem.referenced;
    let c = scaled(l, stem.value.c, "the stem", at)?;
    let dw = ConvKind::Depthwise { multiplier: 1 };
    let mut x =
        conv_norm_act(l, input, "features.0", ConvKind::Regular, stem.value.k, stem.value.s, c, Some(Act::Relu6), at)?;
    let mut index = 1;
    for row in &m.blocks.value {
        let at = row.referenced;
        let r = &row.value;
        // The spec checks make v2 expansions integers.
        let t = r.t.map_or(1, |t| t.value() as u32);
        let out = scaled(l, r.c, &format!("block row {index}"), at)?;
        for j in 0..r.n {
            let stride = if j == 0 { r.s } else { 1 };
            let in_c = l.channels(x);
            let hidden = l.width(in_c.checked_mul(t), &format!("the expansion of features.{index}"), at)?;
            let name = format!("features.{index}");
            let mut y = x;
            let mut i = 0;
            if t != 1 {
                y = conv_norm_act(
                    l,
                    y,
                    &format!("{name}.conv.0"),
                    ConvKind::Regular,
                    1,
                    1,
                    hidden,
                    Some(Act::Relu6),
                    at,
                )?;
                i = 1;
            }
            y = conv_norm_act(l, y, &format!("{name}.conv.{i}"), dw, 3, stride, hidden, Some(Act::Relu6), at)?;
            y =
                l.conv(y, &format!("{name}.conv.{}", i + 1), ConvKind::Regular, 1, 1, Pad::Symmetric, out, false, at)?;
            y = l.batch_norm(y, &format!("{name}.conv.{}", i + 2), at)?;
            if stride == 1 && in_c == out {
                y = l.add(name, Op::Add, &[x, y], at)?;
            }
            x = y;
            index += 1;
        }
    }
    let Some(last) = &m.last_conv else { return Ok(x) };
    let at = last.referenced;
    let nominal = last.value.c.unwrap_or(1280);
    let c = width::make_divisible(f64::from(nominal) * l.alpha().max(1.0), 8);
    let c = l.width(c, "the last conv", at)?;
    conv_norm_act(l, x, &format!("features.{index}"), ConvKind::Regular, 1, 1, c, Some(Act::Relu6), at)
}

/// `torchvision.models.MobileNetV3` as `_mobilenet_v3_conf` configures it.
fn v3(l: &mut Lowerer<'_>, input: NodeId) -> Result<NodeId, SpecError> {
    let m = &l.spec.model;
    let stem = &m.stem;
    let at = stem.referenced;
    let c = scaled(l, stem.value.c, "the stem", at)?;
    let stem_act = act(stem.value.nl.unwrap_or(Nonlinearity::HardSwish));
    let mut x =
        conv_norm_act(l, input, "features.0", ConvKind::Regular, stem.value.k, stem.value.s, c, Some(stem_act), at)?;
    let se_ratio = m.se_ratio();
    let mut index = 1;
    for row in &m.blocks.value {
        let at = row.referenced;
        let r = &row.value;
        let a = act(r.nl.unwrap_or(Nonlinearity::Relu));
        let kernel = r.k.unwrap_or(3);
        let what = format!("block row {index}");
        let out = scaled(l, r.c, &what, at)?;
        // The spec checks make `e` present for torchvision v3 rows.
        let expanded = scaled(l, r.e.unwrap_or(r.c), &what, at)?;
        for j in 0..r.n {
            let stride = if j == 0 { r.s } else { 1 };
            let in_c = l.channels(x);
            let name = format!("features.{index}");
            let mut y = x;
            let mut i = 0;
            if expanded != in_c {
                y = conv_norm_act(l, y, &format!("{name}.block.0"), ConvKind::Regular, 1, 1, expanded, Some(a), at)?;
                i += 1;
            }
            let dw = ConvKind::Depthwise { multiplier: 1 };
            y = conv_norm_act(l, y, &format!("{name}.block.{i}"), dw, kernel, stride, expanded, Some(a), at)?;
            i += 1;
            if r.se == Some(true) {
                // torchvision: _make_divisible(expanded // 4, 8).
                let squeeze =
                    width::py_int(f64::from(expanded) * se_ratio).and_then(|s| width::make_divisible(f64::from(s), 8));
                let squeeze = l.width(squeeze, "squeeze-excite", at)?;
                y = squeeze_excite(l, y, &format!("{name}.block.{i}"), squeeze, expanded, at)?;
                i += 1;
            }
            y = conv_norm_act(l, y, &format!("{name}.block.{i}"), ConvKind::Regular, 1, 1, out, None, at)?;
            if stride == 1 && in_c == out {
                y = l.add(name, Op::Add, &[x, y], at)?;
            }
            x = y;
            index += 1;
        }
    }
    let Some(last) = &m.last_conv else { return Ok(x) };
    let at = last.referenced;
    let t = last.value.t.map_or(6.0, |t| t.value());
    let c = l.width(width::py_int(f64::from(l.channels(x)) * t), "the last conv", at)?;
    let a = act(last.value.nl.unwrap_or(Nonlinearity::HardSwish));
    conv_norm_act(l, x, &format!("features.{index}"), ConvKind::Regular, 1, 1, c, Some(a), at)
}

/// `torchvision.ops.SqueezeExcitation` `p` with ReLU and hard-sigmoid.
fn squeeze_excite(
    l: &mut Lowerer<'_>,
    x: NodeId,
    p: &str,
    squeeze: u32,
    channels: u32,
    at: Location,
) -> Result<NodeId, SpecError> {
    let g = l.add(format!("{p}.avgpool"), Op::GlobalPool { pool: Pool::Avg, keepdims: true }, &[x], at)?;
    let g = l.conv(g, &format!("{p}.fc1"), ConvKind::Regular, 1, 1, Pad::Symmetric, squeeze, true, at)?;
    let g = l.activation(g, format!("{p}.activation"), Act::Relu, at)?;
    let g = l.conv(g, &format!("{p}.fc2"), ConvKind::Regular, 1, 1, Pad::Symmetric, channels, true, at)?;
    let g = l.activation(g, format!("{p}.scale_activation"), Act::HardSigmoid, at)?;
    l.add(p, Op::Mul, &[x, g], at)
}

/// torchvision's heads: `avgpool` (a module in v3, a function in v2, named
/// the same here) and `flatten`, then the `classifier` Sequential.
pub(super) fn head(l: &mut Lowerer<'_>, x: NodeId) -> Result<NodeId, SpecError> {
    let m = &l.spec.model;
    let at = m.head.referenced;
    let avgpool = Op::GlobalPool { pool: Pool::Avg, keepdims: false };
    match &m.head.value {
        Head::Classifier(c) => {
            let classes = c.classes.value;
            let x = l.add("avgpool", avgpool, &[x], at)?;
            let x = match m.family {
                // Dropout (classifier.0) -> Linear (classifier.1).
                Family::V1 | Family::V2 => dense(l, x, "classifier.1".into(), classes, true, None, at)?,
                // Linear -> Hardswish -> Dropout -> Linear.
                Family::V3Large | Family::V3Small => {
                    let hidden = scaled(l, c.hidden.unwrap_or(1280), "the hidden classifier layer", at)?;
                    let x = dense(l, x, "classifier.0".into(), hidden, true, None, at)?;
                    let a = act(c.hidden_nl.unwrap_or(Nonlinearity::HardSwish));
                    let x = l.activation(x, "classifier.1".into(), a, at)?;
                    dense(l, x, "classifier.3".into(), classes, true, None, at)?
                }
            };
            match c.activation {
                ClassifierActivation::Linear => Ok(x),
                ClassifierActivation::Softmax => l.add("softmax", Op::Softmax, &[x], at),
            }
        }
        Head::Features(f) => match f.pooling {
            Pooling::None => Ok(x),
            Pooling::Avg => l.add("avgpool", avgpool, &[x], at),
            Pooling::Max => l.add("maxpool", Op::GlobalPool { pool: Pool::Max, keepdims: false }, &[x], at),
        },
        Head::Custom(custom) => {
            let at = custom.pooling.referenced;
            let mut x = match custom.pooling.value {
                HeadInput::Avg => l.add("avgpool", avgpool, &[x], at)?,
                HeadInput::Max => l.add("maxpool", Op::GlobalPool { pool: Pool::Max, keepdims: false }, &[x], at)?,
                HeadInput::Flatten => l.add("flatten", Op::Flatten, &[x], at)?,
            };
            // Default names count the modules of an `nn.Sequential` named
            // `classifier`, where an activation is a module of its own.
            let mut index = 0;
            for layer in &custom.layers.value {
                let at = layer.referenced;
                let default = format!("classifier.{index}");
                index += 1;
                match &layer.value {
                    HeadLayer::Dense(d) => {
                        let activation = super::head::dense_activation(d.activation);
                        index += usize::from(activation.is_some());
                        let name = d.name.clone().unwrap_or(default);
                        x = dense(l, x, name, d.units, d.use_bias, activation, at)?;
                    }
                    HeadLayer::BatchNorm(bn) => {
                        let name = bn.name.clone().unwrap_or(default);
                        let channels = l.b.shape(x).channels();
                        // nn.BatchNorm1d's default.
                        let epsilon = bn.epsilon.unwrap_or(1e-5);
                        let op = Op::BatchNorm(BatchNorm { layer: name.clone(), channels, epsilon });
                        x = l.add(name, op, &[x], at)?;
                    }
                    // Identity at inference.
                    HeadLayer::Dropout(_) => {}
                }
            }
            Ok(x)
        }
    }
}

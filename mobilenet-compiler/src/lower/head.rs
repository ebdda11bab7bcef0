//! Heads: Keras' own classifier tops, `include_top=False` features, and
//! custom transfer-learning heads.

use super::{Lowerer, Pad, width};
use crate::ir::{Act, BatchNorm, ConvKind, Dense, DenseAct, NodeId, Op, Pool};
use crate::spec::{
    ClassifierActivation, DenseActivation, Family, Head, HeadInput, HeadLayer, Nonlinearity, Pooling, SpecError,
};

pub(super) fn head(l: &mut Lowerer<'_>, x: NodeId) -> Result<NodeId, SpecError> {
    let m = &l.spec.model;
    let at = m.head.referenced;
    match &m.head.value {
        Head::Classifier(c) => {
            let classes = c.classes.value;
            let softmax = c.activation == ClassifierActivation::Softmax;
            match m.family {
                Family::V1 => {
                    let pool = Op::GlobalPool { pool: Pool::Avg, keepdims: true };
                    let name = l.names.next("global_average_pooling2d");
                    let x = l.add(name, pool, &[x], at)?;
                    // Dropout(name="dropout") is the identity at inference.
                    let x = l.conv(x, "conv_preds", ConvKind::Regular, 1, 1, Pad::Same, classes, true, at)?;
                    let x = l.add("reshape_2", Op::Flatten, &[x], at)?;
                    predictions(l, x, softmax)
                }
                Family::V2 => {
                    let pool = Op::GlobalPool { pool: Pool::Avg, keepdims: false };
                    let name = l.names.next("global_average_pooling2d");
                    let x = l.add(name, pool, &[x], at)?;
                    let activation = softmax.then_some(DenseAct::Softmax);
                    dense(l, x, "predictions".into(), classes, true, activation, at)
                }
                Family::V3Large | Family::V3Small => {
                    let pool = Op::GlobalPool { pool: Pool::Avg, keepdims: true };
                    let name = l.names.next("global_average_pooling2d");
                    let x = l.add(name, pool, &[x], at)?;
                    let nominal = c.hidden.unwrap_or(1280);
                    let alpha = l.alpha();
                    let hidden =
                        if alpha > 1.0 { width::make_divisible(f64::from(nominal) * alpha, 8) } else { Some(nominal) };
                    let hidden = l.width(hidden, "the hidden classifier layer", at)?;
                    let x = l.conv(x, "conv_2", ConvKind::Regular, 1, 1, Pad::Same, hidden, true, at)?;
                    let x = l.v3_nonlinearity(x, c.hidden_nl.unwrap_or(Nonlinearity::HardSwish), at)?;
                    if c.dropout.unwrap_or(0.0) > 0.0 {
                        // An unnamed Dropout: identity at inference, but it takes a name.
                        let _ = l.names.next("dropout");
                    }
                    let x = l.conv(x, "logits", ConvKind::Regular, 1, 1, Pad::Same, classes, true, at)?;
                    let name = l.names.next("flatten");
                    let x = l.add(name, Op::Flatten, &[x], at)?;
                    predictions(l, x, softmax)
                }
            }
        }
        Head::Features(f) => {
            let v3 = m.family.is_v3();
            let (pool, auto, named) = match f.pooling {
                Pooling::None => return Ok(x),
                Pooling::Avg => (Pool::Avg, "global_average_pooling2d", "avg_pool"),
                Pooling::Max => (Pool::Max, "global_max_pooling2d", "max_pool"),
            };
            let name = if v3 { named.to_string() } else { l.names.next(auto) };
            l.add(name, Op::GlobalPool { pool, keepdims: false }, &[x], at)
        }
        Head::Custom(custom) => {
            let at = custom.pooling.referenced;
            let mut x = match custom.pooling.value {
                HeadInput::Avg => {
                    let name = l.names.next("global_average_pooling2d");
                    l.add(name, Op::GlobalPool { pool: Pool::Avg, keepdims: false }, &[x], at)?
                }
                HeadInput::Max => {
                    let name = l.names.next("global_max_pooling2d");
                    l.add(name, Op::GlobalPool { pool: Pool::Max, keepdims: false }, &[x], at)?
                }
                HeadInput::Flatten => {
                    let name = l.names.next("flatten");
                    l.add(name, Op::Flatten, &[x], at)?
                }
            };
            for layer in &custom.layers.value {
                let at = layer.referenced;
                match &layer.value {
                    HeadLayer::Dense(d) => {
                        let name = d.name.clone().unwrap_or_else(|| l.names.next("dense"));
                        let activation = dense_activation(d.activation);
                        x = dense(l, x, name, d.units, d.use_bias, activation, at)?;
                    }
                    HeadLayer::BatchNorm(bn) => {
                        let name = bn.name.clone().unwrap_or_else(|| l.names.next("batch_normalization"));
                        let channels = l.b.shape(x).channels();
                        let epsilon = bn.epsilon.unwrap_or(1e-3);
                        x =
                            l.add(name.clone(), Op::BatchNorm(BatchNorm { layer: name, channels, epsilon }), &[x], at)?;
                    }
                    HeadLayer::Dropout(d) => {
                        // Identity at inference; an unnamed one still takes a name.
                        if d.name.is_none() {
                            let _ = l.names.next("dropout");
                        }
                    }
                }
            }
            Ok(x)
        }
    }
}

/// What a custom head's dense layer applies to its output.
pub(super) fn dense_activation(a: DenseActivation) -> Option<DenseAct> {
    let act = match a {
        DenseActivation::Linear => return None,
        DenseActivation::Softmax => return Some(DenseAct::Softmax),
        DenseActivation::Relu => Act::Relu,
        DenseActivation::Relu6 => Act::Relu6,
        DenseActivation::Sigmoid => Act::Sigmoid,
        DenseActivation::HardSigmoid => Act::HardSigmoid,
        DenseActivation::HardSwish => Act::HardSwish,
    };
    Some(DenseAct::Elementwise(act))
}

/// Keras' `Activation(classifier_activation, name="predictions")`: a softmax
/// node, or nothing for `linear`.
fn predictions(l: &mut Lowerer<'_>, x: NodeId, softmax: bool) -> Result<NodeId, SpecError> {
    if softmax { l.add("predictions", Op::Softmax, &[x], l.spec.model.head.referenced) } else { Ok(x) }
}

/// A `Dense` layer (Keras) or `Linear` module (torchvision) named `name`.
pub(super) fn dense(
    l: &mut Lowerer<'_>,
    x: NodeId,
    name: String,
    units: u32,
    bias: bool,
    activation: Option<DenseAct>,
    at: serde_saphyr::Location,
) -> Result<NodeId, SpecError> {
    let in_features = l.b.shape(x).len() as u32;
    let op = Op::Dense(Dense { layer: name.clone(), in_features, units, bias, batch_norm: None, activation });
    l.add(name, op, &[x], at)
}

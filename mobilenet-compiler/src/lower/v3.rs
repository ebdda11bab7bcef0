//! MobileNetV3 Large and Small (`keras.applications.mobilenet_v3`):
//! inverted residual blocks `expanded_conv_i_*` with relu or hard-swish,
//! optional squeeze-excite, and unnamed activation layers whose automatic
//! names lowering replays.

use super::{Lowerer, Pad, width};
use crate::ir::{Act, ConvKind, NodeId, Op, Padding, Pool};
use crate::spec::{Nonlinearity, SpecError};

pub(super) fn backbone(l: &mut Lowerer<'_>, input: NodeId) -> Result<NodeId, SpecError> {
    let m = &l.spec.model;
    let alpha = l.alpha();
    let stem = &m.stem;
    let at = stem.referenced;
    let mut x = input;
    if m.input.value.include_preprocessing {
        let name = l.names.next("rescaling");
        x = l.add(name, Op::Rescale { scale: 1.0 / 127.5, offset: -1.0 }, &[x], m.input.referenced)?;
    }
    // Keras does not scale the v3 stem by alpha.
    let x = l.conv(x, "conv", ConvKind::Regular, stem.value.k, stem.value.s, Pad::Same, stem.value.c, false, at)?;
    let x = l.batch_norm(x, "conv_bn", at)?;
    let mut x = l.v3_nonlinearity(x, stem.value.nl.unwrap_or(Nonlinearity::HardSwish), at)?;

    let se_ratio = m.se_ratio();
    let mut id = 0u32;
    for row in &m.blocks.value {
        let at = row.referenced;
        let r = &row.value;
        let t = r.t.map_or(1.0, |t| t.value());
        let nl = r.nl.unwrap_or(Nonlinearity::Relu);
        let kernel = r.k.unwrap_or(3);
        let out = l.width(width::make_divisible(f64::from(r.c) * alpha, 8), &format!("block {id}"), at)?;
        for j in 0..r.n {
            let stride = if j == 0 { r.s } else { 1 };
            let block_in = x;
            let in_c = l.channels(x);
            let expanded = l.width(width::make_divisible(f64::from(in_c) * t, 8), &format!("block {id}"), at)?;
            let prefix = if id == 0 { "expanded_conv_".to_string() } else { format!("expanded_conv_{id}_") };
            if id > 0 {
                x = l.pointwise(x, &format!("{prefix}expand"), expanded, at)?;
                x = l.batch_norm(x, &format!("{prefix}expand_bn"), at)?;
                x = l.v3_nonlinearity(x, nl, at)?;
            }
            let pad = |hw| (format!("{prefix}depthwise_pad"), Padding::keras_correct_pad(hw, [kernel, kernel]));
            x = l.depthwise(x, &format!("{prefix}depthwise"), kernel, stride, 1, pad, at)?;
            x = l.batch_norm(x, &format!("{prefix}depthwise_bn"), at)?;
            x = l.v3_nonlinearity(x, nl, at)?;
            if r.se == Some(true) {
                let squeeze =
                    l.width(width::make_divisible(f64::from(expanded) * se_ratio, 8), "squeeze-excite", at)?;
                x = squeeze_excite(l, x, &prefix, squeeze, expanded, at)?;
            }
            x = l.pointwise(x, &format!("{prefix}project"), out, at)?;
            x = l.batch_norm(x, &format!("{prefix}project_bn"), at)?;
            if stride == 1 && in_c == out {
                x = l.add(format!("{prefix}add"), Op::Add, &[block_in, x], at)?;
            }
            id += 1;
        }
    }

    let Some(last) = &m.last_conv else { return Ok(x) };
    let at = last.referenced;
    let t = last.value.t.map_or(6.0, |t| t.value());
    let c = l.width(width::make_divisible(f64::from(l.channels(x)) * t, 8), "the last conv", at)?;
    let x = l.conv(x, "conv_1", ConvKind::Regular, 1, 1, Pad::Same, c, false, at)?;
    let x = l.batch_norm(x, "conv_1_bn", at)?;
    l.v3_nonlinearity(x, last.value.nl.unwrap_or(Nonlinearity::HardSwish), at)
}

/// Keras' `_se_block`: pool, squeeze 1x1 + relu, excite 1x1 + hard-sigmoid,
/// gate. The hard-sigmoid is three Keras nodes, `add` (x + 3), an unnamed
/// `ReLU(6)` and `multiply` (x / 6); the IR has one node, named after the
/// last, whose value it computes.
fn squeeze_excite(
    l: &mut Lowerer<'_>,
    x: NodeId,
    prefix: &str,
    squeeze: u32,
    filters: u32,
    at: serde_saphyr::Location,
) -> Result<NodeId, SpecError> {
    let pool = Op::GlobalPool { pool: Pool::Avg, keepdims: true };
    let g = l.add(format!("{prefix}squeeze_excite_avg_pool"), pool, &[x], at)?;
    let g =
        l.conv(g, &format!("{prefix}squeeze_excite_conv"), ConvKind::Regular, 1, 1, Pad::Same, squeeze, true, at)?;
    let g = l.activation(g, format!("{prefix}squeeze_excite_relu"), Act::Relu, at)?;
    let g =
        l.conv(g, &format!("{prefix}squeeze_excite_conv_1"), ConvKind::Regular, 1, 1, Pad::Same, filters, true, at)?;
    let _relu6 = l.names.next("re_lu");
    let _plus3 = l.names.next("add");
    let name = l.names.next("multiply");
    let g = l.activation(g, name, Act::HardSigmoid, at)?;
    l.add(format!("{prefix}squeeze_excite_mul"), Op::Mul, &[x, g], at)
}

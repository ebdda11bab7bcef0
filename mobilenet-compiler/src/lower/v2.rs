//! MobileNetV2 (`keras.applications.mobilenet_v2`): inverted residual blocks
//! `block_i_{expand,depthwise,project}` with relu6, linear bottlenecks and
//! skip connections where shapes allow.

use super::{Lowerer, Pad, width};
use crate::ir::{Act, ConvKind, NodeId, Op, Padding};
use crate::spec::SpecError;

pub(super) fn backbone(l: &mut Lowerer<'_>, input: NodeId) -> Result<NodeId, SpecError> {
    let m = &l.spec.model;
    let alpha = l.alpha();
    let stem = &m.stem;
    let at = stem.referenced;
    let c = l.width(width::make_divisible(f64::from(stem.value.c) * alpha, 8), "the stem", at)?;
    let x = l.conv(input, "Conv1", ConvKind::Regular, stem.value.k, stem.value.s, Pad::Same, c, false, at)?;
    let x = l.batch_norm(x, "bn_Conv1", at)?;
    let mut x = l.activation(x, "Conv1_relu".into(), Act::Relu6, at)?;

    let mut id = 0u32;
    for row in &m.blocks.value {
        let at = row.referenced;
        let r = &row.value;
        let t = r.t.map_or(1, |t| t.value() as u32);
        let out = width::py_int(f64::from(r.c) * alpha).and_then(|c| width::make_divisible(f64::from(c), 8));
        let out = l.width(out, &format!("block {id}"), at)?;
        for j in 0..r.n {
            let stride = if j == 0 { r.s } else { 1 };
            let block_in = x;
            let in_c = l.channels(x);
            let prefix = if id == 0 { "expanded_conv_".to_string() } else { format!("block_{id}_") };
            if id > 0 {
                let expanded = l.width(in_c.checked_mul(t), &format!("block {id}'s expansion"), at)?;
                x = l.pointwise(x, &format!("{prefix}expand"), expanded, at)?;
                x = l.batch_norm(x, &format!("{prefix}expand_BN"), at)?;
                x = l.activation(x, format!("{prefix}expand_relu"), Act::Relu6, at)?;
            }
            let pad = |hw| (format!("{prefix}pad"), Padding::keras_correct_pad(hw, [3, 3]));
            x = l.depthwise(x, &format!("{prefix}depthwise"), 3, stride, 1, pad, at)?;
            x = l.batch_norm(x, &format!("{prefix}depthwise_BN"), at)?;
            x = l.activation(x, format!("{prefix}depthwise_relu"), Act::Relu6, at)?;
            x = l.pointwise(x, &format!("{prefix}project"), out, at)?;
            x = l.batch_norm(x, &format!("{prefix}project_BN"), at)?;
            if in_c == out && stride == 1 {
                x = l.add(format!("{prefix}add"), Op::Add, &[block_in, x], at)?;
            }
            id += 1;
        }
    }

    let Some(last) = &m.last_conv else { return Ok(x) };
    let at = last.referenced;
    let nominal = last.value.c.unwrap_or(1280);
    let c = if alpha > 1.0 { width::make_divisible(f64::from(nominal) * alpha, 8) } else { Some(nominal) };
    let c = l.width(c, "the last conv", at)?;
    let x = l.conv(x, "Conv_1", ConvKind::Regular, 1, 1, Pad::Valid, c, false, at)?;
    let x = l.batch_norm(x, "Conv_1_bn", at)?;
    l.activation(x, "out_relu".into(), Act::Relu6, at)
}

//! MobileNetV1 (`keras.applications.mobilenet`): a stem, then
//! depthwise-separable blocks `conv_dw_i` / `conv_pw_i` with relu6.

use super::{Lowerer, Pad, width};
use crate::ir::{Act, ConvKind, NodeId, Padding};
use crate::spec::SpecError;

pub(super) fn backbone(l: &mut Lowerer<'_>, input: NodeId) -> Result<NodeId, SpecError> {
    let m = &l.spec.model;
    let alpha = l.alpha();
    let stem = &m.stem;
    let at = stem.referenced;
    let c = l.width(width::py_int(f64::from(stem.value.c) * alpha), "the stem", at)?;
    let x = l.conv(input, "conv1", ConvKind::Regular, stem.value.k, stem.value.s, Pad::Same, c, false, at)?;
    let x = l.batch_norm(x, "conv1_bn", at)?;
    let mut x = l.activation(x, "conv1_relu".into(), Act::Relu6, at)?;

    let multiplier = m.depth_multiplier();
    let mut id = 1;
    for row in &m.blocks.value {
        let at = row.referenced;
        let pw = l.width(width::py_int(f64::from(row.value.c) * alpha), &format!("block {id}"), at)?;
        for j in 0..row.value.n {
            let stride = if j == 0 { row.value.s } else { 1 };
            // v1 pads strided depthwise convs by ((0,1),(0,1)) whatever the parity.
            let pad = |_| (format!("conv_pad_{id}"), Padding { top: 0, bottom: 1, left: 0, right: 1 });
            x = l.depthwise(x, &format!("conv_dw_{id}"), 3, stride, multiplier, pad, at)?;
            x = l.batch_norm(x, &format!("conv_dw_{id}_bn"), at)?;
            x = l.activation(x, format!("conv_dw_{id}_relu"), Act::Relu6, at)?;
            x = l.pointwise(x, &format!("conv_pw_{id}"), pw, at)?;
            x = l.batch_norm(x, &format!("conv_pw_{id}_bn"), at)?;
            x = l.activation(x, format!("conv_pw_{id}_relu"), Act::Relu6, at)?;
            id += 1;
        }
    }
    Ok(x)
}

//! Inference BatchNorm after a conv or dense layer is an affine map per
//! output channel, so it folds into the layer: the kernel is scaled by
//! `gamma / sqrt(var + eps)` and a bias made, at load time. The IR records
//! which BatchNorm (and which epsilon) was folded.

use super::edit::Fuser;
use crate::ir::{Graph, NodeId, Op};

pub(super) fn run(graph: &Graph) -> Graph {
    let mut f = Fuser::new(graph);
    for i in 0..f.len() as u32 {
        let bn_id = NodeId(i);
        let Some(Op::BatchNorm(bn)) = f.node(bn_id).map(|n| n.op.clone()) else { continue };
        let Some(layer) = f.input(bn_id, 0) else { continue };
        let foldable = match f.node(layer).map(|n| &n.op) {
            Some(Op::Conv(c)) => c.batch_norm.is_none() && c.activation.is_none() && !c.residual,
            Some(Op::Dense(d)) => d.batch_norm.is_none() && d.activation.is_none(),
            _ => false,
        };
        if !foldable || !f.sole_reader(layer, bn_id) {
            continue;
        }
        f.absorb(layer, bn_id, &[], |n| match &mut n.op {
            Op::Conv(c) => c.batch_norm = Some(bn),
            Op::Dense(d) => d.batch_norm = Some(bn),
            _ => unreachable!("checked"),
        });
    }
    f.finish()
}

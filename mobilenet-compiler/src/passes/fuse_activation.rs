//! An activation applied to a conv's (or an activation-free dense layer's)
//! output is applied in that layer's epilogue, while the value is still in
//! registers, instead of in a second pass over memory.

use super::edit::Fuser;
use crate::ir::{DenseAct, Graph, NodeId, Op};

pub(super) fn run(graph: &Graph) -> Graph {
    let mut f = Fuser::new(graph);
    for i in 0..f.len() as u32 {
        let act_id = NodeId(i);
        let Some(Op::Activation(act)) = f.node(act_id).map(|n| n.op.clone()) else { continue };
        let Some(layer) = f.input(act_id, 0) else { continue };
        let fusable = match f.node(layer).map(|n| &n.op) {
            Some(Op::Conv(c)) => c.activation.is_none() && !c.residual,
            Some(Op::Dense(d)) => d.activation.is_none(),
            _ => false,
        };
        if !fusable || !f.sole_reader(layer, act_id) {
            continue;
        }
        f.absorb(layer, act_id, &[], |n| match &mut n.op {
            Op::Conv(c) => c.activation = Some(act),
            Op::Dense(d) => d.activation = Some(DenseAct::Elementwise(act)),
            _ => unreachable!("checked"),
        });
    }
    f.finish()
}

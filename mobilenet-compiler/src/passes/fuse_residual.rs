//! The skip connection of an inverted residual block, `add(block_input,
//! project(x))`, is done in the projection conv's epilogue: the conv reads
//! the block input while it writes its output, and the sum never takes a
//! separate pass or buffer.

use super::edit::Fuser;
use crate::ir::{Graph, NodeId, Op};

pub(super) fn run(graph: &Graph) -> Graph {
    let mut f = Fuser::new(graph);
    for i in 0..f.len() as u32 {
        let add = NodeId(i);
        let Some(Op::Add) = f.node(add).map(|n| &n.op) else { continue };
        let (Some(a), Some(b)) = (f.input(add, 0), f.input(add, 1)) else { continue };
        // Prefer the operand computed last (the projection, not the block
        // input); the other operand must exist before the conv runs.
        let candidates = if a > b { [(a, b), (b, a)] } else { [(b, a), (a, b)] };
        let Some((conv, skip)) = candidates.into_iter().find(|&(conv, skip)| {
            matches!(f.node(conv).map(|n| &n.op), Some(Op::Conv(c)) if !c.residual)
                && skip < conv
                && f.sole_reader(conv, add)
        }) else {
            continue;
        };
        f.absorb(conv, add, &[skip], |n| {
            let Op::Conv(c) = &mut n.op else { unreachable!("checked") };
            c.residual = true;
        });
    }
    f.finish()
}

//! `ZeroPadding2D` then a conv with its own padding is one conv with the sum
//! of both paddings: the padded tensor is never materialized.

use super::edit::Fuser;
use crate::ir::{Graph, NodeId, Op};

pub(super) fn run(graph: &Graph) -> Graph {
    let mut f = Fuser::new(graph);
    for i in 0..f.len() as u32 {
        let conv = NodeId(i);
        let Some(Op::Conv(_)) = f.node(conv).map(|n| &n.op) else { continue };
        let Some(pad) = f.input(conv, 0) else { continue };
        let Some(Op::ZeroPad(padding)) = f.node(pad).map(|n| n.op.clone()) else { continue };
        if !f.sole_reader(pad, conv) {
            continue;
        }
        // The pad node absorbs the conv: it takes the conv's op, name and
        // shape, so it reads the pad's input directly.
        let conv_node = f.node(conv).expect("checked").clone();
        f.absorb(pad, conv, &[], |n| {
            let Op::Conv(mut c) = conv_node.op else { unreachable!("checked") };
            c.padding = padding.then(c.padding);
            n.op = Op::Conv(c);
        });
    }
    f.finish()
}

//! Expand (1x1) -> depthwise -> project (1x1) chains become one [`Block`]
//! node, which the code generator streams over bands of rows so that the
//! expanded tensor (4.8 MB in an early MobileNetV2 block) never leaves the
//! cache. A squeeze-excite block, whose gate needs the whole depthwise
//! output, fuses expand and depthwise only; a v1 block, which has no
//! expansion, fuses depthwise and pointwise. A network's stem (a regular
//! 3x3 conv) takes the expansion's place before the first depthwise conv:
//! its 1.6 MB output (v1 and v2 at 224) is made row by row as the
//! depthwise conv needs it.

use super::edit::Fuser;
use crate::ir::{Block, Conv, ConvKind, Graph, NodeId, Op};

/// Kernels taller than this are not fused (the runtime's row kernel limit).
const MAX_KERNEL: u32 = mobilenet_layout::geom::MAX_KERNEL as u32;

/// Blocks are fused only where they keep at least this many bytes of
/// intermediate tensor out of memory. Below it the intermediates live in L2
/// anyway, and row bands only cost GEMM efficiency and weight re-reads
/// (on MobileNetV2, fusing its 14x14 and 7x7 blocks was slower on the
/// AVX-512 Xeon; BENCHMARKS.md).
const MIN_FUSED_BYTES: usize = 1 << 20;

fn pointwise(op: Option<&Op>) -> Option<&Conv> {
    match op {
        Some(Op::Conv(c)) if c.is_pointwise() => Some(c),
        _ => None,
    }
}

pub(super) fn run(graph: &Graph) -> Graph {
    run_with(graph, MIN_FUSED_BYTES)
}

/// The pass with another threshold (tests fuse small networks with 0).
pub(crate) fn run_with(graph: &Graph, min_fused_bytes: usize) -> Graph {
    let mut f = Fuser::new(graph);
    for i in 0..f.len() as u32 {
        let dw_id = NodeId(i);
        let Some(Op::Conv(dw)) = f.node(dw_id).map(|n| n.op.clone()) else { continue };
        if dw.kind != (ConvKind::Depthwise { multiplier: 1 })
            || dw.residual
            || dw.kernel[0] != dw.kernel[1]
            || dw.stride[0] != dw.stride[1]
            || dw.kernel[0] > MAX_KERNEL
        {
            continue;
        }
        let expand = f.input(dw_id, 0).filter(|&e| {
            matches!(f.node(e).map(|n| &n.op), Some(Op::Conv(c)) if c.is_block_expansion()) && f.sole_reader(e, dw_id)
        });
        let project = f
            .sole_consumer(dw_id)
            .filter(|&p| pointwise(f.node(p).map(|n| &n.op)).is_some() && f.input(p, 0) == Some(dw_id));
        if expand.is_none() && project.is_none() {
            continue;
        }
        // What fusion keeps out of memory: the expanded tensor, or without
        // expansion the depthwise output.
        let avoided = match expand {
            Some(e) => f.node(e).map_or(0, |n| n.shape.len()),
            None => f.node(dw_id).map_or(0, |n| n.shape.len()),
        } * 4;
        if avoided < min_fused_bytes {
            continue;
        }
        let block = |expand: Option<Conv>| Op::Block(Box::new(Block { expand, depthwise: dw.clone(), project: None }));
        let head = match expand {
            Some(e) => {
                let Some(Op::Conv(ec)) = f.node(e).map(|n| n.op.clone()) else { unreachable!("checked") };
                f.absorb(e, dw_id, &[], |n| n.op = block(Some(ec)));
                e
            }
            None => {
                f.edit(dw_id, |n| n.op = block(None));
                dw_id
            }
        };
        if let Some(p) = project {
            let Some(Op::Conv(pc)) = f.node(p).map(|n| n.op.clone()) else { unreachable!("checked") };
            let skip: Vec<NodeId> = if pc.residual { f.input(p, 1).into_iter().collect() } else { vec![] };
            if skip.iter().any(|&s| s >= head) {
                continue;
            }
            f.absorb(head, p, &skip, |n| {
                let Op::Block(b) = &mut n.op else { unreachable!("made above") };
                b.project = Some(pc);
            });
        }
    }
    f.finish()
}

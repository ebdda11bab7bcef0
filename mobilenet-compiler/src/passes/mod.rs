//! Optimization passes over the IR, one module each, run in [`PIPELINE`]
//! order. Each pass is a pure `Graph -> Graph` function that keeps the
//! network's value: the interpreter gives the same outputs before and after
//! (tested), and every fused node keeps the name of the last Keras node it
//! absorbed, whose value it computes.

mod edit;
mod fold_batch_norm;
mod fold_padding;
mod fuse_activation;
mod fuse_block;
mod fuse_residual;
mod remove_dead;

use crate::ir::Graph;

/// A named pass.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    pub name: &'static str,
    /// One line on what it does, for `mobilenetc ir --help` and reviewers.
    pub summary: &'static str,
    pub run: fn(&Graph) -> Graph,
}

/// The optimization pipeline, in order.
pub const PIPELINE: [Pass; 6] = [
    Pass {
        name: "fold_padding",
        summary: "ZeroPadding2D into the padding of the conv that reads it",
        run: fold_padding::run,
    },
    Pass {
        name: "fold_batch_norm",
        summary: "BatchNorm into the conv before it (weights scaled and a bias made at load time)",
        run: fold_batch_norm::run,
    },
    Pass {
        name: "fuse_activation",
        summary: "an activation into the epilogue of the conv or dense layer that produces its input",
        run: fuse_activation::run,
    },
    Pass {
        name: "fuse_residual",
        summary: "a residual add into the epilogue of the conv producing one of its operands",
        run: fuse_residual::run,
    },
    Pass {
        name: "fuse_block",
        summary: "expand -> depthwise -> project into one block streamed over rows (the expanded tensor stays in cache)",
        run: fuse_block::run,
    },
    Pass { name: "remove_dead", summary: "nodes whose value nothing reads", run: remove_dead::run },
];

/// Runs the whole pipeline.
pub fn optimize(graph: &Graph) -> Graph {
    optimize_with(graph, BlockFusion::BySize)
}

/// Which expand -> depthwise -> project chains `fuse_block` fuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFusion {
    /// Those whose intermediate tensor is large enough for fusion to pay
    /// (the pipeline's choice).
    BySize,
    /// All of them, whatever their size: tests use it to run the fused-block
    /// kernel (residual blocks, v1 blocks) on small committed networks.
    Every,
    /// None: every conv stays a node of its own (int8 networks, whose
    /// kernels have no fused block).
    Never,
}

/// Runs the whole pipeline, fusing blocks as `blocks` says.
pub fn optimize_with(graph: &Graph, blocks: BlockFusion) -> Graph {
    PIPELINE.iter().fold(graph.clone(), |g, p| match (p.name, blocks) {
        ("fuse_block", BlockFusion::Every) => fuse_block::run_with(&g, 0),
        ("fuse_block", BlockFusion::Never) => g,
        _ => (p.run)(&g),
    })
}

/// Runs the pipeline up to and including the pass named `last`.
pub fn optimize_until(graph: &Graph, last: &str) -> Result<Graph, String> {
    let Some(end) = PIPELINE.iter().position(|p| p.name == last) else {
        let names: Vec<&str> = PIPELINE.iter().map(|p| p.name).collect();
        return Err(format!("unknown pass `{last}`; the passes are {}", names.join(", ")));
    };
    Ok(PIPELINE[..=end].iter().fold(graph.clone(), |g, p| (p.run)(&g)))
}

#[cfg(all(test, feature = "reference"))]
mod tests;

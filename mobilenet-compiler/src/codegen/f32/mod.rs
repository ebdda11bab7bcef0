//! Float networks: an optimized graph and its memory plan become a
//! [`Program`]: one kernel call per IR node ([`ops`]) on constant slices of
//! the arena and of one weight buffer ([`layout`]), and the tables a load
//! reads.

pub(super) mod layout;
pub(super) mod ops;

use std::path::Path;

use proc_macro2::TokenStream;
use quote::quote;

use super::arena::{Borrows, lit, step_nodes};
use super::embed::{self, Blob, BlobLayout};
use super::network::{Program, StepCode};
use super::{Fusion, GenerateError, Precision};
use crate::ir::{Graph, NodeId};
use crate::plan::{self, Plan};
use layout::Layout;
use mobilenet_layout::pack::Packing;

/// The program of `graph` (optimized as `fusion` says).
pub(super) fn program(graph: &Graph, fusion: Fusion, rt: &TokenStream) -> Program {
    let plan = Plan::of(graph);
    let layout = Layout::of(graph);
    let doc = format!(
        "`{}`, compiled by mobilenet-rs ({}): input `{}`, output `{}`, {} parameters, arena of {} floats.",
        graph.name,
        match fusion {
            Fusion::Off => "unfused",
            Fusion::Optimized => "fused",
            Fusion::EveryBlock => "every block fused",
        },
        graph.input_shape(),
        graph.output_shape(),
        layout.params,
        plan.arena_len
    );
    let tensors = layout.tensor_specs(rt);
    let prepare = layout.prepare_steps(graph, rt);
    let tables = quote! {
        /// The tensors the weights file must hold (names, shapes and
        /// layouts of the spec's framework: Keras or a torchvision state_dict).
        pub const TENSORS: &'static [#rt::weights::TensorSpec<'static>] = &[#(#tensors),*];
        /// How the weight buffer is prepared from [`Self::TENSORS`].
        const PREPARE: &'static [#rt::prepare::Step] = &[#(#prepare),*];
    };
    Program {
        precision: Precision::F32,
        doc,
        input_shape: graph.input_shape().dims(),
        output_shape: graph.output_shape().dims(),
        arena_len: plan.arena_len,
        weights_len: layout.len,
        scratch_len: plan.scratch.iter().flatten().map(|(_, len)| *len).max().unwrap_or(0),
        steps: step_nodes(graph).map(|id| step(graph, &plan, &layout, id)).collect(),
        tables,
    }
}

/// The code of the step computing node `id`.
pub(super) fn step(graph: &Graph, plan: &Plan, layout: &Layout, id: NodeId) -> StepCode {
    let node = graph.node(id);
    let mut writes = Vec::new();
    let own = plan.storage(id);
    if let plan::Storage::Arena { offset, len } = own {
        writes.push((offset, len));
    }
    writes.extend(plan.scratch[id.index()]);
    let b = Borrows::new(writes, matches!(own, plan::Storage::Output));
    let y = match own {
        plan::Storage::Arena { offset, .. } => {
            let w = b.write(offset);
            quote!(#w)
        }
        plan::Storage::Output => quote!(y),
        plan::Storage::Input => unreachable!("only the input lives in the input buffer"),
    };
    let mut at = ops::At { graph, id, node, plan, nw: &layout.nodes[id.index()], b, y };
    let call = ops::call(&mut at);
    let prelude = at.b.prelude();
    let value = match own {
        plan::Storage::Arena { offset, len } => {
            let (start, end) = (lit(offset), lit(offset + len));
            quote!(&arena[#start..#end])
        }
        plan::Storage::Output => quote!(&output[..]),
        plan::Storage::Input => quote!(&input[..]),
    };
    StepCode {
        name: node.name.clone(),
        line: graph.line(id),
        code: quote! {
            #prelude
            #call
        },
        value: Some(value),
    }
}

/// The weights of the safetensors file `bytes` (called `shown` in errors),
/// prepared for every packing and written to `dir`.
pub(super) fn blobs(graph: &Graph, bytes: &[u8], shown: &str, dir: &Path) -> Result<Vec<Blob>, GenerateError> {
    let layout = Layout::of(graph);
    let params = graph.params();
    let tensors = mobilenet_layout::weights::load_bytes(shown, bytes, &crate::weights::specs(&params))?;
    let steps = layout.steps(graph);
    let mut blobs = Vec::new();
    for packing in Packing::ALL {
        let mut w = vec![0.0f32; layout.len];
        mobilenet_layout::prepare::run(&steps, &tensors, &mut w, packing);
        let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        blobs.push(embed::blob(dir, BlobLayout::F32(packing), &bytes)?);
    }
    Ok(blobs)
}

//! int8 networks: an [`Int8Graph`] becomes a [`Program`] whose `forward`
//! quantizes its float input into the arena, runs the int8 kernels of
//! `mobilenet_runtime::kernels::q8` with every shape and blob offset a
//! constant ([`ops`]), and writes float logits.
//!
//! The arena is bytes: the memory plan of the graph (its element counts are
//! bytes for u8 tensors), then the quantized input. The weights are one
//! blob of layer records ([`table`], `mobilenet_layout::q8prep`), prepared
//! from a quantized-model file at load time or at build time.

pub(super) mod ops;
pub(super) mod table;

use std::path::Path;

use proc_macro2::TokenStream;
use quote::quote;

use super::arena::{Borrows, lit};
use super::embed::{self, Blob, BlobLayout};
use super::network::{Program, StepCode};
use super::{GenerateError, Precision};
use crate::ir::{DenseAct, NodeId, Op};
use crate::plan::{Plan, Storage};
use crate::quant::{Int8Graph, Role};
use mobilenet_layout::q8file::QFile;
use mobilenet_layout::q8pack::QLayout;
use table::Table;

/// The program of `net`, and its table of weighted steps.
pub(super) fn program(net: &Int8Graph, rt: &TokenStream) -> (Program, Table) {
    let g = &net.graph;
    let plan = Plan::of(g);
    let input_len = g.input_shape().len();
    let input_at = plan.arena_len.next_multiple_of(64);
    let arena_len = input_at + input_len;
    let mut table = Table::default();
    let steps: Vec<StepCode> =
        g.ids().filter_map(|id| step(net, &plan, (input_at, input_len), &mut table, id)).collect();
    let doc = format!(
        "`{}`, compiled by mobilenet-rs (int8): input `{}` (float), output `{}` (float), arena of {} bytes.",
        g.name,
        g.input_shape(),
        g.output_shape(),
        arena_len
    );
    let entries = table.tokens(rt);
    let tables = quote! {
        /// What each weighted step reads from the quantized-model file, and
        /// where its record goes in the weight blob.
        const STEPS: &'static [#rt::q8prep::QStep<'static>] = {
            use #rt::kernels as k;
            &[#(#entries),*]
        };
    };
    let program = Program {
        precision: Precision::Int8,
        doc,
        input_shape: g.input_shape().dims(),
        output_shape: g.output_shape().dims(),
        arena_len,
        weights_len: table.len,
        scratch_len: 0,
        steps,
        tables,
    };
    (program, table)
}

/// The code of the step computing node `id`, if it takes one.
fn step(net: &Int8Graph, plan: &Plan, input: (usize, usize), table: &mut Table, id: NodeId) -> Option<StepCode> {
    let g = &net.graph;
    let node = g.node(id);
    let role = net.role(id);
    let own = match role {
        Role::Quantized => match plan.storage(id) {
            Storage::Arena { offset, len } => Some((offset, len)),
            _ => unreachable!("quantized nodes live in the arena"),
        },
        Role::Input if id == net.input => Some(input),
        _ => None,
    };
    let b = Borrows::new(own.into_iter().collect(), false);
    let y = own.map(|(o, _)| {
        let w = b.write(o);
        quote!(#w)
    });
    let mut at = ops::At { net, node, plan, input, b, y, table };
    let call = match role {
        Role::Alias => return None,
        Role::Input if id != net.input => return None,
        Role::Input => ops::quantize_input(&mut at),
        Role::Softmax if matches!(&g.node(net.tail).op, Op::Dense(d) if d.activation == Some(DenseAct::Softmax)) => {
            return None;
        }
        Role::Softmax => ops::softmax(),
        Role::Tail => ops::classifier(&mut at),
        Role::Quantized => match &node.op {
            Op::Conv(c) => ops::conv(&mut at, c),
            Op::GlobalPool { .. } => ops::pool(&mut at),
            _ => unreachable!("Int8Graph::of admits only convs and average pools"),
        },
    };
    let prelude = at.b.prelude();
    let value = own.map(|(o, l)| {
        let (a, z) = (lit(o), lit(o + l));
        quote!(&arena[#a..#z])
    });
    Some(StepCode {
        name: node.name.clone(),
        line: g.line(id),
        code: quote! {
            #prelude
            #call
        },
        value,
    })
}

/// The quantized-model file `bytes` (called `shown` in errors), checked and
/// prepared for every int8 layout, written to `dir`.
pub(super) fn blobs(table: &Table, bytes: &[u8], shown: &str, dir: &Path) -> Result<Vec<Blob>, GenerateError> {
    let file = QFile::from_bytes(shown, bytes)?;
    let steps = table.views();
    let mut blobs = Vec::new();
    for layout in QLayout::ALL {
        let mut blob = vec![0u8; table.len];
        mobilenet_layout::q8prep::prepare(shown, &file, &steps, layout, &mut blob)?;
        blobs.push(embed::blob(dir, BlobLayout::Int8(layout), &blob)?);
    }
    Ok(blobs)
}

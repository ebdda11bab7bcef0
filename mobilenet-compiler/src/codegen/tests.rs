//! The code of each op kind, one snapshot each: the first node of that
//! kind in a small committed network, as the step `forward` runs for it
//! (`codegen/snapshots/` holds them for review). Whole generated types are
//! snapshotted by the root package's `tests/codegen_snapshots.rs`.

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

use super::{Fusion, f32, int8};
use crate::ir::{ConvKind, DenseAct, Graph, NodeId, Op, Pool};
use crate::passes::{self, BlockFusion};
use crate::plan::Plan;
use crate::quant::{Int8Graph, Role};
use crate::spec::{ClassifierActivation, Family, Spec, StandardOptions, standard_spec};

/// A spec of the repository (`specs/` or a fixture of `tests/data`).
fn spec(path: &str) -> Spec {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    Spec::from_file(&full).unwrap_or_else(|e| panic!("{e}"))
}

/// `code` formatted as the body of a function, for review.
fn pretty(what: &str, code: TokenStream) -> String {
    let file = quote! {
        fn step() {
            #code
        }
    };
    format!("// {what}\n{}", super::pretty(&file))
}

/// The float step of the first node of `path` (compiled as `fusion` says)
/// that `pick` accepts.
fn f32_step(path: &str, fusion: Fusion, pick: impl Fn(&Op) -> bool) -> String {
    let lowered = crate::lower(&spec(path)).unwrap();
    let graph = match fusion {
        Fusion::Off => lowered,
        Fusion::Optimized => passes::optimize(&lowered),
        Fusion::EveryBlock => passes::optimize_with(&lowered, BlockFusion::Every),
    };
    let id = first(&graph, |id| pick(&graph.node(id).op));
    let (plan, layout) = (Plan::of(&graph), f32::layout::Layout::of(&graph));
    let step = f32::step(&graph, &plan, &layout, id);
    pretty(&step.line, step.code)
}

/// The int8 step of the first node of `spec` whose role and op `pick` accepts.
fn int8_step(spec: Spec, pick: impl Fn(Role, &Op) -> bool) -> String {
    let net = Int8Graph::of(&crate::lower(&spec).unwrap()).unwrap();
    let program = int8::program(&net, &quote!(::mobilenet_runtime)).0;
    let name = &net.graph.node(first(&net.graph, |id| pick(net.role(id), &net.graph.node(id).op))).name;
    let step = program.steps.iter().find(|s| &s.name == name).expect("the node takes a step");
    pretty(&step.line, step.code.clone())
}

fn first(graph: &Graph, pick: impl Fn(NodeId) -> bool) -> NodeId {
    graph.ids().find(|&id| pick(id)).expect("the network has such a node")
}

const TINY: &str = "specs/tiny.yaml";
const V1_CUSTOM_MAX: &str = "tests/data/keras_v1_0.25_custom_max/spec.yaml";
const V3_PREPROCESSING: &str = "tests/data/keras_v3small_0.35_prep_softmax/spec.yaml";
fn v2_int8() -> Spec {
    spec("tests/data/keras_v2_0.1_32/spec.yaml")
}

/// A small Keras MobileNetV1 whose classifier (a 1x1 conv) is followed by a softmax.
fn v1_softmax() -> Spec {
    let mut o = StandardOptions::new(Family::V1);
    (o.alpha, o.height, o.width, o.classes) = (0.25, 32, 32, 5);
    o.classifier_activation = ClassifierActivation::Softmax;
    Spec::parse(&standard_spec(&o), "v1_softmax.yaml").unwrap()
}

fn is_conv(op: &Op, f: impl Fn(&crate::ir::Conv) -> bool) -> bool {
    matches!(op, Op::Conv(c) if f(c))
}

#[test]
fn f32_stem_conv() {
    insta::assert_snapshot!(
        f32_step(TINY, Fusion::Optimized, |op| is_conv(op, |c| c.kind == ConvKind::Regular && !c.is_pointwise()))
    );
}

#[test]
fn f32_pointwise_conv_with_residual() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Optimized, |op| is_conv(op, |c| c.is_pointwise() && c.residual)));
}

#[test]
fn f32_depthwise_conv() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Optimized, |op| is_conv(op, |c| matches!(
        c.kind,
        ConvKind::Depthwise { .. }
    ))));
}

#[test]
fn f32_block() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::EveryBlock, |op| matches!(op, Op::Block(b) if b.residual())));
}

#[test]
fn f32_batch_norm() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Off, |op| matches!(op, Op::BatchNorm(_))));
}

#[test]
fn f32_activation() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Off, |op| matches!(op, Op::Activation(_))));
}

#[test]
fn f32_rescale() {
    insta::assert_snapshot!(f32_step(V3_PREPROCESSING, Fusion::Off, |op| matches!(op, Op::Rescale { .. })));
}

#[test]
fn f32_zero_pad() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Off, |op| matches!(op, Op::ZeroPad(_))));
}

#[test]
fn f32_add() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Off, |op| matches!(op, Op::Add)));
}

#[test]
fn f32_mul_gate() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Optimized, |op| matches!(op, Op::Mul)));
}

#[test]
fn f32_global_avg_pool() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Optimized, |op| matches!(
        op,
        Op::GlobalPool { pool: Pool::Avg, .. }
    )));
}

#[test]
fn f32_global_max_pool() {
    insta::assert_snapshot!(f32_step(V1_CUSTOM_MAX, Fusion::Optimized, |op| matches!(
        op,
        Op::GlobalPool { pool: Pool::Max, .. }
    )));
}

#[test]
fn f32_dense_with_softmax() {
    insta::assert_snapshot!(f32_step(V1_CUSTOM_MAX, Fusion::Optimized, |op| matches!(
        op,
        Op::Dense(d) if d.activation == Some(DenseAct::Softmax)
    )));
}

#[test]
fn f32_softmax() {
    insta::assert_snapshot!(f32_step(TINY, Fusion::Off, |op| matches!(op, Op::Softmax)));
}

#[test]
fn int8_quantize_input() {
    insta::assert_snapshot!(int8_step(v2_int8(), |role, _| role == Role::Input));
}

#[test]
fn int8_stem_conv() {
    insta::assert_snapshot!(int8_step(v2_int8(), |role, op| role == Role::Quantized
        && is_conv(op, |c| c.kind == ConvKind::Regular && !c.is_pointwise())));
}

#[test]
fn int8_pointwise_conv_with_residual() {
    insta::assert_snapshot!(
        int8_step(v2_int8(), |role, op| role == Role::Quantized && is_conv(op, |c| c.is_pointwise() && c.residual))
    );
}

#[test]
fn int8_depthwise_conv() {
    insta::assert_snapshot!(int8_step(v2_int8(), |_, op| is_conv(op, |c| matches!(
        c.kind,
        ConvKind::Depthwise { .. }
    ))));
}

#[test]
fn int8_global_avg_pool() {
    insta::assert_snapshot!(int8_step(v2_int8(), |_, op| matches!(op, Op::GlobalPool { .. })));
}

#[test]
fn int8_classifier() {
    insta::assert_snapshot!(int8_step(v2_int8(), |role, _| role == Role::Tail));
}

#[test]
fn int8_softmax() {
    insta::assert_snapshot!(int8_step(v1_softmax(), |role, _| role == Role::Softmax));
}

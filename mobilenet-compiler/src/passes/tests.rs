//! Each pass: a readable before/after snapshot on the tiny spec, the same
//! outputs before and after on random weights, and the cases it must leave
//! alone.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use super::*;
use crate::interp;
use crate::ir::{Act, Conv, ConvKind, GraphBuilder, NodeId, Op, Padding, Shape};
use crate::spec::Spec;
use crate::weights::{Tensor, Weights};

fn tiny() -> Graph {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/tiny.yaml");
    crate::lower(&Spec::from_file(&path).unwrap()).unwrap()
}

/// Lines removed (`-`) and added (`+`) by a pass; node lines are unique, so
/// a set difference is a faithful diff.
fn diff(before: &Graph, after: &Graph) -> String {
    let (b, a) = (before.to_string(), after.to_string());
    let (bl, al): (Vec<&str>, Vec<&str>) = (b.lines().collect(), a.lines().collect());
    let mut out = String::new();
    for l in &bl {
        if !al.contains(l) {
            out.push_str(&format!("- {l}\n"));
        }
    }
    for l in &al {
        if !bl.contains(l) {
            out.push_str(&format!("+ {l}\n"));
        }
    }
    out
}

/// Deterministic weights for every parameter of `g`, with BatchNorm
/// variances positive.
fn random_weights(g: &Graph) -> Weights {
    let mut w = Weights::default();
    let mut s = 0x9E3779B97F4A7C15u64;
    for p in g.params() {
        let data = (0..p.len())
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                if p.key.ends_with("moving_variance") { 0.5 + u } else { u * 2.0 - 1.0 }
            })
            .collect();
        w.insert(p.key.clone(), Tensor { shape: p.shape.clone(), data });
    }
    w
}

fn outputs(g: &Graph, w: &Weights) -> Vec<f32> {
    let dims: Vec<usize> = std::iter::once(2).chain(g.input_shape().dims()).collect();
    let n: usize = dims.iter().product();
    let x = ArrayD::from_shape_vec(IxDyn(&dims), (0..n).map(|i| ((i * 7919) % 255) as f32 / 127.5 - 1.0).collect());
    interp::run(g, w, x.unwrap().view()).unwrap().iter().copied().collect()
}

#[test]
fn each_pass_keeps_the_outputs_and_snapshots_its_change() {
    let mut g = tiny();
    let w = random_weights(&g);
    let reference = outputs(&g, &w);
    for pass in PIPELINE {
        let after = (pass.run)(&g);
        insta::assert_snapshot!(format!("tiny_{}", pass.name), diff(&g, &after));
        let out = outputs(&after, &w);
        for (a, b) in out.iter().zip(&reference) {
            assert!((a - b).abs() <= 1e-5, "{}: {a} vs {b}", pass.name);
        }
        g = after;
    }
    insta::assert_snapshot!("tiny_optimized", g.to_string());
    assert_eq!(g, optimize(&tiny()));
}

/// The tiny network is below the size at which the pipeline fuses blocks;
/// with the threshold at zero, every fusable chain becomes a block.
#[test]
fn block_fusion_keeps_the_outputs() {
    let before = PIPELINE[..PIPELINE.len() - 2].iter().fold(tiny(), |g, p| (p.run)(&g));
    let after = fuse_block::run_with(&before, 0);
    insta::assert_snapshot!("tiny_fuse_block_everywhere", diff(&before, &after));
    // The stem with the first depthwise conv (squeeze-excite follows: no
    // projection), a residual block, an expand-depthwise pair.
    assert_eq!(after.nodes().iter().filter(|n| matches!(n.op, Op::Block(_))).count(), 3, "{after}");
    let w = random_weights(&before);
    for (a, b) in outputs(&after, &w).iter().zip(outputs(&before, &w)) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

/// In MobileNetV2 at 224x224 the pipeline fuses the early blocks, whose
/// expanded tensors are megabytes, and leaves the late ones.
#[test]
fn block_fusion_of_v2_is_the_large_blocks() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/v2_1.0_224.yaml");
    let g = optimize(&crate::lower(&Spec::from_file(&path).unwrap()).unwrap());
    let blocks: Vec<&str> =
        g.nodes().iter().filter(|n| matches!(n.op, Op::Block(_))).map(|n| n.name.as_str()).collect();
    assert_eq!(blocks, ["expanded_conv_project_BN", "block_1_project_BN", "block_2_add", "block_3_project_BN"]);
}

#[test]
fn optimize_until_stops_after_the_named_pass() {
    let g = tiny();
    let bn = optimize_until(&g, "fold_batch_norm").unwrap();
    assert!(bn.nodes().iter().all(|n| !matches!(n.op, Op::BatchNorm(_) | Op::ZeroPad(_))));
    assert!(bn.nodes().iter().any(|n| matches!(n.op, Op::Activation(_))));
    let err = optimize_until(&g, "fuse_everything").unwrap_err();
    assert!(err.contains("unknown pass `fuse_everything`; the passes are fold_padding, fold_batch_norm"), "{err}");
}

fn conv(layer: &str, cin: u32, cout: u32) -> Op {
    Op::Conv(Conv {
        layer: layer.into(),
        kind: ConvKind::Regular,
        kernel: [1, 1],
        stride: [1, 1],
        padding: Padding::ZERO,
        in_channels: cin,
        out_channels: cout,
        bias: false,
        batch_norm: None,
        activation: None,
        residual: false,
    })
}

#[test]
fn a_value_read_twice_is_not_fused_away() {
    // conv -> relu, and the conv's raw value is also added to the relu's.
    let mut b = GraphBuilder::new("t", "in", Shape::map(2, 2, 4));
    let c = b.add("c", conv("c", 4, 4), &[NodeId(0)]).unwrap();
    let r = b.add("r", Op::Activation(Act::Relu), &[c]).unwrap();
    let s = b.add("s", Op::Add, &[c, r]).unwrap();
    let g = b.finish(s);
    let opt = optimize(&g);
    assert!(opt.find("r").is_some_and(|r| matches!(opt.node(r).op, Op::Activation(_))), "{opt}");
}

#[test]
fn residual_fusion_needs_the_skip_computed_before_the_conv() {
    // add(conv(x), later) where `later` is computed after the conv: the
    // conv cannot read it, so the add stays.
    let mut b = GraphBuilder::new("t", "in", Shape::map(2, 2, 4));
    let c = b.add("c", conv("c", 4, 4), &[NodeId(0)]).unwrap();
    let later = b.add("later", conv("later", 4, 4), &[NodeId(0)]).unwrap();
    let s = b.add("s", Op::Add, &[c, later]).unwrap();
    let g = b.finish(s);
    let opt = optimize(&g);
    // `later` itself qualifies (its skip `c` comes first), so it absorbs the add.
    let s = opt.node(opt.output());
    assert_eq!(s.name, "s");
    let Op::Conv(fused) = &s.op else { panic!("{opt}") };
    assert_eq!(fused.layer, "later");
    assert!(fused.residual);
}

#[test]
fn padding_folds_into_the_conv_padding() {
    let mut b = GraphBuilder::new("t", "in", Shape::map(5, 5, 2));
    let p = b.add("p", Op::ZeroPad(Padding { top: 0, bottom: 1, left: 2, right: 0 }), &[NodeId(0)]).unwrap();
    let Op::Conv(mut c) = conv("c", 2, 2) else { unreachable!() };
    c.kernel = [3, 3];
    c.padding = Padding { top: 1, bottom: 1, left: 1, right: 1 };
    let c = b.add("c", Op::Conv(c), &[p]).unwrap();
    let g = b.finish(c);
    let opt = optimize(&g);
    assert_eq!(opt.nodes().len(), 2, "{opt}");
    let Op::Conv(c) = &opt.node(opt.output()).op else { panic!() };
    assert_eq!(c.padding, Padding { top: 1, bottom: 2, left: 3, right: 1 });
    let w = random_weights(&g);
    assert_eq!(outputs(&g, &w), outputs(&opt, &w));
}

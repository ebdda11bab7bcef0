//! torchvision's trained MobileNetV2 (ImageNet weights, committed in
//! `generated-example/models/mobilenet_v2_imagenet`): the interpreter and
//! the compiled network, fused and unfused, on every instruction set, give
//! torchvision's logits on real photos (preprocessed by torchvision itself)
//! and torchvision's top-5 classes.

mod common;

use std::path::PathBuf;

use common::{assert_logits_match, max_abs_diff};
use mobilenet_compiler::npy;
use mobilenet_compiler::spec::Spec;
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower};
use mobilenet_runtime::Network;
use mobilenet_runtime::kernels::{Isa, Precision};
use ndarray::{ArrayD, IxDyn};

mobilenet_macros::mobilenet!("specs/tv_v2_1.0_224.yaml", name = Fused);
mobilenet_macros::mobilenet!("specs/tv_v2_1.0_224.yaml", name = Unfused, fuse = false);

fn model_dir() -> PathBuf {
    common::root().join("generated-example/models/mobilenet_v2_imagenet")
}

/// The classes of each row of `[n, 1000]` logits, most probable first.
fn top5(logits: &[f32]) -> Vec<Vec<usize>> {
    logits
        .chunks(1000)
        .map(|row| {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            idx.truncate(5);
            idx
        })
        .collect()
}

/// torchvision's top-5 per photo, from `meta.json` (written by torchvision's
/// run, not derived from the logits here).
fn torchvision_top5() -> Vec<(String, Vec<usize>)> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir().join("reference/meta.json")).unwrap()).unwrap();
    meta["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|img| {
            let classes = img["top5"].as_array().unwrap().iter().map(|c| c["class"].as_u64().unwrap() as usize);
            (img["name"].as_str().unwrap().to_string(), classes.collect())
        })
        .collect()
}

fn check(what: &str, logits: &[f32], expected: &npy::Array) {
    let rel = assert_logits_match(what, logits, expected);
    let ours = top5(logits);
    for ((photo, theirs), ours) in torchvision_top5().iter().zip(&ours) {
        assert_eq!(ours, theirs, "{what}: top-5 of {photo}");
    }
    eprintln!("{what}: max |logit - torchvision| / max|torchvision| = {rel:e}, top-5 equal on {} photos", ours.len());
}

/// Every image of `input` through `net`.
fn run_all<N: Network>(net: &N, input: &[f32]) -> Vec<f32> {
    let mut arena = vec![N::Elem::default(); N::ARENA_LEN];
    let mut out = vec![0.0; input.len() / N::INPUT_LEN * N::OUTPUT_LEN];
    for (x, y) in input.chunks(N::INPUT_LEN).zip(out.chunks_mut(N::OUTPUT_LEN)) {
        net.run(x, y, &mut arena);
    }
    out
}

#[test]
fn the_real_mobilenet_v2_gives_torchvisions_logits_and_top5() {
    let input = npy::read(&model_dir().join("reference/input.npy")).unwrap();
    let expected = npy::read(&model_dir().join("reference/expected_logits.npy")).unwrap();
    assert_eq!(input.shape, vec![4, 224, 224, 3]);

    let spec = Spec::from_file(&common::root().join("specs/tv_v2_1.0_224.yaml")).unwrap();
    let graph = lower(&spec).unwrap();
    let weights = Weights::load(&model_dir().join("weights.safetensors"), &graph).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&input.shape), input.data.clone()).unwrap();
    let reference: Vec<f32> = interp::run(&graph, &weights, x.view()).unwrap().iter().copied().collect();
    check("interpreter", &reference, &expected);

    for isa in Isa::distinct(Precision::F32) {
        let fused = Fused::load_with(model_dir().join("weights.safetensors"), isa).unwrap();
        let unfused = Unfused::load_with(model_dir().join("weights.safetensors"), isa).unwrap();
        let out = run_all(&fused, &input.data);
        check(&format!("fused {isa}"), &out, &expected);
        let (diff, scale) = max_abs_diff(&out, &reference);
        assert!(diff <= 1e-5 * scale, "fused {isa} vs interpreter: {diff:e}");
        let out = run_all(&unfused, &input.data);
        check(&format!("unfused {isa}"), &out, &expected);
    }
}

//! The code `mobilenet!` generates for the tiny spec, fused and unfused,
//! reviewed as snapshots; and that code run against the interpreter.

use std::collections::HashMap;
use std::path::Path;

use mobilenet_compiler::codegen::{Options, generate};
use mobilenet_compiler::spec::Spec;
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower};
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::TensorView;

fn tiny() -> Spec {
    Spec::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/tiny.yaml")).unwrap()
}

#[test]
fn tiny_fused_code() {
    insta::assert_snapshot!(generate(&tiny(), &Options::new("Tiny")).unwrap().pretty());
}

#[test]
fn tiny_unfused_code() {
    let mut options = Options::new("TinyUnfused");
    options.fusion = mobilenet_compiler::codegen::Fusion::Off;
    insta::assert_snapshot!(generate(&tiny(), &options).unwrap().pretty());
}

mobilenet_macros::mobilenet!("specs/tiny.yaml", name = Tiny);
mobilenet_macros::mobilenet!("specs/tiny.yaml", name = TinyUnfused, fuse = false);

/// Random weights for every tensor of the tiny network, as a safetensors file.
fn random_safetensors() -> Vec<u8> {
    let graph = lower(&tiny()).unwrap();
    let mut s = 7u64;
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = graph
        .params()
        .into_iter()
        .map(|p| {
            let bytes = (0..p.len())
                .flat_map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                    let v = if p.key.ends_with("moving_variance") { 0.5 + u } else { 2.0 * u - 1.0 };
                    v.to_le_bytes()
                })
                .collect();
            (p.key, p.shape, bytes)
        })
        .collect();
    let views: HashMap<&str, TensorView<'_>> = data
        .iter()
        .map(|(k, shape, b)| (k.as_str(), TensorView::new(safetensors::Dtype::F32, shape.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn tiny_generated_code_matches_the_interpreter() {
    let bytes = random_safetensors();
    let fused = Tiny::from_safetensors(&bytes).unwrap();
    let unfused = TinyUnfused::from_safetensors(&bytes).unwrap();
    let graph = lower(&tiny()).unwrap();
    let weights = Weights::from_bytes("random", &bytes, &graph).unwrap();
    let input: Vec<f32> = (0..Tiny::INPUT_LEN).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
    let expected =
        interp::run(&graph, &weights, ArrayD::from_shape_vec(IxDyn(&[1, 32, 32, 3]), input.clone()).unwrap().view())
            .unwrap();
    let input: &[f32; Tiny::INPUT_LEN] = input.as_slice().try_into().unwrap();
    let mut out = [0.0; Tiny::OUTPUT_LEN];
    fused.forward(input, &mut out, &mut Tiny::new_arena());
    let mut out_unfused = [0.0; TinyUnfused::OUTPUT_LEN];
    unfused.forward(input, &mut out_unfused, &mut TinyUnfused::new_arena());
    for ((a, b), e) in out.iter().zip(&out_unfused).zip(expected.iter()) {
        assert!((a - e).abs() < 1e-5 && (b - e).abs() < 1e-5, "{a} {b} {e}");
    }
    assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5, "softmax output");
}

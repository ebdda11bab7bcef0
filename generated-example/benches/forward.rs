//! Interpreter vs unfused vs fused generated code, per network, one image.
//!
//! ```text
//! cargo bench -p generated-example --bench forward
//! ```
//!
//! Uses the Keras fixtures' weights and inputs from `../shared/fixtures`
//! when present, random weights and inputs otherwise (timing does not depend
//! on the values).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use generated_example::{MobileNetV1, MobileNetV2, MobileNetV3Large, MobileNetV3Small, unfused};
use mobilenet_compiler::spec::Spec;
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower};
use mobilenet_runtime::Network;
use mobilenet_runtime::weights::TensorSpec;
use ndarray::{ArrayD, IxDyn};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The fixture's weights file, or random weights of the right shapes.
fn weights(fixture: &str, tensors: &[TensorSpec<'_>]) -> Vec<u8> {
    let path = repo().join("../shared/fixtures").join(fixture).join("weights.safetensors");
    if let Ok(bytes) = std::fs::read(&path) {
        return bytes;
    }
    eprintln!("{} not found: benchmarking random weights", path.display());
    let mut s = 1u64;
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let n: usize = t.shape.iter().product();
            let bytes = (0..n)
                .flat_map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                    (if t.key.ends_with("moving_variance") { 1.0 + u } else { (u - 0.5) * 0.2 }).to_le_bytes()
                })
                .collect();
            (t.key.to_string(), t.shape.to_vec(), bytes)
        })
        .collect();
    let views: HashMap<&str, safetensors::tensor::TensorView<'_>> = data
        .iter()
        .map(|(k, shape, b)| {
            (k.as_str(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).unwrap())
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn input(len: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919) % 255) as f32 / 127.5 - 1.0).collect()
}

fn time<N: Network>(c: &mut Criterion, group: &str, what: &str, net: &N) {
    let x = input(N::INPUT_LEN);
    let mut y = vec![0.0; N::OUTPUT_LEN];
    let mut arena = mobilenet_runtime::buffer::Buffer::zeroed(N::ARENA_LEN);
    c.benchmark_group(group).bench_function(what, |b| b.iter(|| net.run(black_box(&x), &mut y, &mut arena)));
}

macro_rules! network {
    ($c:expr, $group:literal, $spec:literal, $fixture:literal, $fused:ty, $unfused:ty) => {{
        let bytes = weights($fixture, <$fused>::TENSORS);
        let spec = Spec::from_file(&repo().join($spec)).unwrap();
        let graph = lower(&spec).unwrap();
        let w = Weights::from_bytes($fixture, &bytes, &graph).unwrap();
        let dims: Vec<usize> = std::iter::once(1).chain(graph.input_shape().dims()).collect();
        let x = ArrayD::from_shape_vec(IxDyn(&dims), input(graph.input_shape().len())).unwrap();
        $c.benchmark_group($group)
            .bench_function("interpreter", |b| b.iter(|| interp::run(&graph, &w, black_box(x.view())).unwrap()));
        time($c, $group, "unfused", &<$unfused>::from_safetensors(&bytes).unwrap());
        time($c, $group, "fused", &<$fused>::from_safetensors(&bytes).unwrap());
    }};
}

fn networks(c: &mut Criterion) {
    network!(c, "v1_1.0_224", "specs/v1_1.0_224.yaml", "v1_1.0_224", MobileNetV1, unfused::MobileNetV1);
    network!(c, "v2_1.0_224", "specs/v2_1.0_224.yaml", "v2_1.0_224", MobileNetV2, unfused::MobileNetV2);
    network!(
        c,
        "v3-large_1.0_224",
        "specs/v3-large_1.0_224.yaml",
        "v3large_1.0_224",
        MobileNetV3Large,
        unfused::MobileNetV3Large
    );
    network!(
        c,
        "v3-small_1.0_224",
        "specs/v3-small_1.0_224.yaml",
        "v3small_1.0_224",
        MobileNetV3Small,
        unfused::MobileNetV3Small
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = networks
}
criterion_main!(benches);

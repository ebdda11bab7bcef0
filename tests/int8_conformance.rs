//! Generated int8 networks equal the integer reference interpreter bit for
//! bit: every u8 tensor of every layer and the float logits, on every int8
//! instruction set this CPU has and on 1, 2 and 3 threads.
//!
//! The committed v1 and v2 fixtures (random weights) are quantized here,
//! calibrated on their own input images: random-weight networks say
//! nothing about int8 accuracy (their logits amplify rounding), but every
//! kernel, padding case, residual and clamp of the int8 path runs on them.
//! Accuracy is measured on the real torchvision MobileNetV2
//! (`generated-example/tests/int8_photos.rs`).

mod common;

use std::path::PathBuf;

use common::Fixture;
use mobilenet_compiler::lower;
use mobilenet_compiler::quant::{self, Int8Graph, QModel};
use mobilenet_compiler::weights::Weights;
use mobilenet_runtime::exec::Pool;
use mobilenet_runtime::kernels::{Isa, Precision};
use ndarray::{ArrayD, IxDyn};

/// The fixture quantized (calibrated on its inputs), written to a file
/// for the generated network to load, and the reference model.
fn quantized(fixture: &Fixture) -> (PathBuf, QModel, ArrayD<f32>) {
    let graph = lower(&fixture.spec()).unwrap();
    let net = Int8Graph::of(&graph).unwrap();
    let weights = Weights::load(&fixture.weights(), &graph).unwrap();
    let input = fixture.input();
    let x = ArrayD::from_shape_vec(IxDyn(&input.shape), input.data).unwrap();
    let file = quant::quantize(&net, &weights, x.view(), 4).unwrap();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}_int8.safetensors", fixture.name));
    file.write(&path).unwrap();
    let model = QModel::from_file(net, &fixture.name, &file).unwrap();
    (path, model, x)
}

macro_rules! int8_fixture {
    ($test:ident, $dir:literal, $spec:literal) => {
        #[test]
        fn $test() {
            mobilenet_macros::mobilenet!($spec, name = Int8, precision = int8, profile = true);
            let fixture = Fixture::open(&common::root().join("tests/data").join($dir));
            let (path, model, x) = quantized(&fixture);
            let images = x.shape()[0];
            // The reference: the logits, and every u8 tensor of every image in order.
            let mut flat: Vec<(String, Vec<u8>)> = Vec::new();
            let expected =
                quant::reference::run_with(&model, x.view(), |node, t| flat.push((node.name.clone(), t.to_vec())));
            let per_image = flat.len() / images;
            let expected: Vec<f32> = expected.iter().copied().collect();
            for isa in Isa::distinct(Precision::Int8) {
                let net = Int8::load_with(&path, isa).unwrap();
                let mut arena = Int8::new_arena();
                let mut out = vec![0.0f32; images * Int8::OUTPUT_LEN];
                for (i, (xi, y)) in
                    x.as_slice().unwrap().chunks(Int8::INPUT_LEN).zip(out.chunks_mut(Int8::OUTPUT_LEN)).enumerate()
                {
                    let mut seen = Vec::new();
                    net.forward_observed(xi.try_into().unwrap(), y.try_into().unwrap(), &mut arena, &mut |name, t| {
                        seen.push((name.to_string(), t.to_vec()))
                    });
                    let want = &flat[i * per_image..(i + 1) * per_image];
                    assert_eq!(seen.len(), want.len(), "{} {isa}: tensors observed", fixture.name);
                    for ((name, got), (wname, want)) in seen.iter().zip(want) {
                        assert_eq!(name, wname);
                        if got != want {
                            let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
                            panic!(
                                "{} {isa} image {i}: `{name}` differs from the reference at byte {at} of {}: {} vs {}",
                                fixture.name,
                                got.len(),
                                got[at],
                                want[at]
                            );
                        }
                    }
                }
                assert_eq!(out, expected, "{} {isa}: logits", fixture.name);
                for threads in [1, 2, 3] {
                    let pool = Pool::new(threads);
                    let mut again = vec![0.0f32; out.len()];
                    for (xi, y) in x.as_slice().unwrap().chunks(Int8::INPUT_LEN).zip(again.chunks_mut(Int8::OUTPUT_LEN))
                    {
                        net.forward_on(&pool, xi.try_into().unwrap(), y.try_into().unwrap(), &mut arena, &mut []);
                    }
                    assert_eq!(again, expected, "{} {isa} on {threads} threads", fixture.name);
                }
                common::ran(Precision::Int8, isa);
                eprintln!(
                    "{} {isa}: {per_image} u8 tensors and {} logits per image equal the reference on 1-3 threads",
                    fixture.name,
                    Int8::OUTPUT_LEN
                );
            }
        }
    };
}

int8_fixture!(v1_0_25_96, "v1_0.25_96_c10", "tests/data/v1_0.25_96_c10/spec.yaml");
int8_fixture!(v2_0_35_96, "v2_0.35_96_c10", "tests/data/v2_0.35_96_c10/spec.yaml");
int8_fixture!(keras_v1_0_1_33, "keras_v1_0.1_33", "tests/data/keras_v1_0.1_33/spec.yaml");
int8_fixture!(keras_v2_0_1_32, "keras_v2_0.1_32", "tests/data/keras_v2_0.1_32/spec.yaml");
int8_fixture!(keras_v2_0_35_224, "keras_v2_0.35_224", "tests/data/keras_v2_0.35_224/spec.yaml");
int8_fixture!(tv_v2_0_35_96, "tv_v2_0.35_96_c10", "tests/data/tv_v2_0.35_96_c10/spec.yaml");
int8_fixture!(tv_v2_0_75_112x80, "tv_v2_0.75_112x80_c7", "tests/data/tv_v2_0.75_112x80_c7/spec.yaml");

/// An int8 network with its quantized-model file compiled in (the one of
/// `embedded-example`, packed at build time for every int8 instruction set)
/// equals the reference interpreter on that file, on every instruction set
/// this CPU has and on 1 and 2 threads.
#[test]
fn embedded_int8_weights_equal_the_reference() {
    mobilenet_macros::mobilenet!(
        "tests/data/v2_0.35_96_c10/spec.yaml",
        name = Embedded,
        precision = int8,
        weights = "embedded-example/data/v2_0.35_96_c10_int8.safetensors"
    );
    let fixture = Fixture::open(&common::root().join("tests/data/v2_0.35_96_c10"));
    let net = Int8Graph::of(&lower(&fixture.spec()).unwrap()).unwrap();
    let path = common::root().join("embedded-example/data/v2_0.35_96_c10_int8.safetensors");
    let file = mobilenet_runtime::q8file::QFile::read(&path).unwrap();
    let model = QModel::from_file(net, "embedded", &file).unwrap();
    let input = fixture.input();
    let x = ArrayD::from_shape_vec(IxDyn(&input.shape), input.data).unwrap();
    let expected: Vec<f32> = quant::reference::run_with(&model, x.view(), |_, _| {}).iter().copied().collect();
    let mut arena = vec![0u8; Embedded::ARENA_LEN];
    for isa in Isa::distinct(Precision::Int8) {
        for threads in [1, 2] {
            let pool = Pool::new(threads);
            let mut out = vec![0.0f32; expected.len()];
            for (xi, y) in x.as_slice().unwrap().chunks(Embedded::INPUT_LEN).zip(out.chunks_mut(Embedded::OUTPUT_LEN)) {
                let arena: &mut [u8; Embedded::ARENA_LEN] = (&mut arena[..]).try_into().unwrap();
                Embedded::with_isa(isa).forward_on(
                    &pool,
                    xi.try_into().unwrap(),
                    y.try_into().unwrap(),
                    arena,
                    &mut [],
                );
            }
            assert_eq!(out, expected, "{isa} on {threads} threads");
        }
    }
}

/// The fixtures int8 cannot compute name the node that stops it.
#[test]
fn unsupported_networks_name_the_node() {
    for (dir, node_op) in [
        ("v3small_0.5_96x80_c10", "hard_swish"),
        ("keras_v1_0.25_dm2", "depth multiplier"),
        ("keras_v1_0.25_custom_max", "global_max_pool"),
    ] {
        let fixture = Fixture::open(&common::root().join("tests/data").join(dir));
        let graph = lower(&fixture.spec()).unwrap();
        let e = Int8Graph::of(&graph).unwrap_err().to_string();
        assert!(e.starts_with("int8: node `") && e.contains(node_op), "{dir}: {e}");
    }
}

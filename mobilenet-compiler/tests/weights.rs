//! Loading Keras weights: both names of the depthwise kernel, and every kind
//! of mismatch reported at once with the tensor, the expected and the actual
//! shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mobilenet_compiler::ir::Graph;
use mobilenet_compiler::spec::{Family, Spec, StandardOptions, standard_spec};
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower, npy};
use mobilenet_runtime::weights::{Problem, WeightError};
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/v1_0.25_96_c10")
}

fn graph() -> Graph {
    let mut o = StandardOptions::new(Family::V1);
    (o.alpha, o.height, o.width, o.classes) = (0.25, 96, 96, 10);
    lower(&Spec::parse(&standard_spec(&o), "v1.yaml").unwrap()).unwrap()
}

/// The fixture's tensors, by key: (dtype, shape, raw bytes).
fn tensors() -> HashMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(fixture().join("weights.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.iter().map(|(k, v)| (k.to_string(), (v.dtype(), v.shape().to_vec(), v.data().to_vec()))).collect()
}

fn serialize(t: &HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let views: HashMap<&str, TensorView<'_>> = t
        .iter()
        .map(|(k, (dt, shape, data))| (k.as_str(), TensorView::new(*dt, shape.clone(), data).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn logits(g: &Graph, w: &Weights) -> Vec<f32> {
    let x = npy::read(&fixture().join("input.npy")).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&x.shape), x.data).unwrap();
    interp::run(g, w, x.view()).unwrap().iter().copied().collect()
}

#[test]
fn parameter_count_is_the_number_of_values_in_the_keras_file() {
    let g = graph();
    let w = Weights::load(&fixture().join("weights.safetensors"), &g).unwrap();
    let in_file: usize = tensors().values().map(|(_, s, _)| s.iter().product::<usize>()).sum();
    assert_eq!(w.count(), in_file);
    assert_eq!(g.params().iter().map(|p| p.len()).sum::<usize>(), in_file);
}

#[test]
fn tf_keras_depthwise_kernel_name_loads_the_same_weights() {
    let g = graph();
    let keras3 = Weights::load(&fixture().join("weights.safetensors"), &g).unwrap();
    let renamed: HashMap<_, _> = tensors()
        .into_iter()
        .map(|(k, v)| {
            if k.starts_with("conv_dw_") && k.ends_with("/kernel") {
                (k.replace("/kernel", "/depthwise_kernel"), v)
            } else {
                (k, v)
            }
        })
        .collect();
    assert!(renamed.keys().any(|k| k.ends_with("depthwise_kernel")));
    let tf2 = Weights::from_bytes("tf2.safetensors", &serialize(&renamed), &g).unwrap();
    assert_eq!(logits(&g, &keras3), logits(&g, &tf2));
}

#[test]
fn every_problem_is_reported_with_names_and_shapes() {
    let g = graph();
    let mut t = tensors();
    t.remove("conv_pw_3_bn/gamma").unwrap();
    let (dt, _, data) = t.remove("conv_preds/kernel").unwrap();
    // Same number of values, other shape: a transposed export.
    t.insert("conv_preds/kernel".into(), (dt, vec![1, 1, 10, 256], data));
    t.insert("optimizer/iterations".into(), (Dtype::F32, vec![1], vec![0; 4]));
    let (_, shape, data) = t.remove("conv1_bn/beta").unwrap();
    let halves: Vec<u8> = data.chunks(4).flat_map(|c| [c[2], c[3]]).collect();
    t.insert("conv1_bn/beta".into(), (Dtype::F16, shape, halves));
    let err = Weights::from_bytes("model.safetensors", &serialize(&t), &g).unwrap_err();
    let WeightError::Mismatch { problems, .. } = &err else { panic!("{err}") };
    assert_eq!(problems.len(), 4, "{err}");
    assert!(problems.contains(&Problem::Missing { key: "conv_pw_3_bn/gamma".into(), expected: vec![32] }));
    assert!(problems.contains(&Problem::Shape {
        key: "conv_preds/kernel".into(),
        expected: vec![1, 1, 256, 10],
        actual: vec![1, 1, 10, 256]
    }));
    assert!(problems.contains(&Problem::Dtype { key: "conv1_bn/beta".into(), actual: "F16".into() }));
    assert!(problems.contains(&Problem::Unexpected { key: "optimizer/iterations".into(), shape: vec![1] }));
    let text = err.to_string();
    assert!(text.starts_with("model.safetensors does not match the network (4 problems):"), "{text}");
    assert!(
        text.contains("tensor `conv_preds/kernel`: expected shape [1, 1, 256, 10], found [1, 1, 10, 256]"),
        "{text}"
    );
}

#[test]
fn truncated_and_foreign_files_are_rejected() {
    let g = graph();
    let bytes = std::fs::read(fixture().join("weights.safetensors")).unwrap();
    for (what, bad) in
        [("truncated", &bytes[..bytes.len() / 2]), ("header only", &bytes[..8]), ("text", b"hello world".as_slice())]
    {
        let err = Weights::from_bytes("w.safetensors", bad, &g).unwrap_err();
        assert!(matches!(err, WeightError::Format { .. }), "{what}: {err}");
        assert!(err.to_string().starts_with("w.safetensors is not a valid safetensors file"), "{what}: {err}");
    }
    let err = Weights::load(Path::new("/no/such/weights.safetensors"), &g).unwrap_err();
    assert!(err.to_string().starts_with("cannot read weights file /no/such/weights.safetensors"), "{err}");
}

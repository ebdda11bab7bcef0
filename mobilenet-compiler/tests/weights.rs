//! Loading Keras weights: both names of the depthwise kernel, and every kind
//! of mismatch reported at once with the tensor, the expected and the actual
//! shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mobilenet_compiler::ir::Graph;
use mobilenet_compiler::spec::{Family, Spec, StandardOptions, standard_spec};
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower, npy};
use mobilenet_layout::weights::{Problem, WeightError};
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
    t.insert("conv1_bn/beta".into(), (Dtype::I32, shape, data));
    let err = Weights::from_bytes("model.safetensors", &serialize(&t), &g).unwrap_err();
    let WeightError::Mismatch { problems, .. } = &err else { panic!("{err}") };
    assert_eq!(problems.len(), 4, "{err}");
    assert!(problems.contains(&Problem::Missing { key: "conv_pw_3_bn/gamma".into(), expected: vec![32] }));
    assert!(problems.contains(&Problem::Shape {
        key: "conv_preds/kernel".into(),
        expected: vec![1, 1, 256, 10],
        actual: vec![1, 1, 10, 256]
    }));
    assert!(problems.contains(&Problem::Dtype { key: "conv1_bn/beta".into(), actual: "I32".into() }));
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

/// A torchvision fixture: state_dict names, OIHW and `[out, in]` layouts.
fn torch_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tv_v3small_0.5_96x80_c10")
}

fn torch_graph() -> Graph {
    lower(&Spec::from_file(&torch_fixture().join("spec.yaml")).unwrap()).unwrap()
}

fn torch_tensors() -> HashMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(torch_fixture().join("weights.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.iter().map(|(k, v)| (k.to_string(), (v.dtype(), v.shape().to_vec(), v.data().to_vec()))).collect()
}

#[test]
fn a_torchvision_state_dict_loads_with_its_training_counters() {
    let g = torch_graph();
    let t = torch_tensors();
    let counters = t.keys().filter(|k| k.ends_with(".num_batches_tracked")).count();
    assert!(counters > 0, "a real state_dict has num_batches_tracked");
    assert!(t.values().any(|(dt, _, _)| *dt == Dtype::I64));
    let w = Weights::load(&torch_fixture().join("weights.safetensors"), &g).unwrap();
    // Every float value of the file is used, and nothing else.
    let floats: usize =
        t.values().filter(|(dt, _, _)| *dt == Dtype::F32).map(|(_, s, _)| s.iter().product::<usize>()).sum();
    assert_eq!(w.count(), floats);
    // Read in Keras layout: the stem conv [16/2=8, 3, 3, 3] OIHW becomes [3, 3, 3, 8].
    let (_, shape, data) = &t["features.0.0.weight"];
    assert_eq!(shape, &vec![8, 3, 3, 3]);
    let oihw: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let keras = w.get("features.0.0/kernel").unwrap();
    assert_eq!(keras.shape, vec![3, 3, 3, 8]);
    for (o, i, y, x) in [(0, 0, 0, 0), (7, 2, 1, 2), (3, 1, 2, 0)] {
        assert_eq!(keras.data[((y * 3 + x) * 3 + i) * 8 + o], oihw[((o * 3 + i) * 3 + y) * 3 + x]);
    }
}

#[test]
fn torchvision_problems_are_reported_by_state_dict_name() {
    let g = torch_graph();
    let mut t = torch_tensors();
    t.remove("features.3.block.1.1.running_var").unwrap();
    // A Linear saved transposed: [in, out] instead of [out, in].
    let (dt, shape, data) = t.remove("classifier.3.weight").unwrap();
    t.insert("classifier.3.weight".into(), (dt, vec![shape[1], shape[0]], data));
    // A counter whose BatchNorm is not in the network is not silently dropped.
    t.insert("head.bn.num_batches_tracked".into(), (Dtype::I64, vec![], vec![0; 8]));
    let err = Weights::from_bytes("tv.safetensors", &serialize(&t), &g).unwrap_err();
    let WeightError::Mismatch { problems, .. } = &err else { panic!("{err}") };
    assert_eq!(problems.len(), 3, "{err}");
    assert!(
        problems.contains(&Problem::Missing { key: "features.3.block.1.1.running_var".into(), expected: vec![48] })
    );
    assert!(problems.contains(&Problem::Shape {
        key: "classifier.3.weight".into(),
        expected: vec![10, 512],
        actual: vec![512, 10]
    }));
    assert!(problems.contains(&Problem::Unexpected { key: "head.bn.num_batches_tracked".into(), shape: vec![] }));
}

/// torchvision's trained MobileNetV2: every tensor of the real state_dict is
/// used, and its float parameters (without BatchNorm running statistics)
/// are the 3,504,872 torchvision's model docs list.
#[test]
fn the_real_torchvision_state_dict_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../generated-example/models/mobilenet_v2_imagenet/weights.safetensors");
    let spec = Spec::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/tv_v2_1.0_224.yaml")).unwrap();
    let g = lower(&spec).unwrap();
    let w = Weights::load(&path, &g).unwrap();
    let running: usize = g
        .params()
        .iter()
        .filter(|p| p.file_key.ends_with(".running_mean") || p.file_key.ends_with(".running_var"))
        .map(|p| p.len())
        .sum();
    assert_eq!(w.count() - running, 3_504_872);
}

/// f16 and bf16 files (common PyTorch exports) load, widened to f32: every
/// value is the half-precision value the file holds (bf16: the top 16 bits
/// of the f32; f16: within half an f16 step of the original). Random-weight
/// networks amplify rounding too much for their logits to say more.
#[test]
fn half_precision_files_load() {
    let g = graph();
    let original = tensors();
    for dtype in [Dtype::BF16, Dtype::F16] {
        let t: HashMap<_, _> = original
            .iter()
            .map(|(k, (_, shape, data))| {
                let half: Vec<u8> = data
                    .chunks(4)
                    .flat_map(|b| match dtype {
                        Dtype::BF16 => [b[2], b[3]],
                        _ => f16_bits(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes(),
                    })
                    .collect();
                (k.clone(), (dtype, shape.clone(), half))
            })
            .collect();
        let w =
            Weights::from_bytes("half.safetensors", &serialize(&t), &g).unwrap_or_else(|e| panic!("{dtype:?}: {e}"));
        for (key, (_, _, data)) in &original {
            let loaded = &w.get(key).unwrap().data;
            for (i, b) in data.chunks(4).enumerate() {
                let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let ok = match dtype {
                    Dtype::BF16 => loaded[i].to_bits() == v.to_bits() & 0xffff_0000,
                    _ => {
                        (loaded[i] - v).abs() <= v.abs() * 2f32.powi(-11)
                            || (v.abs() < 2f32.powi(-14) && loaded[i] == 0.0)
                    }
                };
                assert!(ok, "{dtype:?} {key}[{i}]: {v} loaded as {}", loaded[i]);
            }
        }
    }
}

/// Round-to-nearest f32 -> f16 bits, for the normal range the fixture's
/// weights lie in (the test's own conversion, independent of the loader's).
fn f16_bits(v: f32) -> u16 {
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if v == 0.0 || exp <= 0 {
        return sign; // flush the tiny ones to zero
    }
    assert!(exp < 31, "out of f16 range: {v}");
    let man = (b & 0x7f_ffff) + 0x1000; // round to nearest at bit 13
    let (exp, man) = if man & 0x80_0000 != 0 { (exp + 1, 0) } else { (exp, man >> 13) };
    sign | ((exp as u16) << 10) | man as u16
}

/// A BatchNorm variance below zero, a NaN: rejected at load, by name.
#[test]
fn numerically_bad_weights_are_named() {
    let g = graph();
    let mut t = tensors();
    let (dt, shape, mut data) = t.remove("conv_pw_3_bn/moving_variance").unwrap();
    data[4..8].copy_from_slice(&(-0.5f32).to_le_bytes());
    t.insert("conv_pw_3_bn/moving_variance".into(), (dt, shape, data));
    let (dt, shape, mut data) = t.remove("conv1/kernel").unwrap();
    data[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
    t.insert("conv1/kernel".into(), (dt, shape, data));
    let err = Weights::from_bytes("bad.safetensors", &serialize(&t), &g).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("tensor `conv_pw_3_bn/moving_variance`: value -0.5 at index 1 is negative"), "{text}");
    assert!(text.contains("tensor `conv1/kernel`: value NaN at index 0 is not finite"), "{text}");
}

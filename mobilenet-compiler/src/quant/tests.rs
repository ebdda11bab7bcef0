//! Quantization on the committed v2 fixture: round trips bounded by half
//! a step, calibration errors, and what a quantized file must hold.

use std::path::{Path, PathBuf};

use mobilenet_layout::q8::QParams;
use mobilenet_layout::q8file::QFile;
use ndarray::{ArrayD, IxDyn};

use super::calibrate::folded;
use super::*;
use crate::spec::Spec;
use crate::weights::Weights;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data").join(name)
}

/// The graph, weights and input images of a committed fixture.
fn load(name: &str) -> (Graph, Weights, ArrayD<f32>) {
    let dir = fixture(name);
    let graph = crate::lower(&Spec::from_file(&dir.join("spec.yaml")).unwrap()).unwrap();
    let weights = Weights::load(&dir.join("weights.safetensors"), &graph).unwrap();
    let x = crate::npy::read(&dir.join("input.npy")).unwrap();
    (graph, weights, ArrayD::from_shape_vec(IxDyn(&x.shape), x.data).unwrap())
}

#[test]
fn weights_round_trip_within_half_a_step() {
    let (graph, weights, x) = load("v2_0.35_96_c10");
    let net = Int8Graph::of(&graph).unwrap();
    let file = quantize(&net, &weights, x.view(), 2).unwrap();
    let model = QModel::from_file(net.clone(), "q", &file).unwrap();
    let mut layers = 0;
    for n in net.graph.nodes() {
        let Some((layer, _, out)) = layer_of(&n.op) else { continue };
        let (kernel, _) = folded(&weights, &n.op).unwrap();
        let q = &model.layers[layer];
        for (i, (w, &k)) in kernel.iter().zip(&q.kernel).enumerate() {
            let s = q.wscale[i % out];
            assert!((w - f32::from(k) * s).abs() <= 0.5001 * s, "{layer}[{i}]: {w} vs {k} * {s}");
        }
        // Each channel's largest weight is +-127.
        for c in 0..out {
            let max = q.kernel.iter().skip(c).step_by(out).map(|k| k.unsigned_abs()).max().unwrap();
            assert!(max == 127 || kernel.iter().skip(c).step_by(out).all(|w| *w == 0.0), "{layer} channel {c}: {max}");
        }
        layers += 1;
    }
    assert!(layers > 30, "{layers} layers checked");
}

#[test]
fn activations_round_trip_within_half_a_step() {
    for (lo, hi) in [(-1.0f32, 3.0), (0.0, 6.0), (-2.1179, 2.64), (-0.001, 250.0), (-5.0, -1.0)] {
        let q = QParams::covering(lo, hi);
        let (a, b) = mobilenet_layout::q8::input_affine(None, q);
        for i in 0..=1000 {
            let v = lo.min(0.0) + (hi.max(0.0) - lo.min(0.0)) * i as f32 / 1000.0;
            let level = reference::quantize_input(v, a, b);
            assert!((q.dequantize(level) - v).abs() <= 0.5001 * q.scale, "[{lo}, {hi}] at {v}: {level}");
        }
    }
}

#[test]
fn bad_calibration_images_are_clear_errors() {
    let (graph, weights, x) = load("v2_0.35_96_c10");
    let net = Int8Graph::of(&graph).unwrap();
    let none = x.slice_axis(ndarray::Axis(0), (0..0).into());
    assert_eq!(
        quantize(&net, &weights, none, 2).unwrap_err().to_string().split(':').next(),
        Some("no calibration images")
    );
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 96, 95, 3]));
    let e = quantize(&net, &weights, wrong.view(), 2).unwrap_err().to_string();
    assert_eq!(e, "calibration images have shape [2, 96, 95, 3], the network takes [N, 96, 96, 3]");
    let mut nan = x.clone();
    nan[[1, 2, 3, 1]] = f32::NAN;
    let e = quantize(&net, &weights, nan.view(), 2).unwrap_err().to_string();
    assert_eq!(e, "calibration image 1 holds NaN at [2, 3, 1]; calibration images must be finite");
}

#[test]
fn a_file_missing_a_tensor_is_named() {
    let (graph, weights, x) = load("v2_0.35_96_c10");
    let net = Int8Graph::of(&graph).unwrap();
    let mut file = quantize(&net, &weights, x.view(), 2).unwrap();
    assert!(file.metadata["calibration"].starts_with("activation ranges: least squared error over "));
    let back = QFile::from_bytes("q", &file.to_bytes()).unwrap();
    assert!(QModel::from_file(net.clone(), "q", &back).is_ok());
    let key = file.tensors.keys().find(|k| k.ends_with("/qbias")).unwrap().clone();
    file.tensors.remove(&key);
    let e = QModel::from_file(net, "q.safetensors", &file).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("`q.safetensors` has no tensor `{key}` (a quantized bias); was it quantized from this spec?")
    );
}

#[test]
fn mse_ranges_are_inside_min_max_ranges() {
    let (graph, weights, x) = load("v2_0.35_96_c10");
    let net = Int8Graph::of(&graph).unwrap();
    let mse =
        QModel::from_file(net.clone(), "a", &quantize_with(&net, &weights, x.view(), 2, Ranges::Mse).unwrap()).unwrap();
    let mm = QModel::from_file(net.clone(), "b", &quantize_with(&net, &weights, x.view(), 2, Ranges::MinMax).unwrap())
        .unwrap();
    let mut smaller = 0;
    for id in net.quantized_nodes() {
        let (a, b) = (mse.act(id), mm.act(id));
        assert!(a.scale <= b.scale * 1.0001, "{}: {a:?} vs {b:?}", net.graph.node(id).name);
        smaller += usize::from(a.scale < b.scale * 0.99);
    }
    assert!(smaller > 0, "least squared error clips some range");
}

#[test]
fn roles_of_v1_and_v2() {
    let (v1, _, _) = load("keras_v1_0.1_33");
    let net = Int8Graph::of(&v1).unwrap();
    // Keras v1's classifier is a 1x1 conv, then a reshape (and a softmax if asked for).
    assert!(matches!(net.graph.node(net.tail).op, Op::Conv(_)));
    assert_eq!(net.source(net.graph.output()), net.tail);
    assert_eq!(net.role(net.graph.output()), if net.softmax { Role::Softmax } else { Role::Alias });
    let (v2, _, _) = load("tv_v2_0.35_96_c10");
    let net = Int8Graph::of(&v2).unwrap();
    assert!(matches!(net.graph.node(net.tail).op, Op::Dense(_)) && net.tail == net.graph.output() && !net.softmax);
    assert!(net.graph.nodes().iter().all(|n| !matches!(n.op, Op::Block(_))));
}

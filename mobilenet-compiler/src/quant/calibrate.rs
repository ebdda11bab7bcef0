//! Post-training quantization: float network + calibration images ->
//! quantized-model file.
//!
//! * **Activations**: per tensor, a range chosen to minimise the expected
//!   squared quantization error over the calibration values ([`Ranges::Mse`],
//!   the default), or their min/max ([`Ranges::MinMax`]); widened to
//!   contain 0 ([`QParams::covering`]). Why not plain min/max: the residual
//!   streams of a trained MobileNetV2 have rare outliers several times
//!   their typical magnitude (in torchvision's, the last blocks' range is
//!   about 35 times their RMS), so min/max spends most of the 256 levels
//!   on values that almost never occur, and the rounding error of every
//!   other value grows with the step. The MSE range clips those few
//!   outliers and halves the step. A histogram (2048 bins over the
//!   min/max range, from a second pass over the images) gives the error of
//!   each candidate range: `step^2 / 12` per value inside, the squared
//!   distance to the bound per value outside.
//! * **Weights**: BatchNorm folded first (as the float path does), then
//!   symmetric per output channel, `scale = max|w| / 127`.
//! * **Biases**: `round(b / (input scale * weight scale))` in `i32`.

use ndarray::{ArrayViewD, Axis};

use mobilenet_layout::prepare::{BatchNorm, kernel_and_bias};
use mobilenet_layout::q8::{QParams, WEIGHT_MAX, weight_scale};
use mobilenet_layout::q8file::{QData, QFile, QTensor, act_tensor};

use super::{Int8Graph, layer_of};
use crate::interp::{self, InterpError};
use crate::ir::{self, Op};
use crate::weights::Weights;

/// Why a network could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("no calibration images: give at least one (a few dozen representative images is usual)")]
    Empty,
    #[error("calibration images have shape {actual:?}, the network takes [N, {expected}]")]
    Shape { expected: String, actual: Vec<usize> },
    #[error("calibration image {image} holds {value} at {at:?}; calibration images must be finite")]
    NonFinite { image: usize, at: Vec<usize>, value: f32 },
    #[error(transparent)]
    Interp(#[from] InterpError),
}

/// How activation ranges are chosen from the calibration values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ranges {
    /// The smallest and largest value seen.
    MinMax,
    /// The range of least expected squared error (see the module docs).
    #[default]
    Mse,
}

impl Ranges {
    pub fn name(self) -> &'static str {
        match self {
            Ranges::MinMax => "min/max",
            Ranges::Mse => "least squared error",
        }
    }
}

/// Bins of the calibration histograms.
const BINS: usize = 2048;

/// Calibrates `net` on `images` (`[N, ...input shape]`, preprocessed as the
/// network expects) in batches of `batch`, choosing activation ranges by
/// least squared error, and quantizes its weights.
pub fn quantize(
    net: &Int8Graph,
    weights: &Weights,
    images: ArrayViewD<'_, f32>,
    batch: usize,
) -> Result<QFile, CalibrateError> {
    quantize_with(net, weights, images, batch, Ranges::default())
}

/// [`quantize`], choosing activation ranges as `ranges` says.
pub fn quantize_with(
    net: &Int8Graph,
    weights: &Weights,
    images: ArrayViewD<'_, f32>,
    batch: usize,
    ranges: Ranges,
) -> Result<QFile, CalibrateError> {
    let graph = &net.graph;
    let expected = graph.input_shape().dims();
    if images.ndim() != expected.len() + 1 || images.shape()[1..] != expected[..] {
        return Err(CalibrateError::Shape {
            expected: expected.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
            actual: images.shape().to_vec(),
        });
    }
    let n = images.shape()[0];
    if n == 0 {
        return Err(CalibrateError::Empty);
    }
    for (image, x) in images.axis_iter(Axis(0)).enumerate() {
        if let Some((at, &value)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(CalibrateError::NonFinite { image, at: ndarray::Dimension::slice(&at).to_vec(), value });
        }
    }

    // Ranges of the quantized tensors.
    let mut range = vec![(f32::INFINITY, f32::NEG_INFINITY); graph.nodes().len()];
    let wanted: Vec<bool> = graph.ids().map(|id| net.quantized_nodes().any(|q| q == id)).collect();
    let batch = batch.max(1);
    for start in (0..n).step_by(batch) {
        let chunk = images.slice_axis(Axis(0), (start..(start + batch).min(n)).into());
        interp::run_with(graph, weights, chunk, |node, value| {
            let id = graph.find(&node.name).expect("a node of the graph");
            if wanted[id.index()] {
                let r = &mut range[id.index()];
                for &v in value.iter() {
                    r.0 = r.0.min(v);
                    r.1 = r.1.max(v);
                }
            }
        })?;
    }

    if ranges == Ranges::Mse {
        // Second pass: histograms over the min/max ranges (widened to 0).
        let mut hist = vec![Vec::new(); graph.nodes().len()];
        for id in net.quantized_nodes() {
            hist[id.index()] = vec![0u64; BINS];
        }
        for start in (0..n).step_by(batch) {
            let chunk = images.slice_axis(Axis(0), (start..(start + batch).min(n)).into());
            interp::run_with(graph, weights, chunk, |node, value| {
                let id = graph.find(&node.name).expect("a node of the graph");
                if wanted[id.index()] {
                    let (lo, hi) = range[id.index()];
                    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
                    let width = (hi - lo) / BINS as f32;
                    let h = &mut hist[id.index()];
                    for &v in value.iter() {
                        let b = if width > 0.0 { ((v - lo) / width) as usize } else { 0 };
                        h[b.min(BINS - 1)] += 1;
                    }
                }
            })?;
        }
        for id in net.quantized_nodes() {
            range[id.index()] = least_error_range(range[id.index()], &hist[id.index()]);
        }
    }

    let mut file = QFile::default();
    let mut acts = vec![None; graph.nodes().len()];
    for id in net.quantized_nodes() {
        let (lo, hi) = range[id.index()];
        let q = QParams::covering(lo, hi);
        acts[id.index()] = Some(q);
        file.tensors.insert(format!("{}/act", graph.node(id).name), act_tensor(q));
    }
    for id in graph.ids() {
        let node = graph.node(id);
        let Some((layer, shape, out)) = layer_of(&node.op) else { continue };
        let s_in = acts[net.source(node.inputs[0]).index()].expect("a layer reads a quantized tensor").scale;
        let (kernel, bias) = folded(weights, &node.op)?;
        let rows = kernel.len() / out;
        let mut wscale = vec![0.0f32; out];
        for (c, s) in wscale.iter_mut().enumerate() {
            let max = (0..rows).map(|r| kernel[r * out + c].abs()).fold(0.0f32, f32::max);
            *s = weight_scale(max);
        }
        let qkernel: Vec<i8> = kernel
            .iter()
            .enumerate()
            .map(|(i, w)| (w / wscale[i % out]).round_ties_even().clamp(-WEIGHT_MAX as f32, WEIGHT_MAX as f32) as i8)
            .collect();
        let qbias: Vec<i32> = bias
            .iter()
            .zip(&wscale)
            .map(|(b, s)| (f64::from(*b) / (f64::from(s_in) * f64::from(*s))).round().clamp(-2.0e9, 2.0e9) as i32)
            .collect();
        file.tensors.insert(format!("{layer}/qkernel"), QTensor { shape, data: QData::I8(qkernel) });
        file.tensors.insert(format!("{layer}/wscale"), QTensor { shape: vec![out], data: QData::F32(wscale) });
        file.tensors.insert(format!("{layer}/qbias"), QTensor { shape: vec![out], data: QData::I32(qbias) });
    }
    file.metadata.insert("network".into(), graph.name.clone());
    file.metadata.insert(
        "calibration".into(),
        format!("activation ranges: {} over {n} images; weights: symmetric per output channel", ranges.name()),
    );
    Ok(file)
}

/// The range `[a, b]` inside `[lo, hi]` (min/max, widened to contain 0)
/// whose quantization has the least expected squared error on the values
/// of histogram `hist` (`BINS` bins over `[lo, hi]`). Candidates shrink
/// the two ends towards 0, each by `i / 128` of its length, `i < 128`.
fn least_error_range((lo, hi): (f32, f32), hist: &[u64]) -> (f32, f32) {
    let (lo, hi) = (f64::from(lo.min(0.0)), f64::from(hi.max(0.0)));
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return (lo as f32, hi as f32);
    }
    let width = (hi - lo) / BINS as f64;
    let centre = |b: usize| lo + (b as f64 + 0.5) * width;
    let error = |a: f64, b: f64| {
        let step = (b - a) / 255.0;
        hist.iter().enumerate().filter(|(_, n)| **n > 0).fold(0.0, |e, (i, &n)| {
            let v = centre(i);
            let d = if v < a {
                (a - v) * (a - v)
            } else if v > b {
                (v - b) * (v - b)
            } else {
                step * step / 12.0
            };
            e + n as f64 * d
        })
    };
    let steps = 128;
    let mut best = (error(lo, hi), lo, hi);
    for i in 0..steps {
        for j in 0..steps {
            let (a, b) = (lo * (1.0 - i as f64 / steps as f64), hi * (1.0 - j as f64 / steps as f64));
            if b - a <= 0.0 {
                continue;
            }
            let e = error(a, b);
            if e < best.0 {
                best = (e, a, b);
            }
        }
    }
    (best.1 as f32, best.2 as f32)
}

/// The float kernel (`[rows][out]`) and bias of a conv or dense layer,
/// its BatchNorm folded in.
pub(crate) fn folded(w: &Weights, op: &Op) -> Result<(Vec<f32>, Vec<f32>), InterpError> {
    let get = |key: String| w.get(&key).map(|t| t.data.as_slice()).ok_or(InterpError::MissingWeight(key));
    let (layer, has_bias, bn, out) = match op {
        Op::Conv(c) => (&c.layer, c.bias, c.batch_norm.as_ref(), c.out_channels as usize),
        Op::Dense(d) => (&d.layer, d.bias, d.batch_norm.as_ref(), d.units as usize),
        _ => unreachable!("layers are convs and dense layers"),
    };
    let kernel = get(format!("{layer}/kernel"))?;
    let bias = if has_bias { Some(get(format!("{layer}/bias"))?) } else { None };
    let bn_params = |bn: &ir::BatchNorm| -> Result<_, InterpError> {
        let v = |name: &str| get(format!("{}/{name}", bn.layer));
        Ok((v("gamma")?, v("beta")?, v("moving_mean")?, v("moving_variance")?, bn.epsilon as f32))
    };
    let bn = bn.map(bn_params).transpose()?;
    let bn = bn.map(|(gamma, beta, mean, variance, epsilon)| BatchNorm { gamma, beta, mean, variance, epsilon });
    let (mut k, mut b) = (vec![0.0; kernel.len()], vec![0.0; out]);
    kernel_and_bias(&mut k, &mut b, kernel, bias, bn.as_ref());
    Ok((k, b))
}

//! The integer reference interpreter: runs a [`QModel`] image by image in
//! plain loops over `u8` tensors and `i32` accumulators, transcribing the
//! int8 arithmetic from its definition (`mobilenet_layout::q8`), written
//! apart from the kernels. Generated int8 code must equal it bit for bit.
//!
//! Per output element of a conv (regular or depthwise), with `x_zp` the
//! input's zero point and taps outside the image skipped (a padded pixel
//! is the zero point, so contributes nothing):
//!
//! ```text
//! acc = qbias[c] + sum over taps (x - x_zp) * qkernel[tap][c]     (i32, exact)
//! v   = acc as f32 * multiplier(s_x, wscale[c], s_y)
//!       [+ (r - r_zp) as f32 * (s_r / s_y)]                     (residual; no FMA)
//! y   = round_ties_even(clamp(v, lo - y_zp, hi - y_zp)) + y_zp   (lo, hi: clamp_bounds)
//! ```
//!
//! The classifier writes `acc as f32 * (s_x * wscale[c])`; the input is
//! `round_ties_even(min(max(x * a + b, 0), 255))` (NaN -> 0).

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

use mobilenet_layout::libm_exp;
use mobilenet_layout::q8::{self, QParams};

use super::{QModel, Role};
use crate::ir::{Conv, ConvKind, Node, Op, Shape};

/// Runs the model on `input` (`[N, ...input shape]`); returns the float
/// output (`[N, ...output shape]`).
pub fn run(model: &QModel, input: ArrayViewD<'_, f32>) -> ArrayD<f32> {
    run_with(model, input, |_, _| {})
}

/// Like [`run`], calling `visit(node, tensor)` with every u8 tensor as it
/// is computed (per image).
pub fn run_with(model: &QModel, input: ArrayViewD<'_, f32>, mut visit: impl FnMut(&Node, &[u8])) -> ArrayD<f32> {
    let g = &model.net.graph;
    let n = input.shape()[0];
    let out_shape = g.output_shape().dims();
    let mut out = ArrayD::zeros(IxDyn(&[&[n][..], &out_shape[..]].concat()));
    for (image, mut y) in input.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
        let x: Vec<f32> = image.iter().copied().collect();
        let logits = run_one(model, &x, &mut visit);
        for (o, v) in y.iter_mut().zip(logits) {
            *o = v;
        }
    }
    out
}

fn run_one(model: &QModel, x: &[f32], visit: &mut impl FnMut(&Node, &[u8])) -> Vec<f32> {
    let net = &model.net;
    let g = &net.graph;
    let mut values: Vec<Option<Vec<u8>>> = vec![None; g.nodes().len()];
    let mut logits = Vec::new();
    let (a, b) = model.input_affine();
    for id in g.ids() {
        let node = g.node(id);
        let tensor = |i: usize| values[net.source(node.inputs[i]).index()].as_deref().expect("computed before use");
        match net.role(id) {
            Role::Alias => continue,
            Role::Input => {
                if id == net.input {
                    let q: Vec<u8> = x.iter().map(|&v| quantize_input(v, a, b)).collect();
                    visit(node, &q);
                    values[id.index()] = Some(q);
                }
            }
            Role::Softmax => softmax(&mut logits),
            Role::Tail => {
                let s_x = model.act(node.inputs[0]);
                let (layer, out) = match &node.op {
                    Op::Conv(c) => (&c.layer, c.out_channels as usize),
                    Op::Dense(d) => (&d.layer, d.units as usize),
                    _ => unreachable!("the tail is a conv or dense layer"),
                };
                let l = &model.layers[layer];
                let acc = match &node.op {
                    Op::Conv(c) => conv_acc(c, in_shape(g, node), tensor(0), s_x.zero_point, l),
                    _ => gemm_acc(tensor(0), s_x.zero_point, l, out),
                };
                logits = acc
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v as f32 * q8::output_scale(s_x.scale, l.wscale[i % out]))
                    .collect();
                if let Op::Dense(d) = &node.op
                    && d.activation == Some(crate::ir::DenseAct::Softmax)
                {
                    softmax(&mut logits);
                }
            }
            Role::Quantized => {
                let s_y = model.act(id);
                let y: Vec<u8> = match &node.op {
                    Op::Conv(c) => {
                        let s_x = model.act(node.inputs[0]);
                        let l = &model.layers[&c.layer];
                        let acc = conv_acc(c, in_shape(g, node), tensor(0), s_x.zero_point, l);
                        let (lo, hi) = q8::clamp_bounds(c.activation, s_y).expect("checked by Int8Graph::of");
                        let cout = c.out_channels as usize;
                        let residual = c.residual.then(|| (tensor(1), model.act(node.inputs[1])));
                        acc.iter()
                            .enumerate()
                            .map(|(i, &acc)| {
                                let mult = q8::multiplier(s_x.scale, l.wscale[i % cout], s_y.scale);
                                let r = residual
                                    .map(|(r, rp)| (r[i], rp.zero_point, q8::residual_multiplier(rp.scale, s_y.scale)));
                                requant(acc, mult, s_y, lo, hi, r)
                            })
                            .collect()
                    }
                    Op::GlobalPool { .. } => {
                        let s_x = model.act(node.inputs[0]);
                        let Shape::Map { h, w, c } = in_shape(g, node) else { unreachable!("pools read maps") };
                        let (pixels, c) = ((h * w) as usize, c as usize);
                        let x = tensor(0);
                        let mult = q8::pool_multiplier(s_x.scale, pixels, s_y.scale);
                        (0..c)
                            .map(|ch| {
                                let sum: i32 = (0..pixels).map(|p| i32::from(x[p * c + ch])).sum();
                                requant(sum - pixels as i32 * s_x.zero_point, mult, s_y, 0, 255, None)
                            })
                            .collect()
                    }
                    _ => unreachable!("Int8Graph::of admits only convs and average pools"),
                };
                visit(node, &y);
                values[id.index()] = Some(y);
            }
        }
    }
    logits
}

fn in_shape(g: &crate::ir::Graph, node: &Node) -> Shape {
    g.node(node.inputs[0]).shape
}

/// The input quantization of one value. `max` then `min`, not `clamp`:
/// `f32::max(NaN, 0.0)` is 0, so a NaN input becomes level 0, as in the
/// kernels; `clamp` would keep the NaN.
#[allow(clippy::manual_clamp)]
pub fn quantize_input(v: f32, a: f32, b: f32) -> u8 {
    round_u8((v * a + b).max(0.0).min(255.0))
}

/// `round_ties_even` of a value already in `0..=255`.
fn round_u8(v: f32) -> u8 {
    v.round_ties_even() as u8
}

/// The requantization of one accumulator (see the module docs).
fn requant(acc: i32, mult: f32, y: QParams, lo: i32, hi: i32, residual: Option<(u8, i32, f32)>) -> u8 {
    let mut v = acc as f32 * mult;
    if let Some((r, r_zp, r_mult)) = residual {
        let add = (i32::from(r) - r_zp) as f32 * r_mult;
        v += add;
    }
    let v = v.max((lo - y.zero_point) as f32).min((hi - y.zero_point) as f32);
    (v.round_ties_even() as i32 + y.zero_point) as u8
}

/// Accumulators `[oh][ow][cout]` of a conv on the u8 map `x` of `shape`.
fn conv_acc(c: &Conv, shape: Shape, x: &[u8], x_zp: i32, l: &super::QLayer) -> Vec<i32> {
    let Shape::Map { h, w, c: cin } = shape else { unreachable!("convs read maps") };
    let (h, w, cin) = (h as usize, w as usize, cin as usize);
    let [kh, kw] = c.kernel.map(|v| v as usize);
    let [sh, sw] = c.stride.map(|v| v as usize);
    let (pt, pl) = (c.padding.top as usize, c.padding.left as usize);
    let oh = (h + pt + c.padding.bottom as usize - kh) / sh + 1;
    let ow = (w + pl + c.padding.right as usize - kw) / sw + 1;
    let cout = c.out_channels as usize;
    let mut acc = vec![0i32; oh * ow * cout];
    for oy in 0..oh {
        for ox in 0..ow {
            let o = &mut acc[(oy * ow + ox) * cout..][..cout];
            o.copy_from_slice(&l.bias);
            for ky in 0..kh {
                for kx in 0..kw {
                    let (iy, ix) = ((oy * sh + ky).wrapping_sub(pt), (ox * sw + kx).wrapping_sub(pl));
                    if iy >= h || ix >= w {
                        continue;
                    }
                    let px = &x[(iy * w + ix) * cin..][..cin];
                    let tap = ky * kw + kx;
                    match c.kind {
                        ConvKind::Depthwise { .. } => {
                            for ch in 0..cout {
                                o[ch] += (i32::from(px[ch]) - x_zp) * i32::from(l.kernel[tap * cout + ch]);
                            }
                        }
                        ConvKind::Regular => {
                            for (ci, &v) in px.iter().enumerate() {
                                let row = &l.kernel[(tap * cin + ci) * cout..][..cout];
                                let v = i32::from(v) - x_zp;
                                for (o, &k) in o.iter_mut().zip(row) {
                                    *o += v * i32::from(k);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    acc
}

/// Accumulators `[out]` of a dense layer on the u8 vector `x`.
fn gemm_acc(x: &[u8], x_zp: i32, l: &super::QLayer, out: usize) -> Vec<i32> {
    let mut acc = l.bias.clone();
    for (i, &v) in x.iter().enumerate() {
        let v = i32::from(v) - x_zp;
        for (o, &k) in acc.iter_mut().zip(&l.kernel[i * out..][..out]) {
            *o += v * i32::from(k);
        }
    }
    acc
}

/// The runtime's float softmax (`kernels::softmax_in_place`), transcribed.
fn softmax(y: &mut [f32]) {
    let max = y.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in y.iter_mut() {
        *v = libm_exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    y.iter_mut().for_each(|v| *v *= inv);
}

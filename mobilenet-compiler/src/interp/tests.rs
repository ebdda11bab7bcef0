//! The interpreter's ops against direct, loop-by-loop definitions.

use ndarray::{ArrayD, IxDyn};

use super::*;
use crate::ir::{GraphBuilder, NodeId};
use crate::weights::Tensor;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn conv_op(kind: ConvKind, k: u32, s: u32, padding: Padding, cin: u32, cout: u32, bias: bool) -> Conv {
    Conv {
        layer: "c".into(),
        kind,
        kernel: [k, k],
        stride: [s, s],
        padding,
        in_channels: cin,
        out_channels: cout,
        bias,
        batch_norm: None,
        activation: None,
        residual: false,
    }
}

/// Direct definition: out[y,x,o] = sum over taps and the input channels of
/// output `o`'s group of in[y*s+ky-top, x*s+kx-left, i] * w[ky,kx,i',o'].
fn naive_conv(x: &[f32], (h, w, cin): (usize, usize, usize), c: &Conv, kernel: &[f32]) -> (Vec<f32>, [usize; 3]) {
    let (k, s) = (c.kernel[0] as usize, c.stride[0] as usize);
    let p = c.padding;
    let oh = (h + (p.top + p.bottom) as usize - k) / s + 1;
    let ow = (w + (p.left + p.right) as usize - k) / s + 1;
    let cout = c.out_channels as usize;
    let mut out = vec![0.0f32; oh * ow * cout];
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..cout {
                let mut acc = 0.0f64;
                for ky in 0..k {
                    for kx in 0..k {
                        let iy = (oy * s + ky) as isize - p.top as isize;
                        let ix = (ox * s + kx) as isize - p.left as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let at = |i: usize| x[(iy as usize * w + ix as usize) * cin + i] as f64;
                        match c.kind {
                            ConvKind::Regular => {
                                for i in 0..cin {
                                    acc += at(i) * kernel[((ky * k + kx) * cin + i) * cout + o] as f64;
                                }
                            }
                            ConvKind::Depthwise { multiplier } => {
                                let m = multiplier as usize;
                                acc += at(o / m) * kernel[((ky * k + kx) * cin + o / m) * m + o % m] as f64;
                            }
                        }
                    }
                }
                out[(oy * ow + ox) * cout + o] = acc as f32;
            }
        }
    }
    (out, [oh, ow, cout])
}

fn run_single(conv: Conv, (h, w): (u32, u32), kernel: Vec<f32>, bias: Option<Vec<f32>>) -> (Vec<f32>, Vec<f32>) {
    let cin = conv.in_channels;
    let mut b = GraphBuilder::new("t", "in", Shape::map(h, w, cin));
    let mut weights = Weights::default();
    weights.insert("c/kernel", Tensor { shape: conv.kernel_shape(), data: kernel.clone() });
    if let Some(bias) = bias {
        weights.insert("c/bias", Tensor { shape: vec![bias.len()], data: bias });
    }
    let out = b.add("c", Op::Conv(conv.clone()), &[NodeId(0)]).unwrap();
    let g = b.finish(out);
    let x = values((h * w * cin) as usize, 7);
    let input = ArrayD::from_shape_vec(IxDyn(&[1, h as usize, w as usize, cin as usize]), x.clone()).unwrap();
    let y = run(&g, &weights, input.view()).unwrap();
    (x, y.iter().copied().collect())
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
    }
}

#[test]
fn regular_conv_with_stride_and_asymmetric_padding() {
    let pad = Padding { top: 0, bottom: 1, left: 1, right: 2 };
    let c = conv_op(ConvKind::Regular, 3, 2, pad, 3, 5, false);
    let kernel = values(3 * 3 * 3 * 5, 1);
    let (x, y) = run_single(c.clone(), (7, 6), kernel.clone(), None);
    let (expected, shape) = naive_conv(&x, (7, 6, 3), &c, &kernel);
    assert_eq!(shape, [3, 4, 5]);
    assert_close(&y, &expected, 1e-5);
}

#[test]
fn depthwise_conv_with_multiplier() {
    let c = conv_op(
        ConvKind::Depthwise { multiplier: 2 },
        3,
        1,
        Padding { top: 1, bottom: 1, left: 1, right: 1 },
        4,
        8,
        true,
    );
    let kernel = values(3 * 3 * 4 * 2, 2);
    let bias = values(8, 3);
    let (x, y) = run_single(c.clone(), (5, 5), kernel.clone(), Some(bias.clone()));
    let (mut expected, _) = naive_conv(&x, (5, 5, 4), &c, &kernel);
    for (i, v) in expected.iter_mut().enumerate() {
        *v += bias[i % 8];
    }
    assert_close(&y, &expected, 1e-5);
}

#[test]
fn fused_epilogue_is_batch_norm_then_activation_then_residual() {
    let mut c = conv_op(ConvKind::Regular, 1, 1, Padding::ZERO, 2, 2, false);
    c.batch_norm = Some(BatchNorm { layer: "bn".into(), channels: 2, epsilon: 0.5 });
    c.activation = Some(Act::Relu6);
    c.residual = true;
    let mut b = GraphBuilder::new("t", "in", Shape::map(1, 1, 2));
    let out = b.add("c", Op::Conv(c), &[NodeId(0), NodeId(0)]).unwrap();
    let g = b.finish(out);
    let mut w = Weights::default();
    w.insert("c/kernel", Tensor { shape: vec![1, 1, 2, 2], data: vec![1.0, 0.0, 0.0, 10.0] });
    for (v, data) in
        [("gamma", [2.0, 1.0]), ("beta", [1.0, 0.0]), ("moving_mean", [1.0, 0.0]), ("moving_variance", [1.5, 3.5])]
    {
        w.insert(format!("bn/{v}"), Tensor { shape: vec![2], data: data.to_vec() });
    }
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![3.0, 2.0]).unwrap();
    let y = run(&g, &w, x.view()).unwrap();
    // ch0: conv 3 -> (3-1)/sqrt(2)*2+1 = 3.828 -> relu6 -> +3; ch1: conv 20 -> 20/2 = 10 -> 6 -> +2.
    let expected = [(2.0f32 / 2.0f32.sqrt()) * 2.0 + 1.0 + 3.0, 8.0];
    assert_close(y.as_slice().unwrap(), &expected, 1e-5);
}

#[test]
fn activations_follow_keras_definitions() {
    let xs = [-4.0f32, -3.0, -1.0, 0.0, 1.0, 3.0, 5.0, 7.0];
    let relu6: Vec<f32> = xs.iter().map(|&x| Act::Relu6.apply(x)).collect();
    assert_eq!(relu6, [0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 5.0, 6.0]);
    let hswish: Vec<f32> = xs.iter().map(|&x| Act::HardSwish.apply(x)).collect();
    assert_close(&hswish, &[0.0, 0.0, -1.0 / 3.0, 0.0, 4.0 / 6.0, 3.0, 5.0, 7.0], 1e-6);
    let hsig: Vec<f32> = xs.iter().map(|&x| Act::HardSigmoid.apply(x)).collect();
    assert_close(&hsig, &[0.0, 0.0, 2.0 / 6.0, 0.5, 4.0 / 6.0, 1.0, 1.0, 1.0], 1e-6);
    assert_close(&[Act::Sigmoid.apply(0.0), Act::Relu.apply(-2.0)], &[0.5, 0.0], 0.0);
}

#[test]
fn pools_gate_and_softmax() {
    let mut b = GraphBuilder::new("t", "in", Shape::map(2, 2, 2));
    let avg = b.add("avg", Op::GlobalPool { pool: Pool::Avg, keepdims: true }, &[NodeId(0)]).unwrap();
    let gated = b.add("mul", Op::Mul, &[NodeId(0), avg]).unwrap();
    let max = b.add("max", Op::GlobalPool { pool: Pool::Max, keepdims: false }, &[gated]).unwrap();
    let sm = b.add("sm", Op::Softmax, &[max]).unwrap();
    let g = b.finish(sm);
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2, 2]), vec![1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 6.0, -6.0]).unwrap();
    let mut seen = std::collections::HashMap::new();
    let y = run_with(&g, &Weights::default(), x.view(), |n, v| {
        seen.insert(n.name.clone(), v.iter().copied().collect::<Vec<f32>>());
    })
    .unwrap();
    assert_eq!(seen["avg"], vec![3.0, -3.0]);
    assert_eq!(seen["max"], vec![18.0, 18.0]);
    assert_close(y.as_slice().unwrap(), &[0.5, 0.5], 1e-7);
}

#[test]
fn wrong_input_shape_is_an_error() {
    let b = GraphBuilder::new("t", "in", Shape::map(4, 4, 3));
    let g = b.finish(NodeId(0));
    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 4, 5, 3]));
    let err = run(&g, &Weights::default(), x.view()).unwrap_err();
    assert_eq!(err.to_string(), "input has shape [1, 4, 5, 3], the network takes [N, 4,4,3]");
}

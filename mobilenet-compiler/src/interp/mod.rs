//! The reference interpreter: executes a graph op by op on `ndarray`
//! (NHWC, f32), for a batch of images.
//!
//! It is the oracle every optimization is checked against, so it favours
//! obviousness over speed: each op is a direct transcription of its Keras
//! definition (convolutions as sums of shifted matrix products, BatchNorm with
//! the formula of Keras' JAX backend). It also executes the fused conv
//! epilogues that passes produce, so a pass can be checked at the IR level.

use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, Axis, IxDyn, s};

use crate::ir::{Act, BatchNorm, Conv, ConvKind, DenseAct, Graph, Node, Op, Padding, Pool, Shape};
use crate::weights::Weights;

/// Why a graph could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum InterpError {
    #[error("input has shape {actual:?}, the network takes [N, {expected}]")]
    InputShape { expected: String, actual: Vec<usize> },
    #[error("weight `{0}` is not loaded")]
    MissingWeight(String),
}

/// Runs `graph` on `input` (`[N, ...input shape]`) and returns the output
/// (`[N, ...output shape]`).
pub fn run(graph: &Graph, weights: &Weights, input: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>, InterpError> {
    run_with(graph, weights, input, |_, _| {})
}

/// Like [`run`], calling `visit` with every node's value as it is computed.
pub fn run_with(
    graph: &Graph,
    weights: &Weights,
    input: ArrayViewD<'_, f32>,
    mut visit: impl FnMut(&Node, ArrayViewD<'_, f32>),
) -> Result<ArrayD<f32>, InterpError> {
    let expected = graph.input_shape().dims();
    if input.ndim() != expected.len() + 1 || input.shape()[1..] != expected[..] {
        return Err(InterpError::InputShape {
            expected: graph.input_shape().to_string().trim_matches(['[', ']']).to_string(),
            actual: input.shape().to_vec(),
        });
    }
    let mut remaining = graph.use_counts();
    let mut values: Vec<Option<ArrayD<f32>>> = vec![None; graph.nodes().len()];
    for id in graph.ids() {
        let node = graph.node(id);
        let value = {
            let args: Vec<ArrayViewD<'_, f32>> = node
                .inputs
                .iter()
                .map(|i| values[i.index()].as_ref().expect("inputs are computed before use").view())
                .collect();
            match &node.op {
                Op::Input => input.to_owned(),
                op => eval(op, &args, node.shape, weights)?,
            }
        };
        visit(node, value.view());
        values[id.index()] = Some(value);
        for i in &node.inputs {
            remaining[i.index()] -= 1;
            if remaining[i.index()] == 0 {
                values[i.index()] = None;
            }
        }
    }
    Ok(values[graph.output().index()].take().expect("the output is kept"))
}

fn param(weights: &Weights, key: String) -> Result<&[f32], InterpError> {
    weights.get(&key).map(|t| t.data.as_slice()).ok_or(InterpError::MissingWeight(key))
}

fn eval(op: &Op, args: &[ArrayViewD<'_, f32>], shape: Shape, w: &Weights) -> Result<ArrayD<f32>, InterpError> {
    Ok(match op {
        Op::Input => unreachable!("handled by the caller"),
        Op::Rescale { scale, offset } => args[0].mapv(|v| v * scale + offset),
        Op::Conv(c) => conv(c, args, shape, w)?,
        Op::Block(b) => {
            let in_shape = Shape::map(args[0].shape()[1] as u32, args[0].shape()[2] as u32, args[0].shape()[3] as u32);
            let shapes = b.shapes(in_shape).expect("shapes checked when the graph was built");
            let mut x = args[0].to_owned();
            for (c, s) in b.convs().zip(shapes) {
                let mut conv_args = vec![x.view()];
                if c.residual {
                    conv_args.push(args[1].view());
                }
                let next = conv(c, &conv_args, s, w)?;
                x = next;
            }
            x
        }
        Op::BatchNorm(bn) => {
            let mut x = args[0].to_owned();
            batch_norm(&mut x, bn, w)?;
            x
        }
        Op::Activation(a) => args[0].mapv(|v| a.apply(v)),
        Op::ZeroPad(p) => pad(&args[0], *p),
        Op::Add => &args[0] + &args[1],
        Op::Mul => {
            let n = args[0].shape()[0];
            let c = *args[0].shape().last().expect("maps have channels");
            let gate = args[1].to_shape(IxDyn(&[n, 1, 1, c])).expect("gate is [N,1,1,C] or [N,C]");
            &args[0] * &gate
        }
        Op::GlobalPool { pool, keepdims } => {
            let x = &args[0];
            let pooled = match pool {
                Pool::Avg => x.mean_axis(Axis(1)).and_then(|m| m.mean_axis(Axis(1))).expect("maps are non-empty"),
                Pool::Max => x.fold_axis(Axis(1), f32::NEG_INFINITY, |a, b| a.max(*b)).fold_axis(
                    Axis(1),
                    f32::NEG_INFINITY,
                    |a, b| a.max(*b),
                ),
            };
            if *keepdims { pooled.insert_axis(Axis(1)).insert_axis(Axis(1)) } else { pooled }
        }
        Op::Dense(d) => {
            let x: ArrayView2<'_, f32> = args[0].view().into_dimensionality().expect("dense input is [N, in]");
            let k = ArrayView2::from_shape(
                (d.in_features as usize, d.units as usize),
                param(w, format!("{}/kernel", d.layer))?,
            )
            .expect("shape checked at load");
            let mut y: Array2<f32> = x.dot(&k);
            if d.bias {
                let b = param(w, format!("{}/bias", d.layer))?;
                y += &ndarray::aview1(b);
            }
            let mut y = y.into_dyn();
            if let Some(bn) = &d.batch_norm {
                batch_norm(&mut y, bn, w)?;
            }
            let mut y: Array2<f32> = y.into_dimensionality().expect("dense output is [N, units]");
            match d.activation {
                Some(DenseAct::Elementwise(a)) => y.mapv_inplace(|v| a.apply(v)),
                Some(DenseAct::Softmax) => softmax(&mut y),
                None => {}
            }
            y.into_dyn()
        }
        Op::Flatten => {
            let n = args[0].shape()[0];
            args[0].to_shape(IxDyn(&[n, shape.len()])).expect("flatten of a standard-layout map").into_owned()
        }
        Op::Softmax => {
            let mut y: Array2<f32> = args[0].to_owned().into_dimensionality().expect("softmax input is [N, k]");
            softmax(&mut y);
            y.into_dyn()
        }
    })
}

fn softmax(y: &mut Array2<f32>) {
    for mut row in y.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
}

/// Zero padding of `[N, H, W, C]`.
fn pad(x: &ArrayViewD<'_, f32>, p: Padding) -> ArrayD<f32> {
    if p.is_zero() {
        return x.to_owned();
    }
    let sh = x.shape();
    let (n, h, w, c) = (sh[0], sh[1], sh[2], sh[3]);
    let (t, b, l, r) = (p.top as usize, p.bottom as usize, p.left as usize, p.right as usize);
    let mut out = ArrayD::zeros(IxDyn(&[n, h + t + b, w + l + r, c]));
    out.slice_mut(s![.., t..t + h, l..l + w, ..]).assign(x);
    out
}

/// Keras' inference BatchNorm (JAX backend):
/// `inv = rsqrt(var + eps) * gamma; y = x * inv + (beta - mean * inv)`.
fn batch_norm(x: &mut ArrayD<f32>, bn: &BatchNorm, w: &Weights) -> Result<(), InterpError> {
    let get = |v: &str| param(w, format!("{}/{v}", bn.layer));
    let (gamma, beta, mean, var) = (get("gamma")?, get("beta")?, get("moving_mean")?, get("moving_variance")?);
    let eps = bn.epsilon as f32;
    let inv: Vec<f32> = var.iter().zip(gamma).map(|(v, g)| g / (v + eps).sqrt()).collect();
    let shift: Vec<f32> = beta.iter().zip(mean).zip(&inv).map(|((b, m), i)| b - m * i).collect();
    *x *= &ndarray::aview1(&inv);
    *x += &ndarray::aview1(&shift);
    Ok(())
}

/// Convolution of `[N, H, W, Cin]` as the sum over kernel taps of a strided
/// view of the padded input times the tap's `[Cin, Cout]` matrix (regular) or
/// `[C, multiplier]` row (depthwise), then the epilogue.
fn conv(c: &Conv, args: &[ArrayViewD<'_, f32>], shape: Shape, w: &Weights) -> Result<ArrayD<f32>, InterpError> {
    let x = pad(&args[0], c.padding);
    let n = x.shape()[0];
    let Shape::Map { h: oh, w: ow, c: cout } = shape else { unreachable!("conv outputs are maps") };
    let (oh, ow, cout) = (oh as usize, ow as usize, cout as usize);
    let cin = c.in_channels as usize;
    let [kh, kw] = c.kernel.map(|k| k as usize);
    let [sh, sw] = c.stride.map(|s| s as usize);
    let kernel = param(w, format!("{}/kernel", c.layer))?;
    // Kernel values per tap: `[Cin, Cout]` (regular) or `[C, multiplier]` (depthwise).
    let tap_len = match c.kind {
        ConvKind::Regular => cin * cout,
        ConvKind::Depthwise { .. } => cout,
    };
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[n, oh, ow, cout]));
    for ky in 0..kh {
        for kx in 0..kw {
            let tap = x.slice(s![.., ky..ky + sh * (oh - 1) + 1;sh, kx..kx + sw * (ow - 1) + 1;sw, ..]);
            let tap_w = &kernel[(ky * kw + kx) * tap_len..][..tap_len];
            match c.kind {
                ConvKind::Regular => {
                    let m = ArrayView2::from_shape((cin, cout), tap_w).expect("tap matrix");
                    let rows = tap.to_shape((n * oh * ow, cin)).expect("tap rows");
                    let prod = rows.dot(&m);
                    out += &prod.to_shape(IxDyn(&[n, oh, ow, cout])).expect("product shape");
                }
                ConvKind::Depthwise { multiplier } => {
                    let mult = multiplier as usize;
                    let m = ArrayView2::from_shape((cin, mult), tap_w).expect("tap row");
                    let mut o5 = out.view_mut().into_shape_with_order(IxDyn(&[n, oh, ow, cin, mult])).expect("split");
                    let t5 = tap.insert_axis(Axis(4));
                    o5 += &(&t5 * &m);
                }
            }
        }
    }
    if c.bias {
        out += &ndarray::aview1(param(w, format!("{}/bias", c.layer))?);
    }
    if let Some(bn) = &c.batch_norm {
        batch_norm(&mut out, bn, w)?;
    }
    if let Some(a) = c.activation {
        out.mapv_inplace(|v| Act::apply(a, v));
    }
    if c.residual {
        out += &args[1];
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

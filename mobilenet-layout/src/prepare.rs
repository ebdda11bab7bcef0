//! Load-time weight preparation: what generated `load` functions do to the
//! Keras tensors before the first `forward`.

use crate::pack::{self, Packing};
use crate::weights::Tensor;

/// A range of the prepared weight buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub const fn new(offset: usize, len: usize) -> Span {
        Span { offset, len }
    }

    fn range(self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// Indices (into the loaded tensors) of a BatchNorm's parameters, and its epsilon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BnTensors {
    pub gamma: usize,
    pub beta: usize,
    pub mean: usize,
    pub variance: usize,
    pub epsilon: f32,
}

/// How a layer's kernel is laid out for its kernel function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pack {
    /// A `[k][n]` GEMM operand (pointwise and regular convs, dense layers).
    Gemm { k: usize, n: usize },
    /// Depthwise `[taps][c]`.
    Depthwise { taps: usize, c: usize },
}

impl Pack {
    fn outputs(self) -> usize {
        match self {
            Pack::Gemm { n, .. } => n,
            Pack::Depthwise { c, .. } => c,
        }
    }
}

/// One preparation step of a generated model's weight table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// A conv or dense layer: its packed kernel and its bias (the layer's
    /// own, a folded BatchNorm's, both, or zeros).
    Layer {
        kernel: Span,
        kernel_tensor: usize,
        bias: Span,
        bias_tensor: Option<usize>,
        bn: Option<BnTensors>,
        pack: Pack,
    },
    /// A standalone BatchNorm: per-channel scale and shift.
    BatchNorm { scale: Span, shift: Span, bn: BnTensors },
}

/// Fills the prepared weight buffer `w` from the loaded tensors `t`, packed
/// for `packing` (a [`Packing`], or an instruction set that has one).
pub fn run(steps: &[Step], t: &[Tensor], w: &mut [f32], packing: impl Into<Packing>) {
    let isa = packing.into();
    let bn = |b: &BnTensors| BatchNorm {
        gamma: &t[b.gamma].data,
        beta: &t[b.beta].data,
        mean: &t[b.mean].data,
        variance: &t[b.variance].data,
        epsilon: b.epsilon,
    };
    for step in steps {
        match step {
            Step::Layer { kernel, kernel_tensor, bias, bias_tensor, bn: b_n, pack } => {
                let src = &t[*kernel_tensor].data;
                let mut k = vec![0.0; src.len()];
                let mut b = vec![0.0; pack.outputs()];
                kernel_and_bias(
                    &mut k,
                    &mut b,
                    src,
                    bias_tensor.map(|i| t[i].data.as_slice()),
                    b_n.as_ref().map(bn).as_ref(),
                );
                let dst = &mut w[kernel.range()];
                match *pack {
                    Pack::Gemm { k: rows, n } => pack::gemm(isa, &k, rows, n, dst),
                    Pack::Depthwise { taps, c } => pack::depthwise(isa, &k, taps, c, dst),
                }
                pack::bias(&b, &mut w[bias.range()]);
            }
            Step::BatchNorm { scale, shift, bn: b_n } => {
                assert!(scale.offset + scale.len <= shift.offset, "the shift follows the scale");
                let (lo, hi) = w.split_at_mut(shift.offset);
                batch_norm(&mut lo[scale.range()], &mut hi[..shift.len], &bn(b_n));
            }
        }
    }
}

/// Inference BatchNorm parameters of one layer.
#[derive(Debug, Clone, Copy)]
pub struct BatchNorm<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub mean: &'a [f32],
    pub variance: &'a [f32],
    pub epsilon: f32,
}

impl BatchNorm<'_> {
    /// `gamma / sqrt(var + eps)` for channel `c`.
    #[inline]
    pub fn scale(&self, c: usize) -> f32 {
        self.gamma[c] / (self.variance[c] + self.epsilon).sqrt()
    }
}

/// Writes a layer's weights for the kernels: the kernel (any Keras layout
/// whose last axis is the output channel) and its bias, folding `bn` into
/// both when given: `k' = k * s`, `b' = (b - mean) * s + beta` with
/// `s = gamma / sqrt(var + eps)` per output channel.
pub fn kernel_and_bias(
    out_kernel: &mut [f32],
    out_bias: &mut [f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    bn: Option<&BatchNorm<'_>>,
) {
    let cout = out_bias.len();
    out_kernel.copy_from_slice(kernel);
    match bias {
        Some(b) => out_bias.copy_from_slice(b),
        None => out_bias.fill(0.0),
    }
    if let Some(bn) = bn {
        for c in 0..cout {
            let s = bn.scale(c);
            out_bias[c] = (out_bias[c] - bn.mean[c]) * s + bn.beta[c];
            out_kernel[c..].iter_mut().step_by(cout).for_each(|w| *w *= s);
        }
    }
}

/// Per-channel `scale` and `shift` of a standalone BatchNorm (unfused program).
pub fn batch_norm(out_scale: &mut [f32], out_shift: &mut [f32], bn: &BatchNorm<'_>) {
    for c in 0..out_scale.len() {
        let s = bn.scale(c);
        out_scale[c] = s;
        out_shift[c] = bn.beta[c] - bn.mean[c] * s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_is_the_batch_norm_of_the_conv() {
        // kernel [1 input, 2 outputs]
        let bn = BatchNorm {
            gamma: &[2.0, 1.0],
            beta: &[1.0, -1.0],
            mean: &[0.5, 2.0],
            variance: &[3.0, 0.0],
            epsilon: 1.0,
        };
        let (mut k, mut b) = ([0.0; 2], [0.0; 2]);
        kernel_and_bias(&mut k, &mut b, &[3.0, 5.0], Some(&[1.0, 0.0]), Some(&bn));
        // x = 1: conv -> [4, 5]; bn -> [(4-.5)/2*2+1, (5-2)/1*1-1] = [4.5, 2]
        assert_eq!([k[0] + b[0], k[1] + b[1]], [4.5, 2.0]);
        let (mut scale, mut shift) = ([0.0; 2], [0.0; 2]);
        batch_norm(&mut scale, &mut shift, &bn);
        assert_eq!([4.0 * scale[0] + shift[0], 5.0 * scale[1] + shift[1]], [4.5, 2.0]);
    }
}

//! int8 quantization: the parameter definitions the quantizer (in the
//! compiler), the integer reference interpreter and the int8 networks'
//! load-time preparation must share.
//!
//! The scheme (TFLite's, and XNNPACK's "QU8 activations / QS8 weights"):
//! * activations are `u8` with a per-tensor scale and zero point,
//!   `real = scale * (q - zero_point)`; the range always contains 0, so a
//!   padded pixel (real 0) is exactly `zero_point`;
//! * weights are `i8` in `-127..=127`, symmetric (no zero point), with one
//!   scale per output channel;
//! * biases are `i32` in units of `input scale * weight scale`;
//! * an output is requantized from its `i32` accumulator with one `f32`
//!   multiplier per channel, [`multiplier`], then clamped to the bounds of
//!   its activation ([`clamp_bounds`]: ReLU6 becomes a clamp).
//!
//! Only the definitions live here; the arithmetic is in the kernels
//! (`mobilenet_runtime::kernels::q8`) and, written independently, in the
//! compiler's reference interpreter.

use crate::Act;

/// Quantization of an activation tensor: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QParams {
    /// The parameters whose 256 levels cover `[lo, hi]` widened to contain
    /// 0 (min/max calibration). A range of one point gets scale 1.
    pub fn covering(lo: f32, hi: f32) -> QParams {
        let (lo, hi) = (f64::from(lo.min(0.0)), f64::from(hi.max(0.0)));
        if hi.partial_cmp(&lo) != Some(core::cmp::Ordering::Greater) || !(hi - lo).is_finite() {
            return QParams { scale: 1.0, zero_point: 0 };
        }
        let scale = (hi - lo) / 255.0;
        let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as i32;
        QParams { scale: scale as f32, zero_point }
    }

    /// Whether these are parameters a network can use: a finite positive
    /// scale and a zero point in `0..=255`.
    pub fn is_valid(&self) -> bool {
        self.scale.is_finite() && self.scale > 0.0 && (0..=255).contains(&self.zero_point)
    }

    /// The value level `q` stands for.
    pub fn dequantize(&self, q: u8) -> f32 {
        self.scale * (i32::from(q) - self.zero_point) as f32
    }
}

/// Largest magnitude of a quantized weight (-128 is never used, so that a
/// weight's negation is a weight).
pub const WEIGHT_MAX: i32 = 127;

/// The scale of an output channel whose largest weight magnitude is
/// `max_abs` (1 for an all-zero channel).
pub fn weight_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() { max_abs / WEIGHT_MAX as f32 } else { 1.0 }
}

/// The requantization multiplier of an output channel: accumulator units
/// (`input scale * weight scale`) in output levels, `s_in * s_w / s_out`,
/// computed in `f64` and rounded once.
pub fn multiplier(s_in: f32, s_w: f32, s_out: f32) -> f32 {
    (f64::from(s_in) * f64::from(s_w) / f64::from(s_out)) as f32
}

/// The multiplier of a global average pool over `pixels` pixels:
/// `s_in / (pixels * s_out)`.
pub fn pool_multiplier(s_in: f32, pixels: usize, s_out: f32) -> f32 {
    (f64::from(s_in) / (pixels as f64 * f64::from(s_out))) as f32
}

/// The multiplier of a residual input added to an output: `s_res / s_out`.
pub fn residual_multiplier(s_res: f32, s_out: f32) -> f32 {
    (f64::from(s_res) / f64::from(s_out)) as f32
}

/// The scale of a float output computed from accumulators:
/// `s_in * s_w`.
pub fn output_scale(s_in: f32, s_w: f32) -> f32 {
    (f64::from(s_in) * f64::from(s_w)) as f32
}

/// The bounds `(lo, hi)` an output of `act` is clamped to, in output
/// levels: no activation keeps the whole `0..=255`, ReLU starts at the
/// zero point, ReLU6 also ends at the level of 6. `None` for the
/// activations int8 networks do not support.
pub fn clamp_bounds(act: Option<Act>, out: QParams) -> Option<(i32, i32)> {
    match act {
        None => Some((0, 255)),
        Some(Act::Relu) => Some((out.zero_point, 255)),
        Some(Act::Relu6) => {
            let six = (6.0 / f64::from(out.scale)).round();
            let hi = if six.is_finite() { (f64::from(out.zero_point) + six).min(255.0) as i32 } else { 255 };
            Some((out.zero_point, hi))
        }
        Some(_) => None,
    }
}

/// `(a, b)` of the input quantization `q = round(clamp(x * a + b, 0, 255))`
/// for input parameters `input` after an optional rescale
/// `x * scale + offset` (Keras' `Rescaling`), folded in.
pub fn input_affine(rescale: Option<(f32, f32)>, input: QParams) -> (f32, f32) {
    let (scale, offset) = rescale.unwrap_or((1.0, 0.0));
    let s = f64::from(input.scale);
    ((f64::from(scale) / s) as f32, (f64::from(offset) / s + f64::from(input.zero_point)) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covering_contains_zero_and_both_ends() {
        let q = QParams::covering(-1.0, 3.0);
        assert!(q.is_valid());
        assert_eq!(q.zero_point, 64);
        assert!((q.dequantize(0) + 1.0).abs() < q.scale && (q.dequantize(255) - 3.0).abs() < q.scale);
        let relu = QParams::covering(0.5, 6.0);
        assert_eq!(relu.zero_point, 0);
        assert_eq!(relu.dequantize(0), 0.0);
        let neg = QParams::covering(-4.0, -1.0);
        assert_eq!(neg.zero_point, 255);
        assert_eq!(QParams::covering(0.0, 0.0), QParams { scale: 1.0, zero_point: 0 });
        assert_eq!(QParams::covering(f32::NAN, 1.0).zero_point, 0);
    }

    #[test]
    fn relu6_bounds_end_at_six() {
        let out = QParams { scale: 6.0 / 255.0, zero_point: 0 };
        assert_eq!(clamp_bounds(Some(Act::Relu6), out), Some((0, 255)));
        let wide = QParams { scale: 0.05, zero_point: 10 };
        assert_eq!(clamp_bounds(Some(Act::Relu6), wide), Some((10, 130)));
        assert_eq!(clamp_bounds(Some(Act::Relu), wide), Some((10, 255)));
        assert_eq!(clamp_bounds(None, wide), Some((0, 255)));
        assert_eq!(clamp_bounds(Some(Act::HardSwish), wide), None);
    }

    #[test]
    fn input_affine_folds_the_rescale() {
        let q = QParams { scale: 0.5, zero_point: 10 };
        assert_eq!(input_affine(None, q), (2.0, 10.0));
        // x / 127.5 - 1, then quantized: x * (1/127.5)/0.5 + (-1/0.5 + 10)
        let (a, b) = input_affine(Some((1.0 / 127.5, -1.0)), q);
        assert!((a - 2.0 / 127.5).abs() < 1e-9 && b == 8.0);
    }
}

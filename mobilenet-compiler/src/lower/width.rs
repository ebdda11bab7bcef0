//! Keras' channel rounding for the width multiplier `alpha`, bit for bit.
//!
//! The arithmetic is done in f64 exactly as the Python code does it, so that
//! every alpha Keras accepts gives Keras' channel counts:
//!
//! * v1: `int(filters * alpha)`;
//! * v2: `_make_divisible(int(filters * alpha), 8)` for block outputs,
//!   `_make_divisible(32 * alpha, 8)` for the stem, and `1280` for the last
//!   conv unless `alpha > 1`;
//! * v3: `_depth(filters * alpha)`; the stem stays 16; expansions are
//!   `_depth(in * t)`, squeeze-excite `_depth(expanded * se_ratio)`.

/// Python `int(v)` for the non-negative values channel arithmetic produces;
/// `None` if the result does not fit a channel count.
pub fn py_int(v: f64) -> Option<u32> {
    let t = v.trunc();
    (t.is_finite() && t >= 0.0 && t <= f64::from(u32::MAX)).then_some(t as u32)
}

/// Keras' `_make_divisible(v, divisor)` (MobileNetV2) and `_depth(v)`
/// (MobileNetV3): round to the nearest multiple of `divisor`, at least
/// `divisor`, and never more than 10% below `v`.
pub fn make_divisible(v: f64, divisor: u32) -> Option<u32> {
    let d = f64::from(divisor);
    let rounded = u64::from(py_int(v + d / 2.0)?) / u64::from(divisor) * u64::from(divisor);
    let mut new_v = rounded.max(u64::from(divisor));
    if (new_v as f64) < 0.9 * v {
        new_v += u64::from(divisor);
    }
    u32::try_from(new_v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_keras() {
        // Values from running Keras' _make_divisible / _depth.
        assert_eq!(make_divisible(32.0 * 0.35, 8), Some(16));
        assert_eq!(make_divisible(5.0, 8), Some(8));
        assert_eq!(make_divisible(16.0 * 0.75, 8), Some(16));
        assert_eq!(make_divisible(24.0 * 0.5, 8), Some(16));
        assert_eq!(make_divisible(1280.0 * 1.4, 8), Some(1792));
        assert_eq!(make_divisible(96.0 * 0.35, 8), Some(32));
        assert_eq!(make_divisible(40.0 * 2.3, 8), Some(96));
        // The 10% rule: 9 rounds to 8, more than 10% below, so it becomes 16.
        assert_eq!(make_divisible(90.0, 8), Some(88));
        assert_eq!(make_divisible(8.5, 8), Some(8));
        assert_eq!(make_divisible(9.0, 8), Some(16));
    }

    #[test]
    fn py_int_truncates() {
        assert_eq!(py_int(5.6), Some(5));
        assert_eq!(py_int(0.99), Some(0));
        assert_eq!(py_int(f64::NAN), None);
        assert_eq!(py_int(1e20), None);
    }
}

//! The light int8 kernels: quantizing the float input, and global average
//! pooling. Plain loops.

use super::layer::PoolLayer;
use super::requant::{requant_scalar, round_small};

/// Quantizes floats: `y = round_ties_even(min(max(x * a + b, 0), 255))`
/// (a multiply, then an add; NaN becomes 0). The network input's
/// quantization, with the preprocessing's scale and shift folded in.
///
/// # Panics
/// If `y` is shorter than `x`.
pub fn quantize(a: f32, b: f32, x: &[f32], y: &mut [u8]) {
    assert!(y.len() >= x.len(), "output too short");
    for (y, &x) in y.iter_mut().zip(x) {
        // Not `clamp`: `f32::max` returns the other operand for NaN, so NaN
        // becomes 0 (`clamp` would keep it).
        #[allow(clippy::manual_clamp)]
        let v = (x * a + b).max(0.0).min(255.0);
        *y = round_small(v) as u8;
    }
}

/// Global average pooling: `y[ch] = requant(sum_p x[p][ch] - pixels * x_zp)`
/// with the layer's multiplier (the input scale over the output scale and
/// `pixels`) and zero point, and clamp bounds `0..=255`.
///
/// # Panics
/// If a slice is too short, or the sums could overflow `i32`.
pub fn global_avg_pool(pixels: usize, c: usize, x: &[u8], l: &PoolLayer, y: &mut [u8]) {
    assert!(x.len() >= pixels * c && y.len() >= c, "slices too short");
    assert!(pixels < (1 << 23), "sums fit i32");
    const CHUNK: usize = 64;
    let mut c0 = 0;
    while c0 < c {
        let cw = CHUNK.min(c - c0);
        let mut acc = [0i32; CHUNK];
        for p in 0..pixels {
            let row = &x[p * c + c0..p * c + c0 + cw];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as i32;
            }
        }
        for (y, &a) in y[c0..c0 + cw].iter_mut().zip(&acc) {
            *y = requant_scalar(a - pixels as i32 * l.x_zp, l.mult, l.zp, 0, 255, None);
        }
        c0 += cw;
    }
}

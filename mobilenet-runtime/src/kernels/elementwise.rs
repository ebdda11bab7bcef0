//! Elementwise and per-channel ops: what the unfused program runs as
//! separate passes, and the few ops that stay separate when fused.

use super::{Act, libm_exp};

/// `y = x * scale[c] + shift[c]` (inference BatchNorm with precomputed
/// per-channel scale and shift).
pub fn batch_norm(channels: usize, x: &[f32], scale: &[f32], shift: &[f32], y: &mut [f32]) {
    for (xp, yp) in x.chunks_exact(channels).zip(y.chunks_exact_mut(channels)) {
        for c in 0..channels {
            yp[c] = xp[c] * scale[c] + shift[c];
        }
    }
}

pub fn activation(act: Act, x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
    Act::apply_all(Some(act), y);
}

pub fn add(a: &[f32], b: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(a).zip(b).for_each(|((y, a), b)| *y = a + b);
}

/// `y = x * scale + offset`.
pub fn rescale(scale: f32, offset: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y = x * scale + offset);
}

/// Squeeze-excite gating: `y[p, c] = x[p, c] * gate[c]`.
pub fn mul_gate(channels: usize, x: &[f32], gate: &[f32], y: &mut [f32]) {
    for (xp, yp) in x.chunks_exact(channels).zip(y.chunks_exact_mut(channels)) {
        for c in 0..channels {
            yp[c] = xp[c] * gate[c];
        }
    }
}

/// Zero padding of an `[h, w, c]` map by `[top, bottom, left, right]`.
pub fn zero_pad(h: usize, w: usize, c: usize, pad: [usize; 4], x: &[f32], y: &mut [f32]) {
    let [top, bottom, left, right] = pad;
    let ow = w + left + right;
    y[..(h + top + bottom) * ow * c].fill(0.0);
    for r in 0..h {
        let dst = ((r + top) * ow + left) * c;
        y[dst..dst + w * c].copy_from_slice(&x[r * w * c..(r + 1) * w * c]);
    }
}

/// Softmax over the whole slice.
pub fn softmax(x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
    softmax_in_place(y);
}

pub fn softmax_in_place(y: &mut [f32]) {
    let max = y.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in y.iter_mut() {
        *v = libm_exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    y.iter_mut().for_each(|v| *v *= inv);
}

//! Global pooling (the heads and squeeze-excite). Dense layers are
//! [`super::pointwise`] convolutions of one pixel.

/// Mean over `pixels` pixels of `channels` channels.
pub fn global_avg_pool(pixels: usize, channels: usize, x: &[f32], y: &mut [f32]) {
    let y = &mut y[..channels];
    y.fill(0.0);
    for px in x[..pixels * channels].chunks_exact(channels) {
        y.iter_mut().zip(px).for_each(|(a, v)| *a += v);
    }
    let inv = 1.0 / pixels as f32;
    y.iter_mut().for_each(|a| *a *= inv);
}

/// Maximum over `pixels` pixels of `channels` channels.
pub fn global_max_pool(pixels: usize, channels: usize, x: &[f32], y: &mut [f32]) {
    let y = &mut y[..channels];
    y.fill(f32::NEG_INFINITY);
    for px in x[..pixels * channels].chunks_exact(channels) {
        y.iter_mut().zip(px).for_each(|(a, v)| *a = a.max(*v));
    }
}

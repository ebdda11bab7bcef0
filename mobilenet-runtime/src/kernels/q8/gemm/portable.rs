//! The portable int8 GEMM: plain loops on weights packed as
//! [`QLayout::Pairs8`](mobilenet_layout::q8pack::QLayout): panels of 8
//! output channels by pairs of inputs, `[n / 8][k / 2][8][2]`.

use crate::kernels::PointwiseGeom;

/// Channels per panel, inputs per pair.
const PANEL: usize = 8;

/// `m` rows of `k` inputs by the `n` packed columns: for each row and panel
/// of 8 channels, the sums `bias[c] + sum_j x[j] w[j][c]`, then
/// `store(row, first channel, sums)` with the panel's valid channels.
pub(super) fn gemm(g: &PointwiseGeom, x: &[u8], w: &[i8], bias: &[i32], mut store: impl FnMut(usize, usize, &[i32])) {
    let PointwiseGeom { pixels: m, cin: k, cout: n } = *g;
    let pairs = k.div_ceil(2);
    for row in 0..m {
        let xr = &x[row * k..(row + 1) * k];
        for p in 0..n.div_ceil(PANEL) {
            let c0 = p * PANEL;
            let cols = PANEL.min(n - c0);
            let mut acc = [0i32; PANEL];
            acc[..cols].copy_from_slice(&bias[c0..c0 + cols]);
            let panel = &w[p * pairs * 2 * PANEL..(p + 1) * pairs * 2 * PANEL];
            for (j, wj) in panel.chunks_exact(2 * PANEL).enumerate() {
                // A last odd input pairs with a zero weight: read no input past `k`.
                let x0 = i32::from(xr[2 * j]);
                let x1 = xr.get(2 * j + 1).map_or(0, |&v| i32::from(v));
                for (a, pair) in acc.iter_mut().zip(wj.chunks_exact(2)) {
                    *a += x0 * i32::from(pair[0]) + x1 * i32::from(pair[1]);
                }
            }
            store(row, c0, &acc[..cols]);
        }
    }
}

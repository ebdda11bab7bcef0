//! The portable int8 GEMM: plain loops on `[k][n]` weights.

use crate::kernels::PointwiseGeom;

/// Channels of sums the portable kernel keeps at once.
const CHUNK: usize = 64;

/// The portable GEMM on `[k][n]` weights: for each row and chunk of
/// channels, sums in a stack array (loops the compiler vectorizes), then
/// `store(row, first channel, sums)`.
pub(super) fn gemm(g: &PointwiseGeom, x: &[u8], w: &[i8], bias: &[i32], mut store: impl FnMut(usize, usize, &[i32])) {
    let PointwiseGeom { pixels: m, cin: k, cout: n } = *g;
    for row in 0..m {
        let xr = &x[row * k..(row + 1) * k];
        let mut c0 = 0;
        while c0 < n {
            let cw = CHUNK.min(n - c0);
            let mut acc = [0i32; CHUNK];
            let acc = &mut acc[..cw];
            acc.copy_from_slice(&bias[c0..c0 + cw]);
            for (j, &xv) in xr.iter().enumerate() {
                let xv = xv as i32;
                for (a, &wv) in acc.iter_mut().zip(&w[j * n + c0..j * n + c0 + cw]) {
                    *a += xv * wv as i32;
                }
            }
            store(row, c0, acc);
            c0 += cw;
        }
    }
}

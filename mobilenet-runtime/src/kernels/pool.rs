//! Global pooling and dense layers (the heads and squeeze-excite).

use super::gemm::{Gemm, gemm};
use super::{Act, Isa, par};
use crate::exec::Exec;

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

/// `y = act(x [inputs] * W + bias)`, `w` packed by [`super::pack::gemm`].
/// Output panels are split between the parts of `e`.
#[allow(clippy::too_many_arguments)]
pub fn dense(
    e: &dyn Exec,
    isa: Isa,
    inputs: usize,
    units: usize,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    act: Act,
    y: &mut [f32],
) {
    let nr = isa.panel();
    let panels = units.div_ceil(nr);
    assert!(y.len() >= units && x.len() >= inputs && w.len() >= panels * inputs * nr && bias.len() >= panels * nr);
    let (b, parts) = par::bounds(panels, e.threads(), 1);
    // Columns of the parts: whole panels, the last one clipped to `units`.
    let mut cols = b;
    for c in cols.iter_mut() {
        *c = (*c * nr).min(units);
    }
    par::run(e, &mut y[..units], &cols, parts, 1, &|part, y| {
        let (p0, c0, c1) = (b[part], cols[part], cols[part + 1]);
        let g = Gemm {
            m: 1,
            k: inputs,
            n: c1 - c0,
            ldc: c1 - c0,
            x,
            lda: inputs,
            koff: None,
            w: &w[p0 * inputs * nr..],
            bias: &bias[p0 * nr..],
            act,
            residual: None,
        };
        gemm(isa, &g, y);
    });
}

//! Convolutions: regular (any kernel), pointwise (1x1, the GEMM of
//! MobileNets) and depthwise, each with a fused epilogue.

use super::{Act, Opt};

/// Geometry of a 2-D convolution on one NHWC image. Padding is implicit:
/// input pixels outside `[0, h) x [0, w)` are zero; output pixel `(oy, ox)`
/// reads input rows from `oy * sh - pad_top`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub oh: usize,
    pub ow: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl ConvGeom {
    /// `[h, w, cin]` in, `[oh, ow, cout]` out, `[kh, kw]` kernel, `[sh, sw]`
    /// stride, `[top, left]` padding.
    pub const fn new(
        input: [usize; 3],
        output: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
    ) -> Self {
        ConvGeom {
            h: input[0],
            w: input[1],
            cin: input[2],
            oh: output[0],
            ow: output[1],
            cout: output[2],
            kh: kernel[0],
            kw: kernel[1],
            sh: stride[0],
            sw: stride[1],
            pad_top: pad[0],
            pad_left: pad[1],
        }
    }

    /// The input rows `[y0, y1)` an output row's kernel window covers,
    /// clipped to the image, with the first kernel row used.
    #[inline(always)]
    fn rows(&self, oy: usize) -> (usize, usize, usize) {
        let top = (oy * self.sh) as isize - self.pad_top as isize;
        let y0 = top.max(0) as usize;
        let y1 = ((top + self.kh as isize).min(self.h as isize)).max(0) as usize;
        (y0, y1, (y0 as isize - top) as usize)
    }

    #[inline(always)]
    fn cols(&self, ox: usize) -> (usize, usize, usize) {
        let left = (ox * self.sw) as isize - self.pad_left as isize;
        let x0 = left.max(0) as usize;
        let x1 = ((left + self.kw as isize).min(self.w as isize)).max(0) as usize;
        (x0, x1, (x0 as isize - left) as usize)
    }
}

/// Writes `bias` (or zeros) into an output pixel.
#[inline(always)]
fn init(acc: &mut [f32], bias: Opt<'_>) {
    match bias {
        Some(b) => acc.copy_from_slice(b),
        None => acc.fill(0.0),
    }
}

/// Applies activation then residual to a finished output pixel.
#[inline(always)]
fn finish(acc: &mut [f32], act: Act, residual: Opt<'_>) {
    act.apply_all(acc);
    if let Some(r) = residual {
        acc.iter_mut().zip(r).for_each(|(a, r)| *a += r);
    }
}

/// Regular convolution, kernel `[kh, kw, cin, cout]`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(g: &ConvGeom, x: &[f32], k: &[f32], bias: Opt<'_>, act: Act, residual: Opt<'_>, y: &mut [f32]) {
    let (cin, cout) = (g.cin, g.cout);
    assert!(x.len() >= g.h * g.w * cin && y.len() >= g.oh * g.ow * cout && k.len() >= g.kh * g.kw * cin * cout);
    for oy in 0..g.oh {
        let (y0, y1, ky0) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1, kx0) = g.cols(ox);
            let o = (oy * g.ow + ox) * cout;
            let acc = &mut y[o..o + cout];
            init(acc, bias);
            for (iy, ky) in (y0..y1).zip(ky0..) {
                for (ix, kx) in (x0..x1).zip(kx0..) {
                    let px = &x[(iy * g.w + ix) * cin..][..cin];
                    let kt = &k[(ky * g.kw + kx) * cin * cout..][..cin * cout];
                    for (ci, &xv) in px.iter().enumerate() {
                        let row = &kt[ci * cout..][..cout];
                        acc.iter_mut().zip(row).for_each(|(a, w)| *a += xv * w);
                    }
                }
            }
            finish(acc, act, residual.map(|r| &r[o..o + cout]));
        }
    }
}

/// 1x1 convolution over `pixels` pixels: `y = x [pixels, cin] * k [cin, cout]`,
/// then the epilogue.
#[allow(clippy::too_many_arguments)]
pub fn pointwise(
    pixels: usize,
    cin: usize,
    cout: usize,
    x: &[f32],
    k: &[f32],
    bias: Opt<'_>,
    act: Act,
    residual: Opt<'_>,
    y: &mut [f32],
) {
    assert!(x.len() >= pixels * cin && y.len() >= pixels * cout && k.len() >= cin * cout);
    for p in 0..pixels {
        let acc = &mut y[p * cout..][..cout];
        init(acc, bias);
        let px = &x[p * cin..][..cin];
        for (ci, &xv) in px.iter().enumerate() {
            let row = &k[ci * cout..][..cout];
            acc.iter_mut().zip(row).for_each(|(a, w)| *a += xv * w);
        }
        finish(acc, act, residual.map(|r| &r[p * cout..][..cout]));
    }
}

/// Depthwise convolution, kernel `[kh, kw, cin * multiplier]`: output
/// channel `c * multiplier + j` reads input channel `c`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    g: &ConvGeom,
    multiplier: usize,
    x: &[f32],
    k: &[f32],
    bias: Opt<'_>,
    act: Act,
    residual: Opt<'_>,
    y: &mut [f32],
) {
    let (cin, cout) = (g.cin, g.cout);
    assert!(cout == cin * multiplier);
    assert!(x.len() >= g.h * g.w * cin && y.len() >= g.oh * g.ow * cout && k.len() >= g.kh * g.kw * cout);
    for oy in 0..g.oh {
        let (y0, y1, ky0) = g.rows(oy);
        for ox in 0..g.ow {
            let (x0, x1, kx0) = g.cols(ox);
            let o = (oy * g.ow + ox) * cout;
            let acc = &mut y[o..o + cout];
            init(acc, bias);
            for (iy, ky) in (y0..y1).zip(ky0..) {
                for (ix, kx) in (x0..x1).zip(kx0..) {
                    let px = &x[(iy * g.w + ix) * cin..][..cin];
                    let kt = &k[(ky * g.kw + kx) * cout..][..cout];
                    if multiplier == 1 {
                        acc.iter_mut().zip(px).zip(kt).for_each(|((a, xv), w)| *a += xv * w);
                    } else {
                        for (c, &xv) in px.iter().enumerate() {
                            let (a, w) =
                                (&mut acc[c * multiplier..][..multiplier], &kt[c * multiplier..][..multiplier]);
                            a.iter_mut().zip(w).for_each(|(a, w)| *a += xv * w);
                        }
                    }
                }
            }
            finish(acc, act, residual.map(|r| &r[o..o + cout]));
        }
    }
}

//! Regular convolutions (the stem; any kernel size) as GEMMs over rows of
//! im2col'd pixels built on the stack, and the geometry shared with the
//! depthwise kernel.

use super::gemm::{Gemm, gemm, gemm_ptr};
use super::{ConvGeom, Epilogue, Isa, PointwiseGeom, par};
use crate::exec::Exec;

/// Floats of the on-stack im2col buffer (32 KiB): the largest window.
pub(super) const IM2COL: usize = mobilenet_layout::geom::MAX_WINDOW;

/// Floats of the im2col buffer for a few (border) pixels.
const SMALL_IM2COL: usize = 1024;

/// Regular convolution with a fused epilogue; `w` is the kernel
/// `[kh * kw * cin][cout]` packed by [`super::pack::gemm`]. Output rows are
/// split between the parts of `e`.
pub fn conv2d(e: &dyn Exec, isa: Isa, g: &ConvGeom, x: &[f32], w: &[f32], epi: Epilogue<'_>, y: &mut [f32]) {
    let k = g.kh * g.kw * g.cin;
    assert!(x.len() >= g.h * g.w * g.cin && y.len() >= g.oh * g.ow * g.cout);
    assert!(epi.residual.is_none_or(|r| r.len() >= g.oh * g.ow * g.cout));
    assert!(k <= IM2COL, "a {}x{}x{} window does not fit the im2col buffer", g.kh, g.kw, g.cin);
    let (b, parts) = par::bounds(g.oh, e.threads(), 1);
    let row = g.ow * g.cout;
    par::run(e, &mut y[..g.oh * row], &b, parts, row, &|part, y| {
        let rows = b[part]..b[part + 1];
        let epi = epi.range(rows.start * row, rows.len() * row);
        conv2d_rows(isa, g, rows, x, w, epi, y);
    });
}

/// Output rows `rows` of [`conv2d`]; `y` and the residual start at row `rows.start`.
pub(super) fn conv2d_rows(
    isa: Isa,
    g: &ConvGeom,
    rows: core::ops::Range<usize>,
    x: &[f32],
    w: &[f32],
    epi: Epilogue<'_>,
    y: &mut [f32],
) {
    let k = g.kh * g.kw * g.cin;
    // Where each of the k inputs of a window sits relative to its top-left
    // pixel: interior windows are read in place, as GEMM rows `sw * cin` apart.
    let mut koff = [0usize; KOFF];
    let in_place = k <= KOFF;
    if in_place {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                for ci in 0..g.cin {
                    koff[(ky * g.kw + kx) * g.cin + ci] = (ky * g.w + kx) * g.cin + ci;
                }
            }
        }
    }
    let ox_lo = g.pad_left.div_ceil(g.sw).min(g.ow);
    let ox_hi = if g.w + g.pad_left >= g.kw { ((g.w + g.pad_left - g.kw) / g.sw + 1).min(g.ow) } else { 0 }.max(ox_lo);
    let first = rows.start;
    for oy in rows {
        let top = (oy * g.sh) as isize - g.pad_top as isize;
        let out = |ox: usize| ((oy - first) * g.ow + ox) * g.cout;
        if in_place && top >= 0 && top as usize + g.kh <= g.h && ox_hi > ox_lo {
            let origin = (top as usize * g.w + ox_lo * g.sw - g.pad_left) * g.cin;
            let (o0, o1) = (out(ox_lo), out(ox_hi));
            let gm = Gemm {
                m: ox_hi - ox_lo,
                k,
                n: g.cout,
                ldc: g.cout,
                x: &x[origin..],
                lda: g.sw * g.cin,
                koff: Some(&koff[..k]),
                w,
                epi: epi.range(o0, o1 - o0),
            };
            gemm(isa, &gm, &mut y[o0..o1]);
            im2col_gemm(isa, g, (oy, 0..ox_lo), x, w, epi.from(out(0)), &mut y[out(0)..]);
            im2col_gemm(isa, g, (oy, ox_hi..g.ow), x, w, epi.from(out(ox_hi)), &mut y[out(ox_hi)..]);
        } else {
            im2col_gemm(isa, g, (oy, 0..g.ow), x, w, epi.from(out(0)), &mut y[out(0)..]);
        }
    }
}

/// Most inputs of a window read in place (through an offset table on the stack).
const KOFF: usize = 2048;

/// Output pixels `oxs` of row `oy` through an im2col buffer on the stack
/// (windows that cross the border); `y` and the residual start at pixel `oxs.start`.
fn im2col_gemm(
    isa: Isa,
    g: &ConvGeom,
    (oy, oxs): (usize, core::ops::Range<usize>),
    x: &[f32],
    w: &[f32],
    epi: Epilogue<'_>,
    y: &mut [f32],
) {
    if oxs.is_empty() {
        return;
    }
    // Most calls are the one or two border pixels of a row: a small buffer
    // for them, since zeroing the big one cost as much as the whole row.
    let k = g.kh * g.kw * g.cin;
    let mut small = [0.0f32; SMALL_IM2COL];
    let mut big;
    let buf: &mut [f32] = if oxs.len() * k <= SMALL_IM2COL {
        &mut small
    } else {
        big = [0.0f32; IM2COL];
        &mut big
    };
    let chunk = (buf.len() / k).max(1);
    let mut ox0 = oxs.start;
    while ox0 < oxs.end {
        let pixels = chunk.min(oxs.end - ox0);
        for (i, ox) in (ox0..ox0 + pixels).enumerate() {
            let row = &mut buf[i * k..(i + 1) * k];
            let left = (ox * g.sw) as isize - g.pad_left as isize;
            let span = g.kw * g.cin;
            for ky in 0..g.kh {
                let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                let dst = &mut row[ky * span..][..span];
                if iy < 0 || iy >= g.h as isize {
                    dst.fill(0.0);
                } else {
                    for kx in 0..g.kw {
                        let ix = left + kx as isize;
                        let px = &mut dst[kx * g.cin..][..g.cin];
                        if ix < 0 || ix >= g.w as isize {
                            px.fill(0.0);
                        } else {
                            px.copy_from_slice(&x[(iy as usize * g.w + ix as usize) * g.cin..][..g.cin]);
                        }
                    }
                }
            }
        }
        let at = (ox0 - oxs.start) * g.cout;
        let len = pixels * g.cout;
        let gm = Gemm {
            m: pixels,
            k,
            n: g.cout,
            ldc: g.cout,
            x: &buf[..pixels * k],
            lda: k,
            koff: None,
            w,
            epi: epi.range(at, len),
        };
        gemm(isa, &gm, &mut y[at..at + len]);
        ox0 += pixels;
    }
}

/// 1x1 convolution: `y = act(x [pixels, cin] * W + bias) + residual`, `w`
/// packed by [`super::pack::gemm`]. Pixels are split between the parts of
/// `e`, or, when there are fewer pixels than output channels, whole panels
/// of output channels (each core then reads only its share of the weights).
pub fn pointwise(e: &dyn Exec, isa: Isa, g: &PointwiseGeom, x: &[f32], w: &[f32], epi: Epilogue<'_>, y: &mut [f32]) {
    let PointwiseGeom { pixels, cin, cout } = *g;
    assert!(x.len() >= pixels * cin && y.len() >= pixels * cout);
    assert!(epi.residual.is_none_or(|r| r.len() >= pixels * cout));
    let nr = isa.panel();
    let panels = cout.div_ceil(nr);
    if e.threads() > 1 && pixels < cout && panels > 1 {
        // Fewer activations than weights (the 7x7 and 14x14 layers, dense
        // layers): each part takes whole panels of output columns, so each
        // core reads half the weights instead of all of them.
        let (b, parts) = par::bounds(panels, e.threads(), 1);
        par::run_shared(e, &mut y[..pixels * cout], parts, &|part, y, y_len| {
            let (p0, c0) = (b[part], b[part] * nr);
            let c1 = (b[part + 1] * nr).min(cout);
            let g = Gemm {
                m: pixels,
                k: cin,
                n: c1 - c0,
                ldc: cout,
                x,
                lda: cin,
                koff: None,
                w: &w[p0 * cin * nr..],
                epi: Epilogue { bias: &epi.bias[p0 * nr..], ..epi.from(c0) },
            };
            // SAFETY: `y` holds `y_len` floats; this part writes only columns
            // `c0..c1` of each row, which no other part writes.
            unsafe { gemm_ptr(isa, &g, y.add(c0), y_len - c0) };
        });
        return;
    }
    let (b, parts) = par::bounds(pixels, e.threads(), 12);
    par::run(e, &mut y[..pixels * cout], &b, parts, cout, &|part, y| {
        let (p0, p1) = (b[part], b[part + 1]);
        let g = Gemm {
            m: p1 - p0,
            k: cin,
            n: cout,
            ldc: cout,
            x: &x[p0 * cin..p1 * cin],
            lda: cin,
            koff: None,
            w,
            epi: epi.range(p0 * cout, (p1 - p0) * cout),
        };
        gemm(isa, &g, y);
    });
}

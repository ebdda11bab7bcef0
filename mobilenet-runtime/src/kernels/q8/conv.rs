//! Regular int8 convolutions (the stem): bands of output pixels im2col'd
//! on the stack and multiplied there by the GEMM kernels.

use mobilenet_layout::geom::MAX_WINDOW;
use mobilenet_layout::q8pack::{IM2COL_BAND, im2col_kpad};

use super::ConvGeom;
use super::gemm;
use super::requant::Requant;
use crate::exec::Exec;
use crate::kernels::{Isa, PointwiseGeom, par};

/// Regular convolution (the stem): bands of output pixels are im2col'd
/// ([`im2col`]) into a buffer on the stack and multiplied there
/// ([`super::pointwise`] on the calling thread), so the window matrix
/// never goes through memory; output pixels are split between the parts of
/// `e`. `w` is packed from the `[kpad][cout]` matrix whose pad rows are
/// zero (`kpad` = [`im2col_kpad`] of `kh * kw * cin`), `q.bias` has
/// `-x_zp * sum_j w[j][c]` folded in, padding reads `q.x_zp`.
///
/// # Panics
/// If a slice is too short, the window is longer than [`MAX_WINDOW`], or
/// `q` is invalid.
pub fn conv2d(e: &dyn Exec, isa: Isa, g: &ConvGeom, x: &[u8], w: &[i8], q: &Requant<'_>, y: &mut [u8]) {
    let (pixels, n) = (g.oh * g.ow, g.cout);
    let kpad = im2col_kpad(g.kh * g.kw * g.cin);
    assert!(kpad <= MAX_WINDOW, "a {}x{}x{} window is longer than {MAX_WINDOW}", g.kh, g.kw, g.cin);
    assert!(y.len() >= pixels * n, "output too short");
    q.check(n, pixels * n);
    let x_zp = q.x_zp as u8;
    let (b, parts) = par::bounds(pixels, e.threads(), 1);
    par::run(e, &mut y[..pixels * n], &b, parts, n, &|part, y| {
        // Bands of `IM2COL_BAND` bytes (L1-resident), or one window where a
        // window is longer.
        let mut buf = [0u8; MAX_WINDOW];
        let band = (IM2COL_BAND / kpad).max(1);
        let (start, end) = (b[part], b[part + 1]);
        let mut p = start;
        while p < end {
            let m = band.min(end - p);
            let cols = &mut buf[..m * kpad];
            im2col_pixels(g, x, x_zp, kpad, p..p + m, cols);
            let out = q.from(p * n);
            let geom = PointwiseGeom::new(m, kpad, n);
            gemm::pointwise(&crate::exec::Serial, isa, &geom, cols, w, &out, &mut y[(p - start) * n..][..m * n]);
            p += m;
        }
    });
}

/// The windows of a regular convolution as rows of a matrix, for
/// [`pointwise`] with `k = kpad`: `y` is `[oh * ow][kpad]`, and element `j <
/// kh * kw * cin` of a row is input channel `j % cin` at tap `j / cin` (`t =
/// ky * kw + kx`) of the pixel's window, or `zp` where the window leaves the
/// image; elements `kh * kw * cin..kpad` are `zp` (their weights are zero).
///
/// # Panics
/// If `kpad < kh * kw * cin` or a slice is too short.
pub fn im2col(g: &ConvGeom, x: &[u8], zp: u8, kpad: usize, y: &mut [u8]) {
    im2col_pixels(g, x, zp, kpad, 0..g.oh * g.ow, y);
}

/// [`im2col`] of output pixels `pixels` (row-major index `oy * ow + ox`)
/// only: `y` is `[pixels.len()][kpad]`.
fn im2col_pixels(g: &ConvGeom, x: &[u8], zp: u8, kpad: usize, pixels: core::ops::Range<usize>, y: &mut [u8]) {
    // Windows inside the image, for the stems' shapes, are copied by code
    // specialized for their size: every kernel row a fixed-size move, no
    // bounds logic per row.
    match (g.kh, g.kw * g.cin) {
        (3, 9) => im2col_with::<3, 9>(g, x, zp, kpad, pixels, y),
        (3, 12) => im2col_with::<3, 12>(g, x, zp, kpad, pixels, y),
        (5, 15) => im2col_with::<5, 15>(g, x, zp, kpad, pixels, y),
        (7, 21) => im2col_with::<7, 21>(g, x, zp, kpad, pixels, y),
        _ => im2col_with::<0, 0>(g, x, zp, kpad, pixels, y),
    }
}

/// [`im2col_pixels`], with windows inside the image copied as `KH` rows
/// of `N` bytes (`KH = 0`: no specialization).
#[inline(always)]
fn im2col_with<const KH: usize, const N: usize>(
    g: &ConvGeom,
    x: &[u8],
    zp: u8,
    kpad: usize,
    pixels: core::ops::Range<usize>,
    y: &mut [u8],
) {
    let k = g.kh * g.kw * g.cin;
    assert!(kpad >= k, "kpad covers the window");
    assert!(x.len() >= g.h * g.w * g.cin && y.len() >= pixels.len() * kpad, "slices too short");
    // One kernel row of a window is `kw * cin` contiguous input bytes: where
    // the window is inside the image horizontally, it is one copy.
    let span = g.kw * g.cin;
    // The pixel's coordinates advance with it (a division per pixel cost
    // as much as its copies).
    let (mut oy, mut ox) = (pixels.start / g.ow, pixels.start % g.ow);
    for (i, row) in y[..pixels.len() * kpad].chunks_exact_mut(kpad).enumerate() {
        if i > 0 {
            ox += 1;
            if ox == g.ow {
                ox = 0;
                oy += 1;
            }
        }
        for v in &mut row[k..] {
            *v = zp;
        }
        let ix0 = (ox * g.sw) as isize - g.pad_left as isize;
        let inside_x = ix0 >= 0 && ix0 as usize + g.kw <= g.w;
        let iy0 = (oy * g.sh) as isize - g.pad_top as isize;
        if KH > 0 && inside_x && iy0 >= 0 && iy0 as usize + g.kh <= g.h {
            window::<KH, N>(row, x, (iy0 as usize * g.w + ix0 as usize) * g.cin, g.w * g.cin);
            continue;
        }
        for ky in 0..g.kh {
            let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
            let dst = &mut row[ky * span..][..span];
            if iy < 0 || iy >= g.h as isize {
                dst.fill(zp);
            } else if inside_x {
                let at = (iy as usize * g.w + ix0 as usize) * g.cin;
                copy_small(dst, &x[at..at + span]);
            } else {
                for kx in 0..g.kw {
                    let ix = ix0 + kx as isize;
                    let dst = &mut dst[kx * g.cin..][..g.cin];
                    if ix < 0 || ix >= g.w as isize {
                        dst.fill(zp);
                    } else {
                        let at = (iy as usize * g.w + ix as usize) * g.cin;
                        dst.copy_from_slice(&x[at..at + g.cin]);
                    }
                }
            }
        }
    }
}

/// An im2col row of a window inside the image: `KH` kernel rows of `N`
/// bytes, the first at `x[at..]`, the next `line` bytes further.
#[inline(always)]
fn window<const KH: usize, const N: usize>(row: &mut [u8], x: &[u8], at: usize, line: usize) {
    for ky in 0..KH {
        let (d, s): (&mut [u8; N], &[u8; N]) =
            match ((&mut row[ky * N..][..N]).try_into(), x[at + ky * line..][..N].try_into()) {
                (Ok(d), Ok(s)) => (d, s),
                _ => unreachable!("both are N bytes"),
            };
        *d = *s;
    }
}

/// `dst.copy_from_slice(src)`, with the few-byte lengths of a stem's
/// window rows (3x3 or 5x5 on RGB: 9 or 15 bytes) as fixed-size moves
/// instead of a `memcpy` call each: a call per window row made the
/// stem's im2col cost more than its GEMM.
#[inline(always)]
fn copy_small(dst: &mut [u8], src: &[u8]) {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match dst.len() {
                $($n => {
                    let (d, s): (&mut [u8; $n], &[u8; $n]) = match (dst.try_into(), src.try_into()) {
                        (Ok(d), Ok(s)) => (d, s),
                        _ => unreachable!("both are {} bytes", $n),
                    };
                    *d = *s;
                })*
                _ => dst.copy_from_slice(src),
            }
        };
    }
    fixed!(3 6 9 12 15 18 21 24 27 30 32 48 64);
}

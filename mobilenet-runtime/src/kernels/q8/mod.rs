//! Int8 kernels for quantized MobileNets: `core` only, allocation-free.
//!
//! Activations are `u8` with a zero point, weights `i8` (symmetric, per
//! output channel, in `-127..=127`), sums `i32`, computed exactly (no
//! saturating instruction anywhere: AVX2 widens to i16 and uses
//! `vpmaddwd`, AVX-512 uses VNNI's `vpdpbusd`). Every output is then
//! requantized by one definition, [`requant_scalar`], which the vector
//! code follows operation for operation, so every [`QIsa`] and every
//! thread count gives the same bytes.
//!
//! Tensors are NHWC slices of one image, as for the float kernels. Weights
//! are packed per instruction set by [`pack_gemm`] and [`pack_depthwise`]
//! into caller-provided slices.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod dw;
mod gemm;
pub(crate) mod isa;

#[cfg(test)]
mod tests;

pub use dw::{depthwise, depthwise_packed_len, pack_depthwise};
pub use gemm::{gemm_packed_len, im2col_kpad, pack_gemm, pointwise, pointwise_f32};
pub use isa::{QIsa, QLayout};

use super::ConvGeom;
use crate::exec::Exec;

/// How a kernel turns its i32 accumulators into u8 outputs
/// ([`requant_scalar`] with these values).
#[derive(Debug, Clone, Copy)]
pub struct Requant<'a> {
    /// Per output channel, at least as many as there are channels.
    pub mult: &'a [f32],
    /// The output's zero point.
    pub zp: i32,
    /// Clamp bounds of the output bytes, `0 <= lo <= hi <= 255` (a fused
    /// ReLU is `lo = zp`, a ReLU6 also lowers `hi`).
    pub lo: i32,
    pub hi: i32,
    /// Added before the clamp; laid out exactly like the output.
    pub residual: Option<Residual<'a>>,
}

/// A residual input of a [`Requant`]: `(x - zp) * mult` is added.
#[derive(Debug, Clone, Copy)]
pub struct Residual<'a> {
    pub x: &'a [u8],
    pub zp: i32,
    pub mult: f32,
}

impl<'a> Requant<'a> {
    /// Checks the bounds and that `mult` covers `channels` and the residual
    /// `len` outputs.
    fn check(&self, channels: usize, len: usize) {
        assert!(0 <= self.lo && self.lo <= self.hi && self.hi <= 255, "clamp bounds within 0..=255");
        assert!(self.mult.len() >= channels, "a multiplier per channel");
        assert!(self.residual.is_none_or(|r| r.x.len() >= len), "residual too short");
    }

    /// The same requantization for the outputs from element `at` on (the
    /// residual moves with them).
    #[inline]
    fn from(self, at: usize) -> Requant<'a> {
        Requant { residual: self.residual.map(|r| Residual { x: &r.x[at..], ..r }), ..self }
    }
}

/// `len` items from `start` in the fewest pieces of at most `max`, sized
/// within one of each other (no last tile of one row), as `(start, len)`:
/// the GEMM's blocks of rows, the depthwise kernels' spans of outputs.
pub(super) fn even(start: usize, len: usize, max: usize) -> impl Iterator<Item = (usize, usize)> {
    let pieces = len.div_ceil(max.max(1));
    (0..pieces).map(move |i| {
        let (a, b) = (i * len / pieces, (i + 1) * len / pieces);
        (start + a, b - a)
    })
}

/// `1.5 * 2^23`: adding it to an `f32` of magnitude below `2^22` rounds it
/// to an integer (ties to even, the default rounding) held in the low bits
/// of the sum's representation.
pub(super) const MAGIC: f32 = 12_582_912.0;
/// The bits of [`MAGIC`].
pub(super) const MAGIC_BITS: i32 = 0x4B40_0000;

/// `v` rounded to the nearest integer, ties to even, for `|v| < 2^22`.
#[inline(always)]
fn round_small(v: f32) -> i32 {
    (v + MAGIC).to_bits() as i32 - MAGIC_BITS
}

/// The requantization of one accumulator, the definition every kernel
/// follows bit for bit:
///
/// ```text
/// v = acc as f32 * mult                      (round to nearest even, one multiply)
/// v = v + (r - r_zp) as f32 * r_mult         (if a residual: a multiply, then an add; never fused)
/// v = min(max(v, lo - zp), hi - zp)
/// q = round_ties_even(v) + zp                (in lo..=hi)
/// ```
///
/// `residual` is `(r, r_zp, r_mult)`.
#[inline(always)]
pub fn requant_scalar(acc: i32, mult: f32, zp: i32, lo: i32, hi: i32, residual: Option<(u8, i32, f32)>) -> u8 {
    let mut v = acc as f32 * mult;
    if let Some((r, r_zp, r_mult)) = residual {
        v += (r as i32 - r_zp) as f32 * r_mult;
    }
    let v = v.max((lo - zp) as f32).min((hi - zp) as f32);
    (round_small(v) + zp) as u8
}

/// `y[i] = requant(acc[i])` for outputs at `y[..]` of channels `c0..`,
/// whose residual (if any) is `q.residual.x[at..]`.
#[inline(always)]
fn requant_run(acc: &[i32], q: &Requant<'_>, c0: usize, at: usize, y: &mut [u8]) {
    let mult = &q.mult[c0..c0 + acc.len()];
    match q.residual {
        None => {
            for ((y, &a), &m) in y.iter_mut().zip(acc).zip(mult) {
                *y = requant_scalar(a, m, q.zp, q.lo, q.hi, None);
            }
        }
        Some(r) => {
            let rx = &r.x[at..at + acc.len()];
            for (((y, &a), &m), &rx) in y.iter_mut().zip(acc).zip(mult).zip(rx) {
                *y = requant_scalar(a, m, q.zp, q.lo, q.hi, Some((rx, r.zp, r.mult)));
            }
        }
    }
}

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
/// with `mult` (the input scale over the output scale and `pixels`), `zp`,
/// and clamp bounds `0..=255`.
///
/// # Panics
/// If a slice is too short, or the sums could overflow `i32`.
pub fn global_avg_pool(pixels: usize, c: usize, x: &[u8], x_zp: i32, mult: f32, zp: i32, y: &mut [u8]) {
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
            *y = requant_scalar(a - pixels as i32 * x_zp, mult, zp, 0, 255, None);
        }
        c0 += cw;
    }
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

/// Bytes of the on-stack im2col band of [`conv2d`] (L1-resident).
const COL: usize = 4096;

/// Regular convolution (the stem): bands of output pixels are im2col'd
/// ([`im2col`]) into a buffer on the stack and multiplied there
/// ([`pointwise`] on the calling thread), so the window matrix never goes
/// through memory; output pixels are split between the parts of `e`. `w`
/// is packed from the `[kpad][cout]` matrix whose pad rows are zero
/// (`kpad` from [`im2col_kpad`]), `bias` has `-x_zp * sum_j w[j][c]`
/// folded in. Windows longer than the stack buffer (`kpad` over 4096) go
/// through `col`, which must then hold `oh * ow * kpad` bytes (it may be
/// empty otherwise).
///
/// # Panics
/// If a slice is too short or `out` is invalid.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    e: &dyn Exec,
    isa: QIsa,
    g: &ConvGeom,
    x: &[u8],
    x_zp: u8,
    kpad: usize,
    w: &[i8],
    bias: &[i32],
    out: &Requant<'_>,
    col: &mut [u8],
    y: &mut [u8],
) {
    let (pixels, n) = (g.oh * g.ow, g.cout);
    if kpad > COL {
        im2col(g, x, x_zp, kpad, col);
        return pointwise(e, isa, pixels, kpad, n, col, w, bias, out, y);
    }
    assert!(y.len() >= pixels * n, "output too short");
    out.check(n, pixels * n);
    let (b, parts) = crate::kernels::par::bounds(pixels, e.threads(), 1);
    crate::kernels::par::run(e, &mut y[..pixels * n], &b, parts, n, &|part, y| {
        let mut buf = [0u8; COL];
        let band = (COL / kpad).max(1);
        let (start, end) = (b[part], b[part + 1]);
        let mut p = start;
        while p < end {
            let m = band.min(end - p);
            let cols = &mut buf[..m * kpad];
            im2col_pixels(g, x, x_zp, kpad, p..p + m, cols);
            let q = out.from(p * n);
            pointwise(&crate::exec::Serial, isa, m, kpad, n, cols, w, bias, &q, &mut y[(p - start) * n..][..m * n]);
            p += m;
        }
    });
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

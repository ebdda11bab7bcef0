//! Depthwise convolution (multiplier 1), vectorized over channels.
//!
//! Weights are packed per layout (`mobilenet_layout::q8pack`): plain
//! `[taps][c]` for the portable kernel; blocks of 8 / 16 channels with each
//! weight in a 16-bit lane and the blocks' sums of weights for AVX2 / VNNI,
//! plus a second copy of 3x3 weights in the order the 3x3 kernels read.
//!
//! The vector kernels never subtract the input's zero point per tap: a tap
//! outside the image reads `zp` instead of a pixel, so every window has all
//! `taps` inputs, and `sum (x - zp) * w = sum x * w - zp * sum w`, the last
//! term folded into the bias once per block (exact in i32).
//!
//! This module is the API and the dispatch; [`portable`], the generic
//! vector kernel ([`lanes`]) and each instruction set's 3x3 kernels and
//! [`lanes::Lanes`] impl ([`avx2`], [`vnni`]) are files of their own.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes;
mod portable;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
#[cfg(target_arch = "x86_64")]
mod vnni;

use mobilenet_layout::q8pack::depthwise_packed_len;

use super::requant::Requant;
use crate::exec::Exec;
use crate::kernels::isa::{Int8Kernels, Isa};
use crate::kernels::{ConvGeom, MAX_KERNEL, par};

/// A depthwise conv's operands, shared by the parts of a job: the output
/// rows of a part are passed beside it.
#[derive(Clone, Copy)]
struct Job<'a, 'q> {
    g: &'a ConvGeom,
    x: &'a [u8],
    w: &'a [i32],
    q: &'a Requant<'q>,
}

type Rows = core::ops::Range<usize>;

/// Depthwise convolution with one output per input channel (`g.cin ==
/// g.cout`): `y[oy][ox][ch] = requant(bias[ch] + sum over the taps inside
/// the image of (x - x_zp) * w[tap][ch])` with `q` (whose bias has no zero
/// point folded in). `w` is packed for `isa`'s layout. Output rows are
/// split between the parts of `e`.
///
/// # Panics
/// If the multiplier is not 1, the kernel is larger than [`MAX_KERNEL`], a
/// stride is 0, `q` is invalid, or a slice is too short.
pub fn depthwise(e: &dyn Exec, isa: Isa, g: &ConvGeom, x: &[u8], w: &[i32], q: &Requant<'_>, y: &mut [u8]) {
    assert!(g.cin == g.cout && g.cin > 0, "depthwise multiplier 1");
    assert!(g.kh > 0 && g.kw > 0 && g.kh <= MAX_KERNEL && g.kw <= MAX_KERNEL, "kernel size");
    assert!(g.sh > 0 && g.sw > 0, "stride");
    let c = g.cin;
    assert!(x.len() >= g.h * g.w * c && y.len() >= g.oh * g.ow * c, "input or output too short");
    assert!(w.len() >= depthwise_packed_len(isa.qlayout(), g.kh * g.kw, c), "weights too short");
    q.check(c, g.oh * g.ow * c);
    let row = g.ow * c;
    let (b, parts) = par::bounds(g.oh, e.threads(), 1);
    par::run(e, &mut y[..g.oh * row], &b, parts, row, &|part, y| {
        let rows = b[part]..b[part + 1];
        let q = q.from(rows.start * row);
        let job = Job { g, x, w, q: &q };
        match isa.int8().kernels {
            Int8Kernels::Portable => portable::run(&job, isa.qlayout(), rows, y),
            // SAFETY: lengths checked above (`y` and the residual start at row `rows.start`); `isa` proves the
            // CPU has the instructions.
            #[cfg(target_arch = "x86_64")]
            Int8Kernels::Avx2 => unsafe { avx2::run(&job, rows, y) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Int8Kernels::Avx512Vnni => unsafe { vnni::run(&job, rows, y) },
            // SAFETY: as above.
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Int8Kernels::Simd128 => unsafe { simd128::run(&job, rows, y) },
            #[allow(unreachable_patterns)]
            _ => unreachable!("no such instruction set on this target"),
        }
    });
}

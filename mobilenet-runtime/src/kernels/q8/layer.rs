//! The layers of an int8 network as views of its one weight blob: each
//! layer's record (`mobilenet_layout::q8pack::Record`) at the constant
//! offset the compiler gave it, whether the blob was prepared at load time
//! or compiled in. The int8 counterpart of the f32 networks' `&w[a..b]`.

use mobilenet_layout::q8pack::{BLOB_ALIGN, PARAM_SLOTS, Record, depthwise_len, gemm_len, slot};

use super::requant::{Requant, Residual};

/// Values a blob holds: any bit pattern is one.
trait Plain: Copy {}
impl Plain for i8 {}
impl Plain for i32 {}
impl Plain for f32 {}

/// `len` values of `T` from byte `at` of `blob`.
///
/// # Panics
/// If they do not lie in `blob` or are misaligned for `T`.
fn view<T: Plain>(blob: &[u8], at: usize, len: usize) -> &[T] {
    let size = core::mem::size_of::<T>();
    let bytes = &blob[at..at + len * size];
    assert!(bytes.as_ptr().align_offset(core::mem::align_of::<T>()) == 0, "an int8 blob is aligned");
    // SAFETY: `bytes` holds `len * size_of::<T>()` initialized bytes,
    // aligned for `T` (asserted), borrowed for the result's lifetime; every
    // bit pattern is a valid `T` (`Plain`: i8, i32, f32).
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), len) }
}

/// The record's scalars.
fn params(blob: &[u8], at: usize) -> &[i32] {
    view::<i32>(blob, at, PARAM_SLOTS)
}

/// Checks that a record starts where records may.
fn record(blob: &[u8], at: usize) {
    assert!(at.is_multiple_of(BLOB_ALIGN) && blob.as_ptr().align_offset(BLOB_ALIGN) == 0, "records are aligned");
}

/// A layer's record at `at` laid out as `r`: its `w_len` weights, its bias
/// and multipliers for `n` outputs, and its scalars.
struct Arrays<'a, W> {
    w: &'a [W],
    bias: &'a [i32],
    mult: &'a [f32],
    p: &'a [i32],
}

fn arrays<W: Plain>(blob: &[u8], at: usize, r: Record, w_len: usize, n: usize) -> Arrays<'_, W> {
    record(blob, at);
    Arrays {
        w: view(blob, at + r.w, w_len),
        bias: view(blob, at + r.bias, n),
        mult: view(blob, at + r.mult, n),
        p: params(blob, at),
    }
}

/// A GEMM layer (pointwise, im2col'd or dense; the classifier too).
#[derive(Debug, Clone, Copy)]
pub struct GemmLayer<'a> {
    /// `[kpad][n]` packed for the blob's layout.
    pub w: &'a [i8],
    /// Bias with `-x_zp * sum_j w[j][c]` folded in.
    pub bias: &'a [i32],
    /// Requantization multipliers, or the logits' scales for the classifier.
    pub mult: &'a [f32],
    pub x_zp: i32,
    pub zp: i32,
    pub lo: i32,
    pub hi: i32,
    /// Zero point and multiplier of the residual input.
    pub residual: Option<(i32, f32)>,
}

impl<'a> GemmLayer<'a> {
    /// The layer of `kpad` inputs and `n` outputs whose record starts at byte `at`.
    pub fn at(blob: &'a [u8], at: usize, kpad: usize, n: usize) -> GemmLayer<'a> {
        let Arrays { w, bias, mult, p } = arrays(blob, at, Record::gemm(kpad, n), gemm_len(kpad, n), n);
        let residual =
            (p[slot::HAS_RESIDUAL] != 0).then(|| (p[slot::RESIDUAL_ZP], f32::from_bits(p[slot::RESIDUAL_MULT] as u32)));
        GemmLayer { w, bias, mult, x_zp: p[slot::X_ZP], zp: p[slot::ZP], lo: p[slot::LO], hi: p[slot::HI], residual }
    }

    /// The layer's epilogue, adding `residual`.
    pub fn requant<'b>(&self, residual: Option<&'b [u8]>) -> Requant<'b>
    where
        'a: 'b,
    {
        let residual = match (residual, self.residual) {
            (Some(x), Some((zp, mult))) => Some(Residual { x, zp, mult }),
            _ => None,
        };
        Requant { x_zp: self.x_zp, bias: self.bias, mult: self.mult, zp: self.zp, lo: self.lo, hi: self.hi, residual }
    }
}

/// A depthwise layer.
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseLayer<'a> {
    pub w: &'a [i32],
    pub bias: &'a [i32],
    pub mult: &'a [f32],
    pub x_zp: i32,
    pub zp: i32,
    pub lo: i32,
    pub hi: i32,
}

impl<'a> DepthwiseLayer<'a> {
    /// The layer of `taps` taps on `c` channels whose record starts at byte `at`.
    pub fn at(blob: &'a [u8], at: usize, taps: usize, c: usize) -> DepthwiseLayer<'a> {
        let Arrays { w, bias, mult, p } = arrays(blob, at, Record::depthwise(taps, c), depthwise_len(taps, c), c);
        DepthwiseLayer { w, bias, mult, x_zp: p[slot::X_ZP], zp: p[slot::ZP], lo: p[slot::LO], hi: p[slot::HI] }
    }

    /// The layer's epilogue.
    pub fn requant(&self) -> Requant<'a> {
        Requant {
            x_zp: self.x_zp,
            bias: self.bias,
            mult: self.mult,
            zp: self.zp,
            lo: self.lo,
            hi: self.hi,
            residual: None,
        }
    }
}

/// A global average pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolLayer {
    pub x_zp: i32,
    /// The input scale over the output scale and the pixel count.
    pub mult: f32,
    pub zp: i32,
}

impl PoolLayer {
    /// The pool whose record starts at byte `at`.
    pub fn at(blob: &[u8], at: usize) -> PoolLayer {
        record(blob, at);
        let p = params(blob, at);
        PoolLayer { x_zp: p[slot::X_ZP], mult: f32::from_bits(p[slot::POOL_MULT] as u32), zp: p[slot::ZP] }
    }
}

/// The input quantization `x * a + b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputLayer {
    pub a: f32,
    pub b: f32,
}

impl InputLayer {
    /// The input quantization whose record starts at byte `at`.
    pub fn at(blob: &[u8], at: usize) -> InputLayer {
        record(blob, at);
        let p = params(blob, at);
        InputLayer { a: f32::from_bits(p[slot::INPUT_A] as u32), b: f32::from_bits(p[slot::INPUT_B] as u32) }
    }
}

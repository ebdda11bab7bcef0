//! Load-time preparation of int8 networks: a quantized-model file (made by
//! `mobilenetc quantize`) becomes the network's one weight blob, every
//! layer's record at the offset the compiler gave it ([`QStep`]'s `at`):
//! weights packed for a [`QLayout`], the input's zero point folded into
//! each GEMM's bias, requantization multipliers and clamp bounds computed
//! once (the definitions are in [`crate::q8`]).
//!
//! Generated `load` functions run [`prepare`] at run time; the compiler
//! runs it at build time, once per layout, for weights compiled in. Both
//! then read the blob with the same constant offsets, as float networks do
//! with [`crate::prepare`].

use crate::Act;
use crate::q8::{self, QParams};
use crate::q8file::{QFile, QFileError, Reader};
use crate::q8pack::{self, QLayout, Record, slot};

/// What one weighted or pooling step of an int8 network reads from the file,
/// and where its record starts in the blob (bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QStep<'a> {
    /// The input quantization, to the parameters of node `node`, after an
    /// optional rescale `(scale, offset)`.
    Input { node: &'a str, rescale: Option<(f32, f32)>, at: usize },
    /// A GEMM layer: a pointwise or regular conv (im2col'd when `im2col`:
    /// `k` is then `kh * kw * cin`, rows padded to [`q8pack::im2col_kpad`])
    /// or a dense layer, `[k][n]`. `y: None` is the classifier, which
    /// writes float logits.
    Gemm {
        layer: &'a str,
        /// The Keras kernel shape in the file.
        shape: &'a [usize],
        k: usize,
        n: usize,
        im2col: bool,
        x: &'a str,
        y: Option<&'a str>,
        act: Option<Act>,
        residual: Option<&'a str>,
        at: usize,
    },
    /// A depthwise conv of `c` channels and `taps` taps.
    Depthwise {
        layer: &'a str,
        shape: &'a [usize],
        taps: usize,
        c: usize,
        x: &'a str,
        y: &'a str,
        act: Option<Act>,
        at: usize,
    },
    /// A global average pool over `pixels` pixels.
    Pool { x: &'a str, y: &'a str, pixels: usize, at: usize },
}

impl QStep<'_> {
    /// Where the step's record starts.
    pub fn at(&self) -> usize {
        match *self {
            QStep::Input { at, .. } | QStep::Gemm { at, .. } | QStep::Depthwise { at, .. } | QStep::Pool { at, .. } => {
                at
            }
        }
    }

    /// The layout of the step's record.
    pub fn record(&self) -> Record {
        match *self {
            QStep::Gemm { k, n, im2col, .. } => Record::gemm(if im2col { q8pack::im2col_kpad(k) } else { k }, n),
            QStep::Depthwise { taps, c, .. } => Record::depthwise(taps, c),
            QStep::Input { .. } | QStep::Pool { .. } => Record::scalars(),
        }
    }
}

/// Fills `blob` (zeroed, and long enough for every step's record) with the records of
/// `steps`, packed for `layout`, from `file`, checking every tensor (`name`
/// names the file in errors).
pub fn prepare(
    name: &str,
    file: &QFile,
    steps: &[QStep<'_>],
    layout: QLayout,
    blob: &mut [u8],
) -> Result<(), QFileError> {
    let r = Reader { file: name, q: file };
    for step in steps {
        let rec = step.record();
        let out = &mut blob[step.at()..step.at() + rec.len];
        match *step {
            QStep::Input { node, rescale, .. } => {
                let (a, b) = q8::input_affine(rescale, r.act(node)?);
                put_f32(out, slot::INPUT_A, a);
                put_f32(out, slot::INPUT_B, b);
            }
            QStep::Gemm { layer, shape, k, n, im2col, x, y, act, residual, .. } => {
                let sx = r.act(x)?;
                let kernel = r.kernel(layer, shape)?;
                let wscale = r.weight_scales(layer, n)?;
                let qbias = r.bias(layer, n)?;
                let kpad = if im2col { q8pack::im2col_kpad(k) } else { k };
                let mut rows = kernel.to_vec();
                rows.resize(kpad * n, 0);
                let mut w = vec![0i8; q8pack::gemm_packed_len(layout, kpad, n)];
                q8pack::pack_gemm(layout, &rows, kpad, n, &mut w);
                put_all(&mut out[rec.w..], w.iter().map(|v| v.to_le_bytes()));
                let bias = (0..n).map(|c| {
                    let sum: i32 = (0..k).map(|j| i32::from(kernel[j * n + c])).sum();
                    qbias[c].wrapping_sub(sx.zero_point * sum)
                });
                put_all(&mut out[rec.bias..], bias.map(i32::to_le_bytes));
                put_i32(out, slot::X_ZP, sx.zero_point);
                let mult: Vec<f32> = match y {
                    // The classifier: float logits, `acc * s_in * s_w`.
                    None => {
                        put_i32(out, slot::HI, 255);
                        wscale.iter().map(|&s| q8::output_scale(sx.scale, s)).collect()
                    }
                    Some(y) => {
                        let sy = r.act(y)?;
                        let (lo, hi) = bounds(&r, y, act, sy)?;
                        put_i32(out, slot::ZP, sy.zero_point);
                        put_i32(out, slot::LO, lo);
                        put_i32(out, slot::HI, hi);
                        if let Some(node) = residual {
                            let sr = r.act(node)?;
                            put_i32(out, slot::HAS_RESIDUAL, 1);
                            put_i32(out, slot::RESIDUAL_ZP, sr.zero_point);
                            put_f32(out, slot::RESIDUAL_MULT, q8::residual_multiplier(sr.scale, sy.scale));
                        }
                        wscale.iter().map(|&s| q8::multiplier(sx.scale, s, sy.scale)).collect()
                    }
                };
                put_all(&mut out[rec.mult..], mult.iter().map(|v| v.to_le_bytes()));
            }
            QStep::Depthwise { layer, shape, taps, c, x, y, act, .. } => {
                let (sx, sy) = (r.act(x)?, r.act(y)?);
                let kernel = r.kernel(layer, shape)?;
                let wscale = r.weight_scales(layer, c)?;
                let bias = r.bias(layer, c)?;
                let mut w = vec![0i32; q8pack::depthwise_packed_len(layout, taps, c)];
                q8pack::pack_depthwise(layout, kernel, taps, c, &mut w);
                let (lo, hi) = bounds(&r, y, act, sy)?;
                put_all(&mut out[rec.w..], w.iter().map(|v| v.to_le_bytes()));
                put_all(&mut out[rec.bias..], bias.iter().map(|v| v.to_le_bytes()));
                let mult = wscale.iter().map(|&s| q8::multiplier(sx.scale, s, sy.scale).to_le_bytes());
                put_all(&mut out[rec.mult..], mult);
                for (s, v) in [(slot::X_ZP, sx.zero_point), (slot::ZP, sy.zero_point), (slot::LO, lo), (slot::HI, hi)] {
                    put_i32(out, s, v);
                }
            }
            QStep::Pool { x, y, pixels, .. } => {
                let (sx, sy) = (r.act(x)?, r.act(y)?);
                put_i32(out, slot::X_ZP, sx.zero_point);
                put_i32(out, slot::ZP, sy.zero_point);
                put_f32(out, slot::POOL_MULT, q8::pool_multiplier(sx.scale, pixels, sy.scale));
            }
        }
    }
    Ok(())
}

/// Writes `values`' bytes at the start of `out`.
fn put_all<const N: usize>(out: &mut [u8], values: impl IntoIterator<Item = [u8; N]>) {
    for (dst, v) in out.chunks_exact_mut(N).zip(values) {
        dst.copy_from_slice(&v);
    }
}

fn put_i32(record: &mut [u8], slot: usize, v: i32) {
    record[4 * slot..4 * slot + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_f32(record: &mut [u8], slot: usize, v: f32) {
    record[4 * slot..4 * slot + 4].copy_from_slice(&v.to_le_bytes());
}

fn bounds(r: &Reader<'_>, node: &str, act: Option<Act>, q: QParams) -> Result<(i32, i32), QFileError> {
    q8::clamp_bounds(act, q).ok_or_else(|| QFileError::Value {
        file: r.file.into(),
        tensor: format!("{node}/act"),
        problem: format!("belongs to a {act:?} activation, which int8 networks do not support"),
    })
}

//! Loading int8 networks: a quantized-model file (`mobilenetc quantize`)
//! becomes the prepared layers a generated int8 `forward` calls: weights
//! packed for the kernels' instruction set, the input's zero point folded
//! into each GEMM's bias, requantization multipliers and clamp bounds
//! computed once (`mobilenet_layout::q8` defines them).
//!
//! The generated code describes its steps with a table of [`QStep`]s (the
//! file's tensor and node names, the shapes), and keeps each kind of
//! prepared layer in a vector it indexes with constants.

use mobilenet_layout::Act;
use mobilenet_layout::q8::{self, QParams};
use mobilenet_layout::q8file::{QFile, QFileError, Reader};

use crate::kernels::q8::{self as k8, QIsa, QLayout};
pub use crate::q8layers::{DepthwiseLayer, GemmLayer, Layers, PoolLayer, QStep};

/// A prepared GEMM layer (see [`GemmLayer`]).
#[derive(Debug, Clone)]
pub struct Gemm {
    pub kpad: usize,
    pub w: Vec<i8>,
    pub bias: Vec<i32>,
    pub mult: Vec<f32>,
    pub x_zp: u8,
    pub zp: i32,
    pub lo: i32,
    pub hi: i32,
    pub residual: Option<(i32, f32)>,
}

impl Gemm {
    pub fn view(&self) -> GemmLayer<'_> {
        let Gemm { kpad, ref w, ref bias, ref mult, x_zp, zp, lo, hi, residual } = *self;
        GemmLayer { kpad, w, bias, mult, x_zp, zp, lo, hi, residual }
    }
}

/// A prepared depthwise layer (see [`DepthwiseLayer`]).
#[derive(Debug, Clone)]
pub struct Depthwise {
    pub w: Vec<i32>,
    pub bias: Vec<i32>,
    pub mult: Vec<f32>,
    pub x_zp: i32,
    pub zp: i32,
    pub lo: i32,
    pub hi: i32,
}

impl Depthwise {
    pub fn view(&self) -> DepthwiseLayer<'_> {
        let Depthwise { ref w, ref bias, ref mult, x_zp, zp, lo, hi } = *self;
        DepthwiseLayer { w, bias, mult, x_zp, zp, lo, hi }
    }
}

/// Every layer of an int8 network, packed for one weight layout, by kind
/// in step order. The build packs one per [`QLayout`] for embedded weights.
#[derive(Debug, Clone)]
pub struct Packed {
    pub layout: QLayout,
    /// `(a, b)` of the input quantization `x * a + b`.
    pub input: (f32, f32),
    pub gemm: Vec<Gemm>,
    pub dw: Vec<Depthwise>,
    pub pool: Vec<PoolLayer>,
}

/// Layers loaded for the kernels of one instruction set.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub isa: QIsa,
    pub packed: Packed,
}

impl Layers for Prepared {
    fn isa(&self) -> QIsa {
        self.isa
    }
    fn input(&self) -> (f32, f32) {
        self.packed.input
    }
    fn gemm(&self, i: usize) -> GemmLayer<'_> {
        self.packed.gemm[i].view()
    }
    fn depthwise(&self, i: usize) -> DepthwiseLayer<'_> {
        self.packed.dw[i].view()
    }
    fn pool(&self, i: usize) -> PoolLayer {
        self.packed.pool[i]
    }
}

impl Prepared {
    /// Reads the quantized-model file at `path` for the network `steps` describe.
    pub fn load(path: &std::path::Path, steps: &[QStep<'_>], isa: QIsa) -> Result<Prepared, QFileError> {
        let name = path.display().to_string();
        Prepared::of(&name, &QFile::read(path)?, steps, isa)
    }

    /// Like [`Prepared::load`], from the file's bytes; `name` names it in errors.
    pub fn from_bytes(name: &str, bytes: &[u8], steps: &[QStep<'_>], isa: QIsa) -> Result<Prepared, QFileError> {
        Prepared::of(name, &QFile::from_bytes(name, bytes)?, steps, isa)
    }

    /// Prepares the layers of `steps` from `file`, checking every tensor.
    pub fn of(name: &str, file: &QFile, steps: &[QStep<'_>], isa: QIsa) -> Result<Prepared, QFileError> {
        Ok(Prepared { isa, packed: Packed::of(name, file, steps, isa.layout())? })
    }
}

impl Packed {
    /// Packs the layers of `steps` from `file` for `layout`, checking every
    /// tensor (`name` names the file in errors).
    pub fn of(name: &str, file: &QFile, steps: &[QStep<'_>], layout: QLayout) -> Result<Packed, QFileError> {
        let isa = layout;
        let r = Reader { file: name, q: file };
        let mut p = Packed { layout, input: (1.0, 0.0), gemm: Vec::new(), dw: Vec::new(), pool: Vec::new() };
        for step in steps {
            match *step {
                QStep::Input { node, rescale } => p.input = q8::input_affine(rescale, r.act(node)?),
                QStep::Gemm { layer, shape, k, n, im2col, x, y, act, residual } => {
                    let sx = r.act(x)?;
                    let kernel = r.kernel(layer, shape)?;
                    let wscale = r.weight_scales(layer, n)?;
                    let qbias = r.bias(layer, n)?;
                    let kpad = if im2col { k8::im2col_kpad(isa, k) } else { k };
                    let mut rows = kernel.to_vec();
                    rows.resize(kpad * n, 0);
                    let mut w = vec![0i8; k8::gemm_packed_len(isa, kpad, n)];
                    k8::pack_gemm(isa, &rows, kpad, n, &mut w);
                    let bias = (0..n)
                        .map(|c| {
                            let sum: i32 = (0..k).map(|j| i32::from(kernel[j * n + c])).sum();
                            qbias[c].wrapping_sub(sx.zero_point * sum)
                        })
                        .collect();
                    let (mult, zp, lo, hi, res) = match y {
                        None => {
                            let scales = wscale.iter().map(|&s| q8::output_scale(sx.scale, s)).collect();
                            (scales, 0, 0, 255, None)
                        }
                        Some(y) => {
                            let sy = r.act(y)?;
                            let (lo, hi) = bounds(&r, y, act, sy)?;
                            let mult = wscale.iter().map(|&s| q8::multiplier(sx.scale, s, sy.scale)).collect();
                            let res = match residual {
                                Some(node) => {
                                    let sr = r.act(node)?;
                                    Some((sr.zero_point, q8::residual_multiplier(sr.scale, sy.scale)))
                                }
                                None => None,
                            };
                            (mult, sy.zero_point, lo, hi, res)
                        }
                    };
                    let x_zp = sx.zero_point as u8;
                    p.gemm.push(Gemm { kpad, w, bias, mult, x_zp, zp, lo, hi, residual: res });
                }
                QStep::Depthwise { layer, shape, taps, c, x, y, act } => {
                    let (sx, sy) = (r.act(x)?, r.act(y)?);
                    let kernel = r.kernel(layer, shape)?;
                    let wscale = r.weight_scales(layer, c)?;
                    let bias = r.bias(layer, c)?.to_vec();
                    let mut w = vec![0i32; k8::depthwise_packed_len(isa, taps, c)];
                    k8::pack_depthwise(isa, kernel, taps, c, &mut w);
                    let (lo, hi) = bounds(&r, y, act, sy)?;
                    let mult = wscale.iter().map(|&s| q8::multiplier(sx.scale, s, sy.scale)).collect();
                    p.dw.push(Depthwise { w, bias, mult, x_zp: sx.zero_point, zp: sy.zero_point, lo, hi });
                }
                QStep::Pool { x, y, pixels } => {
                    let (sx, sy) = (r.act(x)?, r.act(y)?);
                    let mult = q8::pool_multiplier(sx.scale, pixels, sy.scale);
                    p.pool.push(PoolLayer { x_zp: sx.zero_point, mult, zp: sy.zero_point });
                }
            }
        }
        Ok(p)
    }
}

fn bounds(r: &Reader<'_>, node: &str, act: Option<Act>, q: QParams) -> Result<(i32, i32), QFileError> {
    q8::clamp_bounds(act, q).ok_or_else(|| QFileError::Value {
        file: r.file.into(),
        tensor: format!("{node}/act"),
        problem: format!("belongs to a {act:?} activation, which int8 networks do not support"),
    })
}

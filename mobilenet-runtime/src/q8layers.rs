//! The prepared layers a generated int8 `forward` reads, as borrowed views,
//! so that the same steps run on layers loaded from a file
//! ([`crate::q8model::Prepared`], with `std`) and on layers compiled into
//! the binary ([`Embedded`]: `static` tables over an embedded blob, `core`
//! only, no load step).

use mobilenet_layout::Act;

use crate::kernels::q8::{QIsa, QLayout, Requant, Residual};

/// What one weighted or pooling step of an int8 network reads from the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QStep<'a> {
    /// The input quantization, to the parameters of node `node`, after an
    /// optional rescale `(scale, offset)`.
    Input { node: &'a str, rescale: Option<(f32, f32)> },
    /// A GEMM layer: a pointwise or regular conv (im2col'd when `k` is
    /// `kh * kw * cin` of a larger kernel) or a dense layer, `[k][n]`.
    /// `y: None` is the classifier, which writes float logits.
    Gemm {
        layer: &'a str,
        /// The Keras kernel shape in the file.
        shape: &'a [usize],
        k: usize,
        n: usize,
        /// A regular conv whose input is im2col'd (rows padded to `im2col_kpad`).
        im2col: bool,
        x: &'a str,
        y: Option<&'a str>,
        act: Option<Act>,
        residual: Option<&'a str>,
    },
    /// A depthwise conv of `c` channels and `taps` taps.
    Depthwise { layer: &'a str, shape: &'a [usize], taps: usize, c: usize, x: &'a str, y: &'a str, act: Option<Act> },
    /// A global average pool over `pixels` pixels.
    Pool { x: &'a str, y: &'a str, pixels: usize },
}

/// A prepared GEMM layer (pointwise, im2col'd or dense).
#[derive(Debug, Clone, Copy)]
pub struct GemmLayer<'a> {
    /// Rows of the packed weights (`k` padded for im2col'd convs).
    pub kpad: usize,
    pub w: &'a [i8],
    /// Bias with `-x_zp * sum_j w[j][c]` folded in.
    pub bias: &'a [i32],
    /// Requantization multipliers, or the logits' scales for the classifier.
    pub mult: &'a [f32],
    pub x_zp: u8,
    pub zp: i32,
    pub lo: i32,
    pub hi: i32,
    /// Zero point and multiplier of the residual input.
    pub residual: Option<(i32, f32)>,
}

impl<'a> GemmLayer<'a> {
    /// The requantization of this layer's outputs, adding `residual`.
    pub fn requant<'b>(&self, residual: Option<&'b [u8]>) -> Requant<'b>
    where
        'a: 'b,
    {
        let residual = match (residual, self.residual) {
            (Some(x), Some((zp, mult))) => Some(Residual { x, zp, mult }),
            _ => None,
        };
        Requant { mult: self.mult, zp: self.zp, lo: self.lo, hi: self.hi, residual }
    }
}

/// A prepared depthwise layer.
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
    pub fn requant(&self) -> Requant<'a> {
        Requant { mult: self.mult, zp: self.zp, lo: self.lo, hi: self.hi, residual: None }
    }
}

/// A prepared global average pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolLayer {
    pub x_zp: i32,
    pub mult: f32,
    pub zp: i32,
}

/// Every prepared layer of an int8 network, by kind in step order (the
/// generated code indexes each kind with constants).
pub trait Layers {
    /// The instruction set of the kernels the weights are packed for.
    fn isa(&self) -> QIsa;
    /// `(a, b)` of the input quantization `x * a + b`.
    fn input(&self) -> (f32, f32);
    fn gemm(&self, i: usize) -> GemmLayer<'_>;
    fn depthwise(&self, i: usize) -> DepthwiseLayer<'_>;
    fn pool(&self, i: usize) -> PoolLayer;
}

impl<T: Layers + ?Sized> Layers for &T {
    fn isa(&self) -> QIsa {
        (**self).isa()
    }
    fn input(&self) -> (f32, f32) {
        (**self).input()
    }
    fn gemm(&self, i: usize) -> GemmLayer<'_> {
        (**self).gemm(i)
    }
    fn depthwise(&self, i: usize) -> DepthwiseLayer<'_> {
        (**self).depthwise(i)
    }
    fn pool(&self, i: usize) -> PoolLayer {
        (**self).pool(i)
    }
}

/// One weight layout's layers as `static` tables: what `mobilenet!(..,
/// precision = int8, weights = "..")` generates, once per [`QLayout`].
#[derive(Debug)]
pub struct Tables {
    pub layout: QLayout,
    pub input: (f32, f32),
    pub gemm: &'static [GemmLayer<'static>],
    pub depthwise: &'static [DepthwiseLayer<'static>],
    pub pool: &'static [PoolLayer],
}

/// Compiled-in tables with the instruction set that reads them.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    isa: QIsa,
    tables: &'static Tables,
}

impl Embedded {
    /// The tables of `isa`'s layout among `all`.
    ///
    /// # Panics
    /// If `all` has none for it (the generated code lists every layout its
    /// target can run).
    pub fn new(isa: QIsa, all: &[&'static Tables]) -> Embedded {
        match all.iter().find(|t| t.layout == isa.layout()) {
            Some(&tables) => Embedded { isa, tables },
            None => panic!("no int8 weights packed for {isa}"),
        }
    }
}

impl Layers for Embedded {
    fn isa(&self) -> QIsa {
        self.isa
    }
    fn input(&self) -> (f32, f32) {
        self.tables.input
    }
    fn gemm(&self, i: usize) -> GemmLayer<'_> {
        self.tables.gemm[i]
    }
    fn depthwise(&self, i: usize) -> DepthwiseLayer<'_> {
        self.tables.depthwise[i]
    }
    fn pool(&self, i: usize) -> PoolLayer {
        self.tables.pool[i]
    }
}

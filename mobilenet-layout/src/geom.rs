//! Geometry of convolutions and fused blocks, and the limits of the
//! kernels that run them. The compiler plans with these (a fused block's
//! scratch, which convs it may fuse); the kernels run with them.

/// Tallest (and widest) depthwise kernel the row kernels and fused blocks
/// take: they hold one pointer per kernel row on the stack.
pub const MAX_KERNEL: usize = 16;

/// Most inputs of one regular conv window (`kh * kw * cin`): the runtime
/// reads a window through an offset table, or copies border windows into an
/// im2col buffer, both on the stack and this long.
pub const MAX_WINDOW: usize = 8192;

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
}

/// Floats of scratch a block aims to keep (its working set in L2).
const SCRATCH_BUDGET: usize = 16 * 1024;

/// Shape of a fused block. `e` is the depthwise conv's channel count (the
/// expanded width, or `cin` without expansion); the depthwise kernel is
/// `k x k` with stride `s` over an `h x w` map (the expanded map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockGeom {
    /// Height and width of the depthwise conv's input: the expanded map,
    /// or the block's input without expansion.
    pub h: usize,
    pub w: usize,
    /// Channels of the block's input.
    pub cin: usize,
    pub e: usize,
    pub oh: usize,
    pub ow: usize,
    pub cout: usize,
    pub k: usize,
    pub s: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub expand: Expansion,
    pub project: bool,
}

/// How a block makes the depthwise conv's input from its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// The depthwise conv reads the block's input (`e == cin`).
    None,
    /// A 1x1 conv, stride 1: an expanded row is a GEMM over an input row.
    Pointwise,
    /// A regular `k x k` conv (a network's stem): an expanded row is a row
    /// of that conv over the block's input, so the stem's output (1.6 MB in
    /// MobileNetV1 and V2 at 224) never leaves the cache either.
    Conv(ExpandConv),
}

/// A block's `k x k` expansion conv with stride `s`, over the block's
/// `h x w x cin` input; its output is the block's `h x w x e` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpandConv {
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl BlockGeom {
    /// Whether it has an expansion conv.
    pub const fn expands(&self) -> bool {
        !matches!(self.expand, Expansion::None)
    }

    /// Floats of the block's input: `h x w x cin`, or the expansion conv's
    /// input.
    pub const fn input_len(&self) -> usize {
        match self.expand {
            Expansion::Conv(c) => c.h * c.w * self.cin,
            _ => self.h * self.w * self.cin,
        }
    }

    /// The geometry of a `k x k` expansion conv.
    pub const fn expand_conv(&self) -> Option<ConvGeom> {
        match self.expand {
            Expansion::Conv(c) => Some(ConvGeom::new(
                [c.h, c.w, self.cin],
                [self.h, self.w, self.e],
                [c.k, c.k],
                [c.s, c.s],
                [c.pad_top, c.pad_left],
            )),
            _ => None,
        }
    }

    /// Output rows per band.
    pub const fn band(&self) -> usize {
        // ring + band buffer for `r` rows: ((r - 1) s + k) w e + r ow e floats.
        let ring_row = if self.expands() { self.w * self.e } else { 0 };
        let band_row = if self.project { self.ow * self.e } else { 0 };
        let per_row = self.s * ring_row + band_row;
        let fixed = if self.k > self.s { (self.k - self.s) * ring_row } else { 0 };
        let r = if per_row == 0 || SCRATCH_BUDGET <= fixed { 1 } else { (SCRATCH_BUDGET - fixed) / per_row };
        if r < 1 {
            1
        } else if r > self.oh {
            self.oh
        } else {
            r
        }
    }

    /// Expanded rows the ring holds.
    pub const fn ring(&self) -> usize {
        (self.band() - 1) * self.s + self.k
    }

    /// Floats of scratch [`block`] needs.
    pub const fn scratch_len(&self) -> usize {
        let ring = if self.expands() { self.ring() * self.w * self.e } else { 0 };
        let band = if self.project { self.band() * self.ow * self.e } else { 0 };
        ring + band
    }

    /// The geometry of its depthwise convolution.
    pub const fn depthwise(&self) -> ConvGeom {
        ConvGeom::new(
            [self.h, self.w, self.e],
            [self.oh, self.ow, self.e],
            [self.k, self.k],
            [self.s, self.s],
            [self.pad_top, self.pad_left],
        )
    }
}

/// Geometry of a 1x1 convolution over `pixels` pixels (a dense layer is one
/// pixel): a `[pixels, cin] x [cin, cout]` product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointwiseGeom {
    pub pixels: usize,
    pub cin: usize,
    pub cout: usize,
}

impl PointwiseGeom {
    pub const fn new(pixels: usize, cin: usize, cout: usize) -> PointwiseGeom {
        PointwiseGeom { pixels, cin, cout }
    }
}

//! Geometry of convolutions and fused blocks, and the limits of the
//! kernels that run them. The compiler plans with these (a fused block's
//! scratch, which convs it may fuse); the kernels run with them.

/// Tallest (and widest) depthwise kernel the row kernels and fused blocks
/// take: they hold one pointer per kernel row on the stack.
pub const MAX_KERNEL: usize = 16;

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
/// `k x k` with stride `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockGeom {
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub e: usize,
    pub oh: usize,
    pub ow: usize,
    pub cout: usize,
    pub k: usize,
    pub s: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub expand: bool,
    pub project: bool,
}

impl BlockGeom {
    /// Output rows per band.
    pub const fn band(&self) -> usize {
        // ring + band buffer for `r` rows: ((r - 1) s + k) w e + r ow e floats.
        let ring_row = if self.expand { self.w * self.e } else { 0 };
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
        let ring = if self.expand { self.ring() * self.w * self.e } else { 0 };
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

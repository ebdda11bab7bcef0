//! Weight layouts the kernels read, made once at load time.
//!
//! The lengths are the same for every instruction set (they pad to the
//! widest panel and vector), so generated code can size its weight buffer at
//! compile time while the packing itself follows the instruction set chosen
//! at load.

/// A weight layout: the vector width the kernels of an instruction set
/// read packed weights with. Weights packed once per layout serve every
/// instruction set of that layout, so an embedded network carries one copy
/// per layout it may meet, not per instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packing {
    /// 4-float vectors, 8-float GEMM panels: the portable kernels off
    /// x86-64, WebAssembly SIMD128 and NEON.
    Quad,
    /// 8-float vectors, 16-float GEMM panels: the portable kernels on
    /// x86-64, and AVX2.
    Narrow,
    /// 16-float vectors, 32-float GEMM panels: the AVX-512 kernels.
    Wide,
}

/// The target architectures whose kernels read a weight layout: where
/// generated code compiles that layout's weights in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    All,
    /// These architectures (`target_arch` values) only.
    Only(&'static [&'static str]),
    /// Every architecture but these.
    AllBut(&'static [&'static str]),
}

impl Targets {
    /// Whether the kernels of `arch` (a `target_arch` value) read it.
    pub fn includes(self, arch: &str) -> bool {
        match self {
            Targets::All => true,
            Targets::Only(a) => a.contains(&arch),
            Targets::AllBut(a) => !a.contains(&arch),
        }
    }
}

impl Packing {
    /// Every layout.
    pub const ALL: [Packing; 3] = [Packing::Quad, Packing::Narrow, Packing::Wide];

    /// Floats per vector.
    pub const fn lanes(self) -> usize {
        match self {
            Packing::Quad => 4,
            Packing::Narrow => 8,
            Packing::Wide => 16,
        }
    }

    /// Output channels per packed GEMM weight panel (two vectors).
    pub const fn panel(self) -> usize {
        2 * self.lanes()
    }

    pub const fn name(self) -> &'static str {
        match self {
            Packing::Quad => "quad",
            Packing::Narrow => "narrow",
            Packing::Wide => "wide",
        }
    }

    /// The architectures whose kernels read this layout: x86-64's read 8
    /// and 16 floats per vector, every other's 4 (their portable kernels
    /// included, so that they need this one layout).
    pub const fn targets(self) -> Targets {
        match self {
            Packing::Quad => Targets::AllBut(&["x86_64"]),
            Packing::Narrow | Packing::Wide => Targets::Only(&["x86_64"]),
        }
    }
}

/// Widest GEMM weight panel of any layout (AVX-512: 2 x 16 floats).
pub const PANEL_MAX: usize = Packing::Wide.panel();
/// Widest vector of any layout, in floats.
pub const LANES_MAX: usize = Packing::Wide.lanes();

const fn round_up(v: usize, to: usize) -> usize {
    v.div_ceil(to) * to
}

/// Floats of a packed GEMM weight matrix `[k][n]` (pointwise, regular conv
/// with `k = kh * kw * cin`, dense).
pub const fn gemm_len(k: usize, n: usize) -> usize {
    k * round_up(n, PANEL_MAX)
}

/// Floats of a GEMM bias for `n` outputs.
pub const fn gemm_bias_len(n: usize) -> usize {
    round_up(n, PANEL_MAX)
}

/// Floats of packed depthwise weights `[taps][c]`, and of its bias.
pub const fn depthwise_len(taps: usize, c: usize) -> usize {
    taps * round_up(c, LANES_MAX)
}

pub const fn depthwise_bias_len(c: usize) -> usize {
    round_up(c, LANES_MAX)
}

/// Index of tap `t`, channel `ch` in depthwise weights packed for vectors of
/// `lanes` floats.
#[inline(always)]
pub const fn depthwise_index(taps: usize, lanes: usize, t: usize, ch: usize) -> usize {
    (ch / lanes) * taps * lanes + t * lanes + ch % lanes
}

/// Packs `src` (`[k][n]`, row-major: Keras' Conv2D/Dense layout) into panels
/// of the layout's width (a [`Packing`], or an instruction set that has one):
/// `[ceil(n / panel)][k][panel]`, zero-padded.
pub fn gemm(packing: impl Into<Packing>, src: &[f32], k: usize, n: usize, dst: &mut [f32]) {
    let nr = packing.into().panel();
    assert!(src.len() == k * n && dst.len() >= gemm_len(k, n));
    dst.fill(0.0);
    for p in 0..n.div_ceil(nr) {
        let cols = nr.min(n - p * nr);
        for kk in 0..k {
            let out = (p * k + kk) * nr;
            dst[out..out + cols].copy_from_slice(&src[kk * n + p * nr..][..cols]);
        }
    }
}

/// Packs depthwise weights `[taps][c]` (Keras' `[kh, kw, c, multiplier]`
/// with `c` the output channels) by vectors of channels:
/// `[ceil(c / lanes)][taps][lanes]`, zero-padded, so a channel block's taps
/// are contiguous.
pub fn depthwise(packing: impl Into<Packing>, src: &[f32], taps: usize, c: usize, dst: &mut [f32]) {
    let lanes = packing.into().lanes();
    assert!(src.len() == taps * c && dst.len() >= depthwise_len(taps, c));
    dst.fill(0.0);
    for t in 0..taps {
        for ch in 0..c {
            dst[depthwise_index(taps, lanes, t, ch)] = src[t * c + ch];
        }
    }
}

/// Copies a bias, zero-padding the rest of `dst`.
pub fn bias(src: &[f32], dst: &mut [f32]) {
    dst.fill(0.0);
    dst[..src.len()].copy_from_slice(src);
}

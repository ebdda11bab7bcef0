//! How int8 weights are laid out for the int8 kernels, and where each
//! layer's values sit in an int8 network's one weight blob.
//!
//! The compiler and the runtime both need this: the compiler sizes the blob,
//! places every layer at a constant offset and packs compiled-in weights;
//! the runtime packs a loaded file and its kernels read the layouts. Like
//! the float [`crate::pack`], every length here is the same for every
//! layout (the most any layout needs), so the offsets in generated code do
//! not depend on the instruction set chosen at run time.
//!
//! GEMM weights (`[k][n]`, `k` inputs, `n` outputs):
//!
//! * [`QLayout::Pairs8`]: panels of 8 output channels, `[n / 8][k / 2][8][2]`:
//!   a pair of inputs and 8 channels' weights for them are 16 bytes, which
//!   the kernels widen to i16 for a multiply of pairs (`vpmaddwd`,
//!   `i32x4.dot_i16x8_s`, `SMLAD`) or read as plain loops (portable);
//! * [`QLayout::Quads16`]: panels of 16 channels, `[n / 16][k / 4][16][4]`:
//!   four inputs (one broadcast dword) and a 64-byte vector of weights make
//!   one `vpdpbusd` (or four `SDOT`s).
//!
//! `k` and `n` are padded with zero weights to whole groups and panels.
//!
//! Depthwise weights (`[taps][c]`) are `i32`, in blocks of `L` = 8 / 16
//! channels, `[c / L][taps + 1][L]`, each weight in the low 16 bits of its
//! lane (high bits zero), row `taps` holding each channel's sum of weights
//! (the vector kernels fold the input's zero point into the bias with it);
//! then, for 3x3 kernels, a second copy in the order the x86 3x3 kernels
//! read ([`depthwise_packed_len`]).

/// A weight layout of the int8 kernels. Unlike an instruction set, any
/// layout can be named on any machine: a build packs compiled-in weights
/// for every instruction set its binary may meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QLayout {
    /// Panels of 8 channels by pairs of inputs, depthwise blocks of 8: the
    /// portable kernels, AVX2, WebAssembly SIMD128, NEON without the dot
    /// product, Cortex-M DSP.
    Pairs8,
    /// Panels of 16 channels by quads of inputs, depthwise blocks of 16:
    /// AVX-512 VNNI and NEON's dot product.
    Quads16,
}

impl QLayout {
    /// Every layout.
    pub const ALL: [QLayout; 2] = [QLayout::Pairs8, QLayout::Quads16];

    pub const fn name(self) -> &'static str {
        match self {
            QLayout::Pairs8 => "pairs8",
            QLayout::Quads16 => "quads16",
        }
    }

    /// The architectures whose kernels read this layout.
    pub const fn targets(self) -> crate::pack::Targets {
        match self {
            QLayout::Pairs8 => crate::pack::Targets::All,
            QLayout::Quads16 => crate::pack::Targets::Only(&["x86_64", "aarch64"]),
        }
    }

    /// Output channels per GEMM panel and inputs per group.
    pub const fn gemm_shape(self) -> (usize, usize) {
        match self {
            QLayout::Pairs8 => (8, 2),
            QLayout::Quads16 => (16, 4),
        }
    }

    /// Channels per block of packed depthwise weights.
    pub const fn depthwise_lanes(self) -> usize {
        match self {
            QLayout::Pairs8 => 8,
            QLayout::Quads16 => 16,
        }
    }
}

/// Most inputs per group of any layout: an im2col'd conv pads its rows to
/// a multiple of it ([`im2col_kpad`]).
const GROUP_MAX: usize = 4;

/// Bytes of the on-stack band of im2col rows an int8 regular conv
/// multiplies at a time; a window longer than this goes through im2col rows
/// in the arena instead (which the compiler then plans).
pub const IM2COL_BAND: usize = 4096;

/// The `k` an im2col'd convolution pads its rows to, for every layout (the
/// padding's weights are zero, its inputs the zero point): a whole number of
/// input groups, so that no kernel reads a partial group.
pub const fn im2col_kpad(k: usize) -> usize {
    k.next_multiple_of(GROUP_MAX)
}

/// Bytes of im2col rows in the arena a regular conv of `k = kh * kw * cin`
/// inputs and `pixels` outputs needs: none when its padded window fits
/// [`IM2COL_BAND`] (the rows are made on the stack), else every row.
pub const fn im2col_arena_len(k: usize, pixels: usize) -> usize {
    let kpad = im2col_kpad(k);
    if kpad <= IM2COL_BAND { 0 } else { kpad * pixels }
}

/// Bytes of GEMM weights for `k` inputs and `n` outputs packed for `layout`.
pub const fn gemm_packed_len(layout: QLayout, k: usize, n: usize) -> usize {
    let (panel, group) = layout.gemm_shape();
    k.next_multiple_of(group) * n.next_multiple_of(panel)
}

/// Bytes of GEMM weights for `k` inputs and `n` outputs in any layout.
pub const fn gemm_len(k: usize, n: usize) -> usize {
    let mut most = 0;
    let mut i = 0;
    while i < QLayout::ALL.len() {
        let len = gemm_packed_len(QLayout::ALL[i], k, n);
        if len > most {
            most = len;
        }
        i += 1;
    }
    most
}

/// Packs row-major `[k][n]` weights `w` for `layout` into
/// `out[..gemm_packed_len(layout, k, n)]`.
///
/// # Panics
/// If a slice is too short.
pub fn pack_gemm(layout: QLayout, w: &[i8], k: usize, n: usize, out: &mut [i8]) {
    let len = gemm_packed_len(layout, k, n);
    assert!(w.len() >= k * n && out.len() >= len, "slices too short");
    let (panel, group) = layout.gemm_shape();
    let kp = k.next_multiple_of(group);
    let out = &mut out[..len];
    out.fill(0);
    for j in 0..k {
        for c in 0..n {
            let (p, cc) = (c / panel, c % panel);
            let (g, e) = (j / group, j % group);
            out[((p * kp / group + g) * panel + cc) * group + e] = w[j * n + c];
        }
    }
}

/// `i32`s of depthwise weights for `taps` taps of `c` channels packed for `layout`.
pub const fn depthwise_packed_len(layout: QLayout, taps: usize, c: usize) -> usize {
    c.next_multiple_of(layout.depthwise_lanes()) * (taps + 1) + tap_packed_len(layout, taps, c)
}

/// Where depthwise weight `(t, ch)` and channel `ch`'s sum of weights sit
/// in weights packed for `layout` (`taps` taps).
pub const fn depthwise_index(layout: QLayout, taps: usize, t: usize, ch: usize) -> usize {
    let l = layout.depthwise_lanes();
    (ch / l * (taps + 1) + t) * l + ch % l
}

/// `i32`s of depthwise weights for `taps` taps of `c` channels in any layout.
pub const fn depthwise_len(taps: usize, c: usize) -> usize {
    let mut most = 0;
    let mut i = 0;
    while i < QLayout::ALL.len() {
        let len = depthwise_packed_len(QLayout::ALL[i], taps, c);
        if len > most {
            most = len;
        }
        i += 1;
    }
    most
}

/// `i32`s of the second copy of 3x3 weights that the 3x3 kernels read (0
/// for other tap counts or the portable kernel):
///
/// * AVX-512 VNNI, per block of 64 channels (the last padded with zeros):
///   `[kx = 3][j = 4][16]` dwords, dword `d = 4 * l + i` of vector `j`
///   holding channel `16 * l + 4 * j + i`'s weights of rows `ky = 0, 1, 2`
///   in its bytes 0, 1, 2 (byte 3 zero), the order in which the kernel
///   interleaves 3 input rows (`vpunpck{l,h}bw`, then `vpunpck{l,h}wd`) to
///   feed `vpdpbusd`;
/// * AVX2, per whole block of 8 channels: `[kx = 3][2][8]` dwords, the
///   first vector holding rows 0 and 1 as an i16 pair (`w0 | w1 << 16`),
///   the second row 2 (high half zero), for `vpmaddwd` with an input
///   column whose rows 0 and 1 are interleaved the same way.
pub const fn tap_packed_len(layout: QLayout, taps: usize, c: usize) -> usize {
    match (layout, taps) {
        (QLayout::Quads16, 9) => c.div_ceil(64) * 192,
        (QLayout::Pairs8, 9) => c / 8 * 48,
        _ => 0,
    }
}

/// Packs `[taps][c]` depthwise weights `w` (tap `t = ky * kw + kx`) for
/// `layout` into `out[..depthwise_packed_len(layout, taps, c)]`.
///
/// # Panics
/// If a slice is too short.
pub fn pack_depthwise(layout: QLayout, w: &[i8], taps: usize, c: usize, out: &mut [i32]) {
    let len = depthwise_packed_len(layout, taps, c);
    assert!(w.len() >= taps * c && out.len() >= len, "slices too short");
    let out = &mut out[..len];
    let l = layout.depthwise_lanes();
    out.fill(0);
    for t in 0..taps {
        for ch in 0..c {
            let v = w[t * c + ch];
            out[depthwise_index(layout, taps, t, ch)] = v as i16 as u16 as i32;
            out[depthwise_index(layout, taps, taps, ch)] += v as i32;
        }
    }
    let base = c.next_multiple_of(l) * (taps + 1);
    let tap = |ky: usize, kx: usize, ch: usize| w[(ky * 3 + kx) * c + ch];
    let copy = &mut out[base..];
    match layout {
        QLayout::Pairs8 => {
            for blk in 0..tap_packed_len(layout, taps, c) / 48 {
                for kx in 0..3 {
                    for lane in 0..8 {
                        let ch = blk * 8 + lane;
                        let at = blk * 48 + kx * 16 + lane;
                        copy[at] = (tap(0, kx, ch) as u16 as u32 | (tap(1, kx, ch) as u16 as u32) << 16) as i32;
                        copy[at + 8] = tap(2, kx, ch) as u16 as i32;
                    }
                }
            }
        }
        QLayout::Quads16 => {
            for blk in 0..tap_packed_len(layout, taps, c) / 192 {
                for kx in 0..3 {
                    for j in 0..4 {
                        for d in 0..16 {
                            let ch = blk * 64 + 16 * (d / 4) + 4 * j + d % 4;
                            let b = |ky: usize| if ch < c { tap(ky, kx, ch) as u8 as u32 } else { 0 };
                            copy[blk * 192 + (kx * 4 + j) * 16 + d] = (b(0) | b(1) << 8 | b(2) << 16) as i32;
                        }
                    }
                }
            }
        }
    }
}

/// Bytes every array of an int8 weight blob, and every layer record in it,
/// is aligned to.
pub const BLOB_ALIGN: usize = 64;

/// Bytes of a record's scalars (zero points, clamp bounds, scales), at the
/// record's start: [`PARAM_SLOTS`] 32-bit values.
const PARAMS_BYTES: usize = BLOB_ALIGN;

/// 32-bit slots of a record's scalars.
pub const PARAM_SLOTS: usize = PARAMS_BYTES / 4;

const fn align(v: usize) -> usize {
    v.next_multiple_of(BLOB_ALIGN)
}

/// The slots of a record's scalars, by what they hold. Integers are stored
/// as `i32`, floats by their bits.
pub mod slot {
    /// The input's zero point (GEMM, depthwise, pool).
    pub const X_ZP: usize = 0;
    /// The output's zero point.
    pub const ZP: usize = 1;
    /// The outputs' clamp bounds.
    pub const LO: usize = 2;
    pub const HI: usize = 3;
    /// 1 if the layer adds a residual (GEMM).
    pub const HAS_RESIDUAL: usize = 4;
    /// The residual's zero point and multiplier (GEMM).
    pub const RESIDUAL_ZP: usize = 5;
    pub const RESIDUAL_MULT: usize = 6;
    /// A pool's multiplier.
    pub const POOL_MULT: usize = 7;
    /// `(a, b)` of the input quantization `x * a + b` (the input record).
    pub const INPUT_A: usize = 8;
    pub const INPUT_B: usize = 9;
}

/// Where a layer's arrays sit in its record of the blob, in bytes from the
/// record's start (each [`BLOB_ALIGN`]ed; the scalars come first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Packed weights: `i8` for a GEMM, `i32` for a depthwise conv.
    pub w: usize,
    /// `i32` per output channel, the input's zero point folded in for a GEMM.
    pub bias: usize,
    /// `f32` per output channel: requantization multipliers (or, for the
    /// classifier, the scales of the float logits).
    pub mult: usize,
    /// Bytes of the record.
    pub len: usize,
}

impl Record {
    /// A record of `w_bytes` bytes of weights and `n` output channels.
    const fn new(w_bytes: usize, n: usize) -> Record {
        let w = PARAMS_BYTES;
        let bias = align(w + w_bytes);
        let mult = align(bias + 4 * n);
        Record { w, bias, mult, len: align(mult + 4 * n) }
    }

    /// A GEMM layer of `kpad` (padded) inputs and `n` outputs.
    pub const fn gemm(kpad: usize, n: usize) -> Record {
        Record::new(gemm_len(kpad, n), n)
    }

    /// A depthwise layer of `taps` taps on `c` channels.
    pub const fn depthwise(taps: usize, c: usize) -> Record {
        Record::new(4 * depthwise_len(taps, c), c)
    }

    /// A record of scalars only: the input quantization or a pool.
    pub const fn scalars() -> Record {
        Record { w: PARAMS_BYTES, bias: PARAMS_BYTES, mult: PARAMS_BYTES, len: PARAMS_BYTES }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_fits_the_common_lengths() {
        for k in [1, 3, 27, 28, 96, 1280] {
            for n in [1, 7, 8, 10, 16, 24, 1000] {
                for l in QLayout::ALL {
                    assert!(gemm_packed_len(l, k, n) <= gemm_len(k, n));
                    assert!(depthwise_packed_len(l, 9, n) <= depthwise_len(9, n));
                    assert!(depthwise_packed_len(l, 25, n) <= depthwise_len(25, n));
                }
            }
        }
        assert_eq!(gemm_len(27, 10), 28 * 16);
        assert_eq!(im2col_kpad(27), 28);
    }

    #[test]
    fn records_hold_their_arrays_aligned_and_apart() {
        for (r, w, n) in [(Record::gemm(28, 10), 28 * 16, 10), (Record::depthwise(9, 24), 4 * depthwise_len(9, 24), 24)]
        {
            assert!(r.w >= PARAMS_BYTES && r.bias >= r.w + w && r.mult >= r.bias + 4 * n && r.len >= r.mult + 4 * n);
            for at in [r.w, r.bias, r.mult, r.len] {
                assert_eq!(at % BLOB_ALIGN, 0);
            }
        }
    }

    #[test]
    fn packed_gemm_weights_sit_where_the_layouts_say() {
        let (k, n): (usize, usize) = (5, 19);
        let w: Vec<i8> = (0..k * n).map(|i| (i % 251) as i8).collect();
        for l in QLayout::ALL {
            let (panel, group) = l.gemm_shape();
            let kp = k.next_multiple_of(group);
            let mut out = vec![0i8; gemm_packed_len(l, k, n)];
            pack_gemm(l, &w, k, n, &mut out);
            for j in 0..kp {
                for c in 0..n.next_multiple_of(panel) {
                    let at = ((c / panel * kp / group + j / group) * panel + c % panel) * group + j % group;
                    let want = if j < k && c < n { w[j * n + c] } else { 0 };
                    assert_eq!(out[at], want, "{l:?} j {j} c {c}");
                }
            }
        }
    }
}

//! The one definition of int8 requantization, and the epilogue every int8
//! kernel takes.

/// What an int8 kernel does besides its sums: the input's zero point, the
/// bias, and how each i32 sum becomes a u8 output ([`requant_scalar`] with
/// these values). The int8 counterpart of the f32 kernels' `Epilogue`.
#[derive(Debug, Clone, Copy)]
pub struct Requant<'a> {
    /// The input's zero point (`0..=255`): what a padded pixel reads. A
    /// GEMM's bias has `-x_zp * sum_j w[j][c]` folded in already; a
    /// depthwise conv subtracts it per tap.
    pub x_zp: i32,
    /// Per output channel, at least as many as there are channels.
    pub bias: &'a [i32],
    /// Requantization multipliers, per output channel.
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
    /// Checks the bounds and zero points, and that the bias and multipliers
    /// cover `channels` and the residual `len` outputs.
    pub(super) fn check(&self, channels: usize, len: usize) {
        assert!(0 <= self.lo && self.lo <= self.hi && self.hi <= 255, "clamp bounds within 0..=255");
        assert!((0..=255).contains(&self.x_zp), "input zero point is a byte");
        assert!(self.mult.len() >= channels && self.bias.len() >= channels, "a bias and multiplier per channel");
        assert!(self.residual.is_none_or(|r| r.x.len() >= len), "residual too short");
    }

    /// The same requantization for the outputs from element `at` on (the
    /// residual moves with them).
    #[inline]
    pub(super) fn from(self, at: usize) -> Requant<'a> {
        Requant { residual: self.residual.map(|r| Residual { x: &r.x[at..], ..r }), ..self }
    }

    /// `(zp, mult)` of the residual, `(0, 0.0)` without one.
    #[cfg_attr(not(any(target_arch = "x86_64", target_feature = "simd128")), allow(dead_code))]
    pub(super) fn residual_params(&self) -> (i32, f32) {
        self.residual.map_or((0, 0.0), |r| (r.zp, r.mult))
    }
}

/// `1.5 * 2^23`: adding it to an `f32` of magnitude below `2^22` rounds it
/// to an integer (ties to even, the default rounding) held in the low bits
/// of the sum's representation.
pub(super) const MAGIC: f32 = 12_582_912.0;
/// The bits of [`MAGIC`].
pub(super) const MAGIC_BITS: i32 = 0x4B40_0000;

/// `v` rounded to the nearest integer, ties to even, for `|v| < 2^22`.
#[inline(always)]
pub(super) fn round_small(v: f32) -> i32 {
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
pub(super) fn requant_run(acc: &[i32], q: &Requant<'_>, c0: usize, at: usize, y: &mut [u8]) {
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

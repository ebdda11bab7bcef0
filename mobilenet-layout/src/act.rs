//! The elementwise activations of MobileNets.

use core::fmt;

/// An elementwise nonlinearity, with Keras' definitions (torchvision's
/// agree). The IR has activation nodes and epilogues of this type, and the
/// kernels apply it while writing their outputs; "no activation" is `None`
/// of an `Option<Act>`, never a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    /// `max(x, 0)`
    Relu,
    /// `min(max(x, 0), 6)`
    Relu6,
    /// `1 / (1 + exp(-x))`
    Sigmoid,
    /// `relu6(x + 3) / 6` (Keras 3 `hard_sigmoid`, and MobileNetV3's SE gate)
    HardSigmoid,
    /// `x * relu6(x + 3) / 6` (Keras `hard_silu` / `hard_swish`)
    HardSwish,
}

impl Act {
    /// Every activation.
    pub const ALL: [Act; 5] = [Act::Relu, Act::Relu6, Act::Sigmoid, Act::HardSigmoid, Act::HardSwish];

    /// The name in the IR's text form.
    pub const fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Relu6 => "relu6",
            Act::Sigmoid => "sigmoid",
            Act::HardSigmoid => "hard_sigmoid",
            Act::HardSwish => "hard_swish",
        }
    }

    /// The scalar function: what the interpreter computes, and what the
    /// vector kernels compute lane by lane.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Relu6 => x.clamp(0.0, 6.0),
            Act::Sigmoid => 1.0 / (1.0 + libm_exp(-x)),
            Act::HardSigmoid => (x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0),
            Act::HardSwish => x * ((x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)),
        }
    }

    /// Applies `act` (if any) to every element of `v`.
    #[inline(always)]
    pub fn apply_all(act: Option<Act>, v: &mut [f32]) {
        if let Some(a) = act {
            v.iter_mut().for_each(|x| *x = a.apply(*x));
        }
    }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `exp` without `std`: `e^x = 2^n e^r` with `n = round(x / ln 2)`, `r`
/// reduced in two parts (Cody-Waite, so `r` is exact), and `e^r` by a
/// degree-6 polynomial; relative error below 3e-7 for normal results. Used
/// only by sigmoid and softmax.
#[inline]
pub fn libm_exp(x: f32) -> f32 {
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // ln 2, low bits zero: n * LN2_HI is exact
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    if x > 88.72 {
        return f32::INFINITY;
    }
    if x < -103.98 {
        return 0.0;
    }
    let t = x * core::f32::consts::LOG2_E;
    let n = if t >= 0.0 { (t + 0.5) as i32 } else { (t - 0.5) as i32 };
    let nf = n as f32;
    let r = (x - nf * LN2_HI) - nf * LN2_LO; // |r| <= ln2 / 2
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n, in two steps so that subnormal results stay right.
    let half = n / 2;
    let scale = |e: i32| f32::from_bits(((e + 127).clamp(0, 254) as u32) << 23);
    p * scale(half) * scale(n - half)
}

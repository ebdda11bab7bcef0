//! The standard specs: what `keras.applications` or `torchvision.models`
//! builds for each family, written out as spec YAML (`mobilenetc spec`; the
//! files in `specs/`).

use std::fmt::Write;

use super::{ClassifierActivation, Expansion, Family, Framework};
use crate::spec::check::MIN_INPUT_SIZE;

/// The arguments of a `keras.applications` (or `torchvision.models`)
/// constructor that a spec records.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardOptions {
    pub family: Family,
    /// Whose model: Keras (the default) or torchvision.
    pub framework: Framework,
    pub alpha: f64,
    pub height: u32,
    pub width: u32,
    pub classes: u32,
    /// v3 only: no squeeze-excite, no hard-swish, 3x3 kernels only.
    pub minimalistic: bool,
    /// v3 only: Keras' `include_preprocessing`.
    pub include_preprocessing: bool,
    pub classifier_activation: ClassifierActivation,
}

impl StandardOptions {
    /// Defaults of the Keras constructors, except `classifier_activation`,
    /// which is `linear` (logits) as in the reference fixtures.
    pub fn new(family: Family) -> Self {
        StandardOptions {
            family,
            framework: Framework::Keras,
            alpha: 1.0,
            height: 224,
            width: 224,
            classes: 1000,
            minimalistic: false,
            include_preprocessing: false,
            classifier_activation: ClassifierActivation::Linear,
        }
    }

    /// Rejects options the framework would reject.
    pub fn validate(&self) -> Result<(), String> {
        if self.framework == Framework::Torchvision {
            if self.family == Family::V1 {
                return Err("torchvision has no MobileNetV1 (torchvision.models has mobilenet_v2, \
                            mobilenet_v3_large and mobilenet_v3_small); use --framework keras"
                    .into());
            }
            if self.minimalistic || self.include_preprocessing {
                return Err("--minimalistic and --include-preprocessing are Keras options; \
                            torchvision's MobileNetV3 has neither"
                    .into());
            }
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(format!("alpha must be a finite number > 0, found {}", self.alpha));
        }
        if self.height < MIN_INPUT_SIZE || self.width < MIN_INPUT_SIZE {
            return Err(format!(
                "resolution {}x{} is too small for the network's strides: Keras MobileNets need at least \
                 {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}",
                self.height, self.width
            ));
        }
        if self.classes == 0 {
            return Err("classes must be at least 1".into());
        }
        if !self.family.is_v3() && (self.minimalistic || self.include_preprocessing) {
            return Err(format!(
                "--minimalistic and --include-preprocessing are v3 options; {} has neither",
                self.family
            ));
        }
        Ok(())
    }

    /// The framework's default model name.
    pub fn keras_name(&self) -> String {
        if self.framework == Framework::Torchvision {
            return match self.family {
                Family::V1 | Family::V2 => "mobilenet_v2",
                Family::V3Large => "mobilenet_v3_large",
                Family::V3Small => "mobilenet_v3_small",
            }
            .into();
        }
        match self.family {
            Family::V1 => format!("mobilenet_{:.2}_{}", self.alpha, self.height),
            Family::V2 => format!("mobilenetv2_{:.2}_{}", self.alpha, self.height),
            Family::V3Large => "MobileNetV3Large".into(),
            Family::V3Small => "MobileNetV3Small".into(),
        }
    }
}

/// A v3 block as `keras.applications.mobilenet_v3` lists it.
struct V3Block {
    k: Kernel,
    t: Expansion,
    c: u32,
    se: bool,
    nl: Nl,
    s: u32,
}

/// Kernel: fixed 3, or the family's `kernel` (5; 3 when minimalistic).
#[derive(Clone, Copy)]
enum Kernel {
    Three,
    Family,
}

/// Nonlinearity: fixed relu, or the family's `activation` (hard-swish; relu when minimalistic).
#[derive(Clone, Copy)]
enum Nl {
    Relu,
    Family,
}

const fn b(k: Kernel, t: Expansion, c: u32, se: bool, nl: Nl, s: u32) -> V3Block {
    V3Block { k, t, c, se, nl, s }
}

use Expansion::{Factor as F, Ratio as R};
use Kernel::{Family as K, Three as K3};
use Nl::{Family as A, Relu as RE};

const V3_LARGE: [V3Block; 15] = [
    b(K3, F(1.0), 16, false, RE, 1),
    b(K3, F(4.0), 24, false, RE, 2),
    b(K3, F(3.0), 24, false, RE, 1),
    b(K, F(3.0), 40, true, RE, 2),
    b(K, F(3.0), 40, true, RE, 1),
    b(K, F(3.0), 40, true, RE, 1),
    b(K3, F(6.0), 80, false, A, 2),
    b(K3, F(2.5), 80, false, A, 1),
    b(K3, F(2.3), 80, false, A, 1),
    b(K3, F(2.3), 80, false, A, 1),
    b(K3, F(6.0), 112, true, A, 1),
    b(K3, F(6.0), 112, true, A, 1),
    b(K, F(6.0), 160, true, A, 2),
    b(K, F(6.0), 160, true, A, 1),
    b(K, F(6.0), 160, true, A, 1),
];

const V3_SMALL: [V3Block; 11] = [
    b(K3, F(1.0), 16, true, RE, 2),
    b(K3, R(72, 16), 24, false, RE, 2),
    b(K3, R(88, 24), 24, false, RE, 1),
    b(K, F(4.0), 40, true, A, 2),
    b(K, F(6.0), 40, true, A, 1),
    b(K, F(6.0), 40, true, A, 1),
    b(K, F(3.0), 48, true, A, 1),
    b(K, F(3.0), 48, true, A, 1),
    b(K, F(6.0), 96, true, A, 2),
    b(K, F(6.0), 96, true, A, 1),
    b(K, F(6.0), 96, true, A, 1),
];

/// `(c, n, s)` rows of MobileNetV1 (paper Table 1).
const V1_ROWS: [(u32, u32, u32); 9] = [
    (64, 1, 1),
    (128, 1, 2),
    (128, 1, 1),
    (256, 1, 2),
    (256, 1, 1),
    (512, 1, 2),
    (512, 5, 1),
    (1024, 1, 2),
    (1024, 1, 1),
];

/// `(t, c, n, s)` rows of MobileNetV2 (paper Table 2).
const V2_ROWS: [(u32, u32, u32, u32); 7] =
    [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

/// A torchvision v3 block (`InvertedResidualConfig` without the input
/// channels, which are the previous block's output): kernel, expanded
/// channels, output channels, squeeze-excite, hard-swish, stride.
struct TvBlock(u32, u32, u32, bool, bool, u32);

/// `torchvision.models.mobilenetv3._mobilenet_v3_conf("mobilenet_v3_large")`.
const TV_V3_LARGE: [TvBlock; 15] = [
    TvBlock(3, 16, 16, false, false, 1),
    TvBlock(3, 64, 24, false, false, 2),
    TvBlock(3, 72, 24, false, false, 1),
    TvBlock(5, 72, 40, true, false, 2),
    TvBlock(5, 120, 40, true, false, 1),
    TvBlock(5, 120, 40, true, false, 1),
    TvBlock(3, 240, 80, false, true, 2),
    TvBlock(3, 200, 80, false, true, 1),
    TvBlock(3, 184, 80, false, true, 1),
    TvBlock(3, 184, 80, false, true, 1),
    TvBlock(3, 480, 112, true, true, 1),
    TvBlock(3, 672, 112, true, true, 1),
    TvBlock(5, 672, 160, true, true, 2),
    TvBlock(5, 960, 160, true, true, 1),
    TvBlock(5, 960, 160, true, true, 1),
];

/// `torchvision.models.mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small")`.
const TV_V3_SMALL: [TvBlock; 11] = [
    TvBlock(3, 16, 16, true, false, 2),
    TvBlock(3, 72, 24, false, false, 2),
    TvBlock(3, 88, 24, false, false, 1),
    TvBlock(5, 96, 40, true, true, 2),
    TvBlock(5, 240, 40, true, true, 1),
    TvBlock(5, 240, 40, true, true, 1),
    TvBlock(5, 120, 48, true, true, 1),
    TvBlock(5, 144, 48, true, true, 1),
    TvBlock(5, 288, 96, true, true, 2),
    TvBlock(5, 576, 96, true, true, 1),
    TvBlock(5, 576, 96, true, true, 1),
];

/// Writes the spec of a standard variant. Call [`StandardOptions::validate`] first.
pub fn standard_spec(o: &StandardOptions) -> String {
    if o.framework == Framework::Torchvision {
        return torchvision_spec(o);
    }
    let mut y = String::new();
    let fam = o.family;
    let w = &mut y;
    let title = match fam {
        Family::V1 => "MobileNetV1 (Howard et al. 2017)",
        Family::V2 => "MobileNetV2 (Sandler et al. 2018)",
        Family::V3Large => "MobileNetV3-Large (Howard et al. 2019)",
        Family::V3Small => "MobileNetV3-Small (Howard et al. 2019)",
    };
    let ctor = match fam {
        Family::V1 => format!("MobileNet(alpha={:?}", o.alpha),
        Family::V2 => format!("MobileNetV2(alpha={:?}", o.alpha),
        Family::V3Large => format!("MobileNetV3Large(alpha={:?}, minimalistic={}", o.alpha, py_bool(o.minimalistic)),
        Family::V3Small => format!("MobileNetV3Small(alpha={:?}, minimalistic={}", o.alpha, py_bool(o.minimalistic)),
    };
    let prep = if fam.is_v3() {
        format!(", include_preprocessing={}", py_bool(o.include_preprocessing))
    } else {
        String::new()
    };
    let act = match o.classifier_activation {
        ClassifierActivation::Linear => "None",
        ClassifierActivation::Softmax => "\"softmax\"",
    };
    let _ = writeln!(w, "# {title}, as keras.applications builds it:");
    let _ = writeln!(
        w,
        "#   {ctor}, input_shape=({}, {}, 3), classes={}, classifier_activation={act}{prep}, weights=None)",
        o.height, o.width, o.classes
    );
    let _ = writeln!(w, "# Generated by `mobilenetc spec`. Channel counts `c` are before the width");
    let _ = writeln!(w, "# multiplier alpha; the compiler rounds them as Keras does for this family.");
    let _ = writeln!(w, "family: {fam}");
    let _ = writeln!(w, "name: {}", o.keras_name());
    let _ = writeln!(w, "alpha: {:?}", o.alpha);
    if fam.is_v3() {
        let _ = writeln!(
            w,
            "input: {{height: {}, width: {}, include_preprocessing: {}}}",
            o.height, o.width, o.include_preprocessing
        );
    } else {
        let _ = writeln!(w, "input: {{height: {}, width: {}}}", o.height, o.width);
    }
    let (hs, kernel, se) = if o.minimalistic { ("relu", 3, false) } else { ("hard_swish", 5, true) };
    match fam {
        Family::V1 => {
            let _ = writeln!(w, "stem: {{c: 32, k: 3, s: 2}}       # conv1 (relu6)");
            let _ = writeln!(w, "# Depthwise-separable blocks: 3x3 depthwise (stride s) then 1x1 to c channels.");
            let _ = writeln!(w, "#   c: output channels, n: repeats, s: stride of the first");
            let _ = writeln!(w, "blocks:");
            for (c, n, s) in V1_ROWS {
                let _ = writeln!(w, "  - {{c: {c:>4}, n: {n}, s: {s}}}");
            }
        }
        Family::V2 => {
            let _ = writeln!(w, "stem: {{c: 32, k: 3, s: 2}}       # Conv1 (relu6)");
            let _ = writeln!(w, "# Inverted residual blocks (paper Table 2):");
            let _ = writeln!(w, "#   t: expansion, c: output channels, n: repeats, s: stride of the first");
            let _ = writeln!(w, "blocks:");
            for (t, c, n, s) in V2_ROWS {
                let _ = writeln!(w, "  - {{t: {t}, c: {c:>3}, n: {n}, s: {s}}}");
            }
            let _ = writeln!(w, "last_conv: {{c: 1280}}           # Conv_1 (relu6); scaled only when alpha > 1");
        }
        Family::V3Large | Family::V3Small => {
            let _ = writeln!(w, "se_ratio: 0.25");
            let _ = writeln!(w, "stem: {{c: 16, k: 3, s: 2, nl: {hs}}}   # conv; not scaled by alpha in Keras");
            let _ = writeln!(w, "# Inverted residual blocks, one row per block (paper Tables 1 and 2):");
            let _ = writeln!(w, "#   k: depthwise kernel, t: expansion, c: output channels, se: squeeze-excite,");
            let _ = writeln!(w, "#   nl: nonlinearity, s: stride");
            let _ = writeln!(w, "blocks:");
            let table: &[V3Block] = if fam == Family::V3Large { &V3_LARGE } else { &V3_SMALL };
            for blk in table {
                let k = match blk.k {
                    Kernel::Three => 3,
                    Kernel::Family => kernel,
                };
                let nl = match blk.nl {
                    Nl::Relu => "relu",
                    Nl::Family => hs,
                };
                let t = format!("{},", blk.t);
                let se = format!("{},", blk.se && se);
                let nl = format!("{nl},");
                let _ = writeln!(w, "  - {{k: {k}, t: {t:<6} c: {:>3}, se: {se:<6} nl: {nl:<11} s: {}}}", blk.c, blk.s);
            }
            let _ = writeln!(w, "last_conv: {{t: 6, nl: {hs}}}       # conv_1: 6x the last block's channels");
        }
    }
    let _ = writeln!(w, "head:");
    let _ = writeln!(w, "  classifier:");
    let _ = writeln!(w, "    classes: {}", o.classes);
    match fam {
        Family::V1 => {
            let _ = writeln!(w, "    dropout: 0.001");
        }
        Family::V2 => {}
        Family::V3Large | Family::V3Small => {
            let hidden = if fam == Family::V3Large { 1280 } else { 1024 };
            let _ = writeln!(w, "    hidden: {hidden}                   # conv_2; scaled only when alpha > 1");
            let _ = writeln!(w, "    hidden_nl: {hs}");
            let _ = writeln!(w, "    dropout: 0.2");
        }
    }
    let act = match o.classifier_activation {
        ClassifierActivation::Linear => "linear",
        ClassifierActivation::Softmax => "softmax",
    };
    let _ = writeln!(w, "    activation: {act}");
    y
}

/// The spec of a `torchvision.models` MobileNet (v2 or v3).
fn torchvision_spec(o: &StandardOptions) -> String {
    let mut y = String::new();
    let w = &mut y;
    let fam = o.family;
    let name = o.keras_name();
    let _ = writeln!(w, "# {name} as torchvision.models builds it:");
    let _ = writeln!(
        w,
        "#   torchvision.models.{name}(weights=None, num_classes={}, width_mult={:?}), input {}x{} (NHWC here)",
        o.classes, o.alpha, o.height, o.width
    );
    let _ = writeln!(w, "# Generated by `mobilenetc spec --framework torchvision`. Channel counts are");
    let _ = writeln!(w, "# before the width multiplier alpha (torchvision's width_mult); the compiler");
    let _ = writeln!(w, "# rounds them with torchvision's _make_divisible. Layers are named and weights");
    let _ = writeln!(w, "# laid out as in the model's state_dict; convs pad (k-1)/2 on every side.");
    let _ = writeln!(w, "family: {fam}");
    let _ = writeln!(w, "framework: torchvision");
    let _ = writeln!(w, "name: {name}");
    let _ = writeln!(w, "alpha: {:?}", o.alpha);
    let _ = writeln!(w, "input: {{height: {}, width: {}}}", o.height, o.width);
    match fam {
        Family::V1 | Family::V2 => {
            let _ = writeln!(w, "bn_epsilon: 1.0e-5                # nn.BatchNorm2d's default");
            let _ = writeln!(w, "stem: {{c: 32, k: 3, s: 2}}       # features.0 (relu6)");
            let _ = writeln!(w, "# Inverted residual blocks features.1 ... (paper Table 2):");
            let _ = writeln!(w, "#   t: expansion, c: output channels, n: repeats, s: stride of the first");
            let _ = writeln!(w, "blocks:");
            for (t, c, n, s) in V2_ROWS {
                let _ = writeln!(w, "  - {{t: {t}, c: {c:>3}, n: {n}, s: {s}}}");
            }
            let _ = writeln!(w, "last_conv: {{c: 1280}}           # scaled by max(1, alpha) (relu6)");
            let _ = writeln!(w, "head:");
            let _ = writeln!(w, "  classifier:                  # Dropout -> Linear (classifier.1)");
            let _ = writeln!(w, "    classes: {}", o.classes);
            let _ = writeln!(w, "    dropout: 0.2");
        }
        Family::V3Large | Family::V3Small => {
            let _ = writeln!(w, "bn_epsilon: 0.001                # partial(nn.BatchNorm2d, eps=0.001)");
            let _ = writeln!(w, "se_ratio: 0.25                   # squeeze: _make_divisible(e // 4, 8)");
            let _ = writeln!(w, "stem: {{c: 16, k: 3, s: 2, nl: hard_swish}}   # features.0; scaled by alpha");
            let _ = writeln!(w, "# Inverted residual blocks, one row per block (_mobilenet_v3_conf):");
            let _ = writeln!(w, "#   k: depthwise kernel, e: expanded channels, c: output channels,");
            let _ = writeln!(w, "#   se: squeeze-excite, nl: nonlinearity, s: stride");
            let _ = writeln!(w, "blocks:");
            let (table, hidden): (&[TvBlock], u32) =
                if fam == Family::V3Large { (&TV_V3_LARGE, 1280) } else { (&TV_V3_SMALL, 1024) };
            for TvBlock(k, e, c, se, hs, s) in table {
                let se = format!("{se},");
                let nl = if *hs { "hard_swish," } else { "relu," };
                let _ = writeln!(w, "  - {{k: {k}, e: {e:>3}, c: {c:>3}, se: {se:<6} nl: {nl:<11} s: {s}}}");
            }
            let _ = writeln!(w, "last_conv: {{t: 6, nl: hard_swish}}   # 6x the last block's channels");
            let _ = writeln!(w, "head:");
            let _ = writeln!(w, "  classifier:                  # Linear -> Hardswish -> Dropout -> Linear");
            let _ = writeln!(w, "    classes: {}", o.classes);
            let _ = writeln!(w, "    hidden: {hidden}                 # classifier.0; scaled by alpha");
            let _ = writeln!(w, "    hidden_nl: hard_swish");
            let _ = writeln!(w, "    dropout: 0.2");
        }
    }
    let act = match o.classifier_activation {
        ClassifierActivation::Linear => "linear",
        ClassifierActivation::Softmax => "softmax",
    };
    let _ = writeln!(w, "    activation: {act}");
    y
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

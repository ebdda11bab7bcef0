//! The YAML description of a network: the compiler's front end.
//!
//! A spec reads like the architecture tables of the MobileNet papers: a
//! stem, one row per group of blocks, a last 1x1 conv and a head. Channel
//! counts are written *before* the width multiplier `alpha`; lowering applies
//! the rounding rules of the spec's [`Framework`] (Keras by default, or
//! torchvision) for the family (see [`crate::lower::width`]).
//!
//! ```yaml
//! family: v2
//! alpha: 1.0
//! input: {height: 224, width: 224}
//! stem: {c: 32, k: 3, s: 2}
//! blocks:
//!   - {t: 1, c: 16, n: 1, s: 1}
//!   - {t: 6, c: 24, n: 2, s: 2}
//!   # ...
//! last_conv: {c: 1280}
//! head:
//!   classifier: {classes: 1000, activation: linear}
//! ```
//!
//! Parsing keeps the location of every row and of every value that semantic
//! checks look at, so that a spec that is valid YAML but not a valid network
//! still gets an error at `file:line:column`.

mod check;
mod error;
mod standard;

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::{Location, Spanned};

pub use check::{MAX_BLOCKS, MAX_CHANNELS, MAX_EXPANSION, MAX_INPUT_SIZE, MAX_KERNEL, MIN_INPUT_SIZE};
pub use error::{Located, SpecError};
pub use standard::{StandardOptions, standard_spec};

/// A parsed, checked spec, with the text it came from (for error messages).
#[derive(Debug, Clone)]
pub struct Spec {
    pub model: Model,
    pub origin: Origin,
}

/// Where a spec came from: its file name (as shown in errors) and its text.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub file: String,
    pub text: String,
}

impl Spec {
    /// Reads and parses the spec at `path`. A file that is not UTF-8 text
    /// gets an error at the line and column of its first invalid byte.
    pub fn from_file(path: &Path) -> Result<Spec, SpecError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SpecError::Io { path: file.clone(), source })?;
        Spec::parse_bytes(&bytes, &file)
    }

    /// Parses the bytes of a spec file; `file` names it in error messages.
    /// Bytes that are not UTF-8 get an error at the first invalid one.
    pub fn parse_bytes(bytes: &[u8], file: &str) -> Result<Spec, SpecError> {
        let text = std::str::from_utf8(bytes).map_err(|e| error::not_utf8(file, bytes, &e))?;
        Spec::parse(text, file)
    }

    /// Parses `text`; `file` names it in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Spec, SpecError> {
        let origin = Origin { file: file.to_string(), text: text.to_string() };
        // Without this, an empty file (or one of comments) is the parser's
        // "unexpected end of input".
        if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            let message = "the spec is empty (no YAML document); `mobilenetc spec` prints a complete one to start from";
            return Err(error::located(&origin, serde_saphyr::Location::UNKNOWN, message.into()));
        }
        let model: Model = serde_saphyr::from_str(text).map_err(|e| error::from_yaml(&origin, &e))?;
        let spec = Spec { model, origin };
        check::check(&spec)?;
        Ok(spec)
    }

    /// An error about the value at `at`.
    pub fn error_at(&self, at: Location, message: impl Into<String>) -> SpecError {
        error::located(&self.origin, at, message.into())
    }
}

/// The MobileNet family, which fixes the block structure, the naming of
/// layers and the width-multiplier rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Family {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
    #[serde(rename = "v3-large")]
    V3Large,
    #[serde(rename = "v3-small")]
    V3Small,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::V1, Family::V2, Family::V3Large, Family::V3Small];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::V1 => "v1",
            Family::V2 => "v2",
            Family::V3Large => "v3-large",
            Family::V3Small => "v3-small",
        }
    }

    pub fn is_v3(self) -> bool {
        matches!(self, Family::V3Large | Family::V3Small)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose model the spec describes: the framework fixes the layer names and
/// weight layouts a weights file has, the padding of strided convs, the
/// BatchNorm epsilon and how the width multiplier rounds channel counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    /// `keras.applications`: layers named as Keras names them, kernels
    /// `[kh, kw, in, out]`, TensorFlow `same` padding (the odd pixel
    /// bottom/right), BatchNorm epsilon 1e-3.
    #[default]
    Keras,
    /// `torchvision.models`: a state_dict (`features.N...`), kernels OIHW and
    /// Linear `[out, in]`, symmetric padding `(k-1)/2`, BatchNorm epsilon
    /// 1e-5 (v2) or 1e-3 (v3). torchvision has no MobileNetV1.
    Torchvision,
}

impl Framework {
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Keras => "keras",
            Framework::Torchvision => "torchvision",
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The top-level mapping of a spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub family: Family,
    /// The framework whose model this is (default: Keras).
    #[serde(default)]
    pub framework: Option<Spanned<Framework>>,
    /// Model name (Keras' `model.name`); informational.
    #[serde(default)]
    pub name: Option<String>,
    /// Width multiplier.
    pub alpha: Spanned<f64>,
    /// v1 only: channels per input channel of the depthwise convs (Keras
    /// `depth_multiplier`, the "resolution multiplier" of the v1 paper code).
    #[serde(default)]
    pub depth_multiplier: Option<Spanned<u32>>,
    /// v3 only: squeeze-excite reduction ratio (Keras: 0.25).
    #[serde(default)]
    pub se_ratio: Option<Spanned<f64>>,
    /// BatchNormalization epsilon of every BN layer (Keras: 0.001;
    /// torchvision: 1e-5 for v2, 0.001 for v3).
    #[serde(default)]
    pub bn_epsilon: Option<Spanned<f64>>,
    pub input: Spanned<Input>,
    pub stem: Spanned<Stem>,
    pub blocks: Spanned<Vec<Spanned<BlockRow>>>,
    #[serde(default)]
    pub last_conv: Option<Spanned<LastConv>>,
    pub head: Spanned<Head>,
}

impl Model {
    pub fn framework(&self) -> Framework {
        self.framework.as_ref().map_or(Framework::Keras, |f| f.value)
    }

    pub fn bn_epsilon(&self) -> f64 {
        let default = match (self.framework(), self.family) {
            (Framework::Torchvision, Family::V1 | Family::V2) => 1e-5,
            _ => 1e-3,
        };
        self.bn_epsilon.as_ref().map_or(default, |e| e.value)
    }

    pub fn se_ratio(&self) -> f64 {
        self.se_ratio.as_ref().map_or(0.25, |e| e.value)
    }

    pub fn depth_multiplier(&self) -> u32 {
        self.depth_multiplier.as_ref().map_or(1, |d| d.value)
    }
}

/// The input image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub height: u32,
    pub width: u32,
    #[serde(default = "three")]
    pub channels: u32,
    /// v3 only: Keras' `include_preprocessing`, a `Rescaling(1/127.5, -1)`
    /// layer in front of the stem, so the model takes pixels in `[0, 255]`.
    #[serde(default)]
    pub include_preprocessing: bool,
}

fn three() -> u32 {
    3
}

/// The first, full convolution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stem {
    /// Output channels (v1/v2: before alpha; v3: not scaled, as in Keras).
    pub c: u32,
    #[serde(default = "three")]
    pub k: u32,
    #[serde(default = "two")]
    pub s: u32,
    /// v3 only (v1/v2 always use relu6).
    #[serde(default)]
    pub nl: Option<Nonlinearity>,
}

fn two() -> u32 {
    2
}

/// One row of the block table: `n` blocks, the first with stride `s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRow {
    /// Expansion factor (v2: integer; Keras v3: a number or a ratio such as `72/16`).
    #[serde(default)]
    pub t: Option<Expansion>,
    /// torchvision v3 only: expanded channels, before the width multiplier
    /// (torchvision lists them so, rather than as a factor).
    #[serde(default)]
    pub e: Option<u32>,
    /// Output channels before alpha.
    pub c: u32,
    /// Number of blocks.
    #[serde(default = "one")]
    pub n: u32,
    /// Stride of the first block of the row.
    pub s: u32,
    /// v3 only: depthwise kernel size.
    #[serde(default)]
    pub k: Option<u32>,
    /// v3 only: squeeze-and-excite.
    #[serde(default)]
    pub se: Option<bool>,
    /// v3 only: nonlinearity.
    #[serde(default)]
    pub nl: Option<Nonlinearity>,
}

fn one() -> u32 {
    1
}

/// The 1x1 conv after the blocks (v2 `Conv_1`, v3 `conv_1`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastConv {
    /// v2: output channels (scaled only when alpha > 1, as in Keras).
    #[serde(default)]
    pub c: Option<u32>,
    /// v3: output channels as a multiple of the last block's.
    #[serde(default)]
    pub t: Option<Expansion>,
    /// v3: nonlinearity.
    #[serde(default)]
    pub nl: Option<Nonlinearity>,
}

/// Nonlinearities of the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nonlinearity {
    Relu,
    Relu6,
    HardSwish,
}

impl Nonlinearity {
    pub fn as_str(self) -> &'static str {
        match self {
            Nonlinearity::Relu => "relu",
            Nonlinearity::Relu6 => "relu6",
            Nonlinearity::HardSwish => "hard_swish",
        }
    }
}

/// An expansion factor: a number, or a ratio `a/b` computed in f64 as Python
/// computes `72.0 / 16` (Keras' MobileNetV3Small writes its expansions so).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expansion {
    Factor(f64),
    Ratio(u32, u32),
}

impl Expansion {
    pub fn value(self) -> f64 {
        match self {
            Expansion::Factor(f) => f,
            Expansion::Ratio(a, b) => f64::from(a) / f64::from(b),
        }
    }
}

impl fmt::Display for Expansion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expansion::Factor(v) if v.fract() == 0.0 && v.abs() < 1e15 => write!(f, "{}", *v as i64),
            Expansion::Factor(v) => write!(f, "{v}"),
            Expansion::Ratio(a, b) => write!(f, "{a}/{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for Expansion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Expansion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an expansion factor: a number such as 6 or 2.5, or a ratio such as 72/16")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Expansion, E> {
                Ok(Expansion::Factor(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Expansion, E> {
                Ok(Expansion::Factor(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Expansion, E> {
                Ok(Expansion::Factor(v as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Expansion, E> {
                let ratio = s
                    .split_once('/')
                    .and_then(|(a, b)| Some(Expansion::Ratio(a.trim().parse().ok()?, b.trim().parse().ok()?)));
                match ratio {
                    Some(Expansion::Ratio(_, 0)) => Err(E::custom(format!("expansion `{s}` divides by zero"))),
                    Some(r) => Ok(r),
                    None => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// What follows the backbone.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// The classifier `keras.applications` builds with `include_top=True`.
    Classifier(Classifier),
    /// `include_top=False`: the backbone's features, optionally pooled.
    Features(Features),
    /// A transfer-learning head: global pooling (or flatten) then dense layers.
    Custom(CustomHead),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classifier {
    pub classes: Spanned<u32>,
    /// Keras' dropout rate before the logits (no effect at inference).
    #[serde(default)]
    pub dropout: Option<f64>,
    /// Keras' `classifier_activation`.
    #[serde(default)]
    pub activation: ClassifierActivation,
    /// v3 only: channels of the 1x1 conv `conv_2` between pooling and logits
    /// (scaled only when alpha > 1, as in Keras).
    #[serde(default)]
    pub hidden: Option<u32>,
    /// v3 only: nonlinearity after `conv_2`.
    #[serde(default)]
    pub hidden_nl: Option<Nonlinearity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierActivation {
    /// Logits (Keras `classifier_activation=None`).
    #[default]
    Linear,
    Softmax,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    #[serde(default)]
    pub pooling: Pooling,
}

/// Keras' `pooling` argument for `include_top=False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    #[default]
    None,
    Avg,
    Max,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomHead {
    /// How the feature map becomes a vector.
    pub pooling: Spanned<HeadInput>,
    pub layers: Spanned<Vec<Spanned<HeadLayer>>>,
}

/// The first layer of a custom head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadInput {
    /// `GlobalAveragePooling2D()`
    Avg,
    /// `GlobalMaxPooling2D()`
    Max,
    /// `Flatten()` (channels-last order)
    Flatten,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadLayer {
    Dense(DenseLayer),
    /// Keras `BatchNormalization()` on the vector.
    BatchNorm(BatchNormLayer),
    Dropout(DropoutLayer),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormLayer {
    /// Keras' default is 0.001.
    #[serde(default)]
    pub epsilon: Option<f64>,
    /// Keras layer name; defaults to `batch_normalization`, `batch_normalization_1`, ...
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseLayer {
    pub units: u32,
    #[serde(default)]
    pub activation: DenseActivation,
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Keras layer name; defaults to Keras' automatic `dense`, `dense_1`, ...
    #[serde(default)]
    pub name: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutLayer {
    pub rate: f64,
    #[serde(default)]
    pub name: Option<String>,
}

/// Activations a dense layer of a custom head may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenseActivation {
    #[default]
    Linear,
    Relu,
    Relu6,
    Sigmoid,
    HardSigmoid,
    HardSwish,
    Softmax,
}

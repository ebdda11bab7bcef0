//! Loading weights from safetensors files, with Keras or torchvision tensor
//! names and layouts.
//!
//! Everything after loading works in Keras' layouts (`Conv2D` kernel
//! `[kh,kw,in,out]`, `DepthwiseConv2D` `[kh,kw,in,mult]`, `Dense`
//! `[in,out]`). A Keras file (keys `<layer>/<variable>`) is already in them;
//! a torchvision state_dict (keys `<module>.weight`, conv `[out,in,kh,kw]`,
//! depthwise `[c,1,kh,kw]`, Linear `[out,in]`) is transposed into them as it
//! is read, as each [`TensorSpec`]'s [`Layout`] says. A state_dict's
//! `num_batches_tracked` counters (int64, training-only) are accepted and
//! ignored next to the BatchNorm they belong to.
//!
//! The caller says which tensors it needs with [`TensorSpec`]s;
//! [`load_bytes`] returns them in that order or an error that lists *every*
//! missing, unexpected, mis-shaped or mis-typed tensor, so a user fixing an
//! export sees all problems in one run.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::Path;

use safetensors::tensor::TensorInfo;
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};

/// One tensor the network needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec<'a> {
    /// Preferred key, e.g. `block_1_depthwise/kernel` or `features.2.conv.1.0.weight`.
    pub key: &'a str,
    /// A second accepted key. Keras 3 names the depthwise kernel `kernel`,
    /// tf.keras 2 `depthwise_kernel`; files from both must load.
    pub alt_key: Option<&'a str>,
    /// Expected shape in the file.
    pub shape: &'a [usize],
    /// How the file lays the values out.
    pub layout: Layout,
    /// The values must not be negative (a BatchNorm's variance).
    pub non_negative: bool,
}

impl<'a> TensorSpec<'a> {
    /// A tensor stored in Keras' layout.
    pub const fn new(key: &'a str, shape: &'a [usize]) -> Self {
        TensorSpec { key, alt_key: None, shape, layout: Layout::Keras, non_negative: false }
    }

    /// Also accept the tensor under `alt_key`.
    pub const fn or(self, alt_key: &'a str) -> Self {
        TensorSpec { alt_key: Some(alt_key), ..self }
    }

    /// The file stores the tensor in `layout`.
    pub const fn in_layout(self, layout: Layout) -> Self {
        TensorSpec { layout, ..self }
    }

    /// Reject negative values (a variance).
    pub const fn non_negative(self) -> Self {
        TensorSpec { non_negative: true, ..self }
    }
}

/// How a file lays out a tensor, and so how it becomes Keras' layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Keras' own layout (also every vector): copied as is.
    Keras,
    /// PyTorch `Conv2d` weight `[out, in/groups, kh, kw]`, read as
    /// `[kh, kw, in/groups, out]`. A depthwise `[c, 1, kh, kw]` becomes
    /// `[kh, kw, 1, c]`, the same values in the same order as Keras'
    /// `[kh, kw, c, 1]`.
    Oihw,
    /// PyTorch `Linear` weight `[out, in]`, read as `[in, out]`.
    OutIn,
}

impl Layout {
    /// The shape after conversion of a tensor of `file` shape, or `None`
    /// if the shape has the wrong rank for this layout.
    pub fn keras_shape(self, file: &[usize]) -> Option<Vec<usize>> {
        match (self, file) {
            (Layout::Keras, _) => Some(file.to_vec()),
            (Layout::Oihw, &[o, i, kh, kw]) => Some(vec![kh, kw, i, o]),
            (Layout::OutIn, &[o, i]) => Some(vec![i, o]),
            _ => None,
        }
    }

    /// `data` (row-major in `file` shape) in Keras' layout.
    fn convert(self, file: &[usize], data: Vec<f32>) -> Vec<f32> {
        // A tensor with a zero dimension has no values to move (and
        // `chunks_exact` below takes no empty chunks).
        if data.is_empty() {
            return data;
        }
        match (self, file) {
            (Layout::Oihw, &[o, i, kh, kw]) => {
                let mut out = vec![0.0; data.len()];
                for (oc, per_out) in data.chunks_exact(i * kh * kw).enumerate() {
                    // per_out is [i][kh][kw]; Keras puts out last: [kh][kw][i][o].
                    for (ic, taps) in per_out.chunks_exact(kh * kw).enumerate() {
                        for (tap, &v) in taps.iter().enumerate() {
                            out[(tap * i + ic) * o + oc] = v;
                        }
                    }
                }
                out
            }
            (Layout::OutIn, &[o, i]) => {
                let mut out = vec![0.0; data.len()];
                for (oc, row) in data.chunks_exact(i).enumerate() {
                    for (ic, &v) in row.iter().enumerate() {
                        out[ic * o + oc] = v;
                    }
                }
                out
            }
            _ => data,
        }
    }
}

/// Training-only BatchNorm state a PyTorch state_dict carries: ignored when
/// the BatchNorm's `running_mean` is among the tensors loaded.
const BATCHES_TRACKED: &str = "num_batches_tracked";

/// A loaded tensor: row-major `f32` data in Keras' layout (see [`Layout`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Why a weights file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error("cannot read weights file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid safetensors file: {reason}")]
    Format { path: String, reason: String },
    #[error("{path} does not match the network ({} problem{}):\n{}",
        .problems.len(), if .problems.len() == 1 { "" } else { "s" }, ProblemList(.problems))]
    Mismatch { path: String, problems: Vec<Problem> },
}

/// One inconsistency between a weights file and the network.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The network needs this tensor and the file does not have it.
    Missing { key: String, expected: Vec<usize> },
    /// The file has a tensor the network does not use.
    Unexpected { key: String, shape: Vec<usize> },
    /// Present, but with another shape.
    Shape { key: String, expected: Vec<usize>, actual: Vec<usize> },
    /// Present, but not a float type (f32, or f16 / bf16, which are widened).
    Dtype { key: String, actual: String },
    /// A NaN or an infinity at flat index `index` (in the file's layout).
    NotFinite { key: String, index: usize, value: f32 },
    /// A negative value where none is allowed (a BatchNorm variance).
    Negative { key: String, index: usize, value: f32 },
    /// Both accepted names of one tensor are present; which one to use is ambiguous.
    Ambiguous { key: String, alt_key: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { key, expected } => {
                write!(f, "missing tensor `{key}` (expected shape {expected:?})")
            }
            Problem::Unexpected { key, shape } => {
                // The one name that comes from the file alone: escaped, so
                // that a hostile name cannot forge lines of this list.
                write!(f, "unexpected tensor `{}` (shape {shape:?}) is not used by the network", Escaped(key))
            }
            Problem::Shape { key, expected, actual } => {
                write!(f, "tensor `{key}`: expected shape {expected:?}, found {actual:?}")
            }
            Problem::Dtype { key, actual } => {
                write!(f, "tensor `{key}`: expected dtype F32 (or F16, BF16), found {actual}")
            }
            Problem::NotFinite { key, index, value } => {
                write!(f, "tensor `{key}`: value {value} at index {index} is not finite")
            }
            Problem::Negative { key, index, value } => {
                write!(f, "tensor `{key}`: value {value} at index {index} is negative (a variance must not be)")
            }
            Problem::Ambiguous { key, alt_key } => {
                write!(f, "both `{key}` and `{alt_key}` are present; keep only one")
            }
        }
    }
}

/// A name as shown in an error: control characters and backquotes escaped
/// (`\n`, `` \` ``), everything else as is.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '`' => f.write_str("\\`")?,
                c if c.is_control() => write!(f, "{}", c.escape_default())?,
                c => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Reads `path` and returns the tensors named by `specs`, in order.
pub fn load_file(path: &Path, specs: &[TensorSpec<'_>]) -> Result<Vec<Tensor>, WeightError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WeightError::Io { path: shown.clone(), source })?;
    load_bytes(&shown, &bytes, specs)
}

/// Parses safetensors `bytes` (named `name` in messages) and returns the
/// tensors named by `specs`, in order. Every error's text starts with
/// `name`. A header that lists one name twice is refused (safetensors
/// itself would keep the last entry).
pub fn load_bytes(name: &str, bytes: &[u8], specs: &[TensorSpec<'_>]) -> Result<Vec<Tensor>, WeightError> {
    let format = |reason: String| WeightError::Format { path: name.to_string(), reason };
    let file = SafeTensors::deserialize(bytes).map_err(|e| format(format_reason(bytes, &e)))?;
    // safetensors keeps the last of two entries with one name; which one the
    // exporter meant is anyone's guess.
    if let Some(key) = header_text(bytes).and_then(repeated_name) {
        return Err(format(format!("tensor `{key}` is listed twice in the header")));
    }
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let primary = file.tensor(spec.key).ok();
        let alt = spec.alt_key.and_then(|k| file.tensor(k).ok().map(|t| (k, t)));
        let (key, view) = match (primary, alt) {
            (Some(_), Some((alt_key, _))) => {
                problems.push(Problem::Ambiguous { key: spec.key.to_string(), alt_key: alt_key.to_string() });
                used.insert(spec.key.to_string());
                used.insert(alt_key.to_string());
                continue;
            }
            (Some(view), None) => (spec.key, view),
            (None, Some((alt_key, view))) => (alt_key, view),
            (None, None) => {
                problems.push(Problem::Missing { key: spec.key.to_string(), expected: spec.shape.to_vec() });
                continue;
            }
        };
        used.insert(key.to_string());
        // f16 and bf16 (common PyTorch exports) are widened to f32, exactly.
        let widen: fn(&[u8]) -> f32 = match view.dtype() {
            Dtype::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Dtype::F16 => |b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            Dtype::BF16 => |b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            other => {
                problems.push(Problem::Dtype { key: key.to_string(), actual: format!("{other:?}") });
                continue;
            }
        };
        let width = if view.dtype() == Dtype::F32 { 4 } else { 2 };
        if view.shape() != spec.shape {
            problems.push(Problem::Shape {
                key: key.to_string(),
                expected: spec.shape.to_vec(),
                actual: view.shape().to_vec(),
            });
            continue;
        }
        let data: Vec<f32> = view.data().chunks_exact(width).map(widen).collect();
        if let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            problems.push(Problem::NotFinite { key: key.to_string(), index, value });
            continue;
        }
        if spec.non_negative
            && let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| **v < 0.0)
        {
            problems.push(Problem::Negative { key: key.to_string(), index, value });
            continue;
        }
        let shape = spec.layout.keras_shape(spec.shape).unwrap_or_else(|| spec.shape.to_vec());
        out.push(Tensor { shape, data: spec.layout.convert(spec.shape, data) });
    }
    let tracked_bn = |key: &str| {
        key.strip_suffix(BATCHES_TRACKED).is_some_and(|module| used.contains(&format!("{module}running_mean")))
    };
    let mut unexpected: Vec<_> = file.iter().filter(|(k, _)| !used.contains(*k) && !tracked_bn(k)).collect();
    unexpected.sort_by_key(|(k, _)| *k);
    problems.extend(
        unexpected.into_iter().map(|(k, v)| Problem::Unexpected { key: k.to_string(), shape: v.shape().to_vec() }),
    );
    if problems.is_empty() { Ok(out) } else { Err(WeightError::Mismatch { path: name.to_string(), problems }) }
}

/// Size of the length field that starts a safetensors file.
const LENGTH_FIELD: usize = 8;

/// The header's text, if the length field and UTF-8 allow.
fn header_text(bytes: &[u8]) -> Option<&str> {
    let len = u64::from_le_bytes(bytes.get(..LENGTH_FIELD)?.try_into().ok()?);
    let end = usize::try_from(len).ok()?.checked_add(LENGTH_FIELD)?;
    std::str::from_utf8(bytes.get(LENGTH_FIELD..end)?).ok()
}

/// The first name a (valid) header's top-level object lists twice, however
/// each is spelled (`"a"` and `"\u0061"` are one name).
fn repeated_name(header: &str) -> Option<String> {
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = HashSet::new();
            let mut repeated = None;
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if repeated.is_none() && !seen.insert(key.clone()) {
                    repeated = Some(key);
                }
            }
            Ok(repeated)
        }
    }
    serde_json::Deserializer::from_str(header).deserialize_map(Names).ok().flatten()
}

/// Why safetensors refused `bytes`, saying which numbers or which tensor
/// are wrong where its own message does not.
fn format_reason(bytes: &[u8], err: &SafeTensorError) -> String {
    let header_len = bytes.get(..LENGTH_FIELD).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let after_field = bytes.len().saturating_sub(LENGTH_FIELD);
    match (err, header_len) {
        (SafeTensorError::HeaderTooSmall, _) => {
            format!("the file is {} bytes long, too short for the 8-byte header length", bytes.len())
        }
        (SafeTensorError::HeaderTooLarge, Some(n)) => {
            format!("the header length field says {n} bytes, more than the 100 MB safetensors allows")
        }
        (SafeTensorError::InvalidHeaderLength, Some(n)) => {
            format!("the header length field says {n} bytes, but only {after_field} bytes follow it")
        }
        (SafeTensorError::MetadataIncompleteBuffer, Some(n)) => {
            let data = after_field.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
            match header_tensors(bytes).and_then(|t| t.values().map(|i| i.data_offsets.1).max()) {
                Some(end) => format!("the header's tensors take {end} bytes of data, but the file has {data}"),
                None => format!("the file has {data} bytes of data, but the header lists no tensors"),
            }
        }
        (
            SafeTensorError::TensorInvalidInfo | SafeTensorError::ValidationOverflow | SafeTensorError::MisalignedSlice,
            _,
        ) => header_tensors(bytes)
            .and_then(|tensors| tensors.iter().find_map(|(key, info)| size_problem(key, info)))
            .unwrap_or_else(|| err.to_string()),
        _ => err.to_string(),
    }
}

/// The tensor entries of a header that parses, by name.
fn header_tensors(bytes: &[u8]) -> Option<BTreeMap<String, TensorInfo>> {
    let mut entries: BTreeMap<String, serde_json::Value> = serde_json::from_str(header_text(bytes)?).ok()?;
    entries.remove("__metadata__");
    entries.into_iter().map(|(key, value)| Some((key, serde_json::from_value(value).ok()?))).collect()
}

/// What is wrong with the size of a tensor entry, if anything.
fn size_problem(key: &str, info: &TensorInfo) -> Option<String> {
    let (begin, end) = info.data_offsets;
    let what = format!("tensor `{key}` ({:?} of shape {:?})", info.dtype, info.shape);
    // In safetensors' order: a zero dimension after a huge one is no overflow.
    let bits =
        info.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).and_then(|n| n.checked_mul(info.dtype.bitsize()));
    match bits {
        None => Some(format!("{what}: its size in bytes overflows")),
        Some(bits) if bits % 8 != 0 => Some(format!("{what}: {bits} bits is not a whole number of bytes")),
        Some(bits) if end.checked_sub(begin) != Some(bits / 8) => Some(format!(
            "{what}: takes {} bytes, but its data_offsets [{begin}, {end}] span {}",
            bits / 8,
            end as i128 - begin as i128
        )),
        Some(_) => None,
    }
}

/// IEEE 754 half precision to single, exactly (every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        // Subnormal: value = man * 2^-24, normalized for f32.
        (0, m) => {
            let shift = m.leading_zeros() - 21; // bring the top set bit to bit 10
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use std::collections::HashMap;

    fn file(tensors: &[(&str, Dtype, Vec<usize>)]) -> Vec<u8> {
        let bufs: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, dt, shape)| vec![0u8; shape.iter().product::<usize>() * dt.bitsize() / 8])
            .collect();
        let views: HashMap<String, TensorView<'_>> = tensors
            .iter()
            .zip(&bufs)
            .map(|((k, dt, shape), b)| (k.to_string(), TensorView::new(*dt, shape.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    #[test]
    fn a_hostile_unexpected_name_cannot_forge_lines() {
        let hostile = "x`\nmissing tensor `conv/kernel";
        let bytes = file(&[("w", Dtype::F32, vec![2]), (hostile, Dtype::F32, vec![1])]);
        let err = load_bytes("f.safetensors", &bytes, &[TensorSpec::new("w", &[2])]).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 2, "{err}");
        assert!(err.contains("unexpected tensor `x\\`\\nmissing tensor \\`conv/kernel`"), "{err}");
    }

    #[test]
    fn loads_in_spec_order_and_accepts_alternate_depthwise_name() {
        let bytes = file(&[("a/kernel", Dtype::F32, vec![2, 3]), ("b/depthwise_kernel", Dtype::F32, vec![3, 3, 4, 1])]);
        let specs =
            [TensorSpec::new("b/kernel", &[3, 3, 4, 1]).or("b/depthwise_kernel"), TensorSpec::new("a/kernel", &[2, 3])];
        let t = load_bytes("w", &bytes, &specs).unwrap();
        assert_eq!(t[0].shape, vec![3, 3, 4, 1]);
        assert_eq!(t[1].data.len(), 6);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let bytes = file(&[
            ("a/kernel", Dtype::F32, vec![2, 4]),
            ("c/bias", Dtype::I32, vec![3]),
            ("zzz/extra", Dtype::F32, vec![1]),
        ]);
        let specs =
            [TensorSpec::new("a/kernel", &[2, 3]), TensorSpec::new("b/kernel", &[5]), TensorSpec::new("c/bias", &[3])];
        let err = load_bytes("w.safetensors", &bytes, &specs).unwrap_err();
        let WeightError::Mismatch { problems, .. } = &err else { panic!("{err}") };
        assert_eq!(
            problems,
            &vec![
                Problem::Shape { key: "a/kernel".into(), expected: vec![2, 3], actual: vec![2, 4] },
                Problem::Missing { key: "b/kernel".into(), expected: vec![5] },
                Problem::Dtype { key: "c/bias".into(), actual: "I32".into() },
                Problem::Unexpected { key: "zzz/extra".into(), shape: vec![1] },
            ]
        );
        let text = err.to_string();
        assert!(text.contains("4 problems"), "{text}");
        assert!(text.contains("tensor `a/kernel`: expected shape [2, 3], found [2, 4]"), "{text}");
    }

    #[test]
    fn both_names_present_is_ambiguous() {
        let bytes = file(&[("d/kernel", Dtype::F32, vec![1]), ("d/depthwise_kernel", Dtype::F32, vec![1])]);
        let specs = [TensorSpec::new("d/kernel", &[1]).or("d/depthwise_kernel")];
        let err = load_bytes("w", &bytes, &specs).unwrap_err();
        assert!(err.to_string().contains("both `d/kernel` and `d/depthwise_kernel`"), "{err}");
    }

    #[test]
    fn truncated_or_foreign_bytes_are_format_errors() {
        let bytes = file(&[("a", Dtype::F32, vec![4])]);
        for bad in [&bytes[..bytes.len() - 3], b"not a safetensors file".as_slice(), &[][..]] {
            let err = load_bytes("w.bin", bad, &[]).unwrap_err();
            assert!(matches!(err, WeightError::Format { .. }), "{err}");
            assert!(err.to_string().starts_with("w.bin is not a valid safetensors file"), "{err}");
        }
    }

    #[test]
    fn values_are_little_endian_f32() {
        let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![2], &data).unwrap();
        let bytes = safetensors::serialize([("x", view)], None).unwrap();
        let t = load_bytes("w", &bytes, &[TensorSpec::new("x", &[2])]).unwrap();
        assert_eq!(t[0].data, vec![1.5, -2.0]);
    }

    fn f32_file(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let bufs: Vec<Vec<u8>> =
            tensors.iter().map(|(_, _, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .zip(&bufs)
            .map(|((k, shape, _), b)| (k.to_string(), TensorView::new(Dtype::F32, shape.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    #[test]
    fn torch_conv_weights_are_transposed_to_keras_layout() {
        // A conv with 2 outputs, 3 inputs, 1x2 taps: value = 100*o + 10*i + tap.
        let (o, i, kh, kw) = (2, 3, 1, 2);
        let mut oihw = Vec::new();
        for oc in 0..o {
            for ic in 0..i {
                for tap in 0..kh * kw {
                    oihw.push((100 * oc + 10 * ic + tap) as f32);
                }
            }
        }
        let linear: Vec<f32> = (0..6).map(|v| v as f32).collect(); // [out 2][in 3]
        let bytes = f32_file(&[("c.weight", vec![o, i, kh, kw], oihw), ("fc.weight", vec![2, 3], linear)]);
        let specs = [
            TensorSpec::new("c.weight", &[2, 3, 1, 2]).in_layout(Layout::Oihw),
            TensorSpec::new("fc.weight", &[2, 3]).in_layout(Layout::OutIn),
        ];
        let t = load_bytes("w", &bytes, &specs).unwrap();
        assert_eq!(t[0].shape, vec![kh, kw, i, o]);
        for tap in 0..kh * kw {
            for ic in 0..i {
                for oc in 0..o {
                    assert_eq!(t[0].data[(tap * i + ic) * o + oc], (100 * oc + 10 * ic + tap) as f32);
                }
            }
        }
        assert_eq!(t[1].shape, vec![3, 2]);
        // Keras [in][out]: row ic holds W[0][ic], W[1][ic].
        assert_eq!(t[1].data, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn half_precision_is_widened_exactly() {
        // f16: 1.5, -2, the smallest subnormal, 65504 (largest), -0.
        let f16s: [u16; 5] = [0x3e00, 0xc000, 0x0001, 0x7bff, 0x8000];
        let expected = [1.5f32, -2.0, 2f32.powi(-24), 65504.0, -0.0];
        for (h, e) in f16s.iter().zip(expected) {
            assert_eq!(f16_to_f32(*h).to_bits(), e.to_bits(), "{h:#06x}");
        }
        // Every finite f16 round-trips through f32 to the same value: check
        // the normal range against the formula.
        for h in 0x0400u16..0x7c00 {
            let e = ((h >> 10) & 0x1f) as i32 - 15;
            let m = 1.0 + f32::from(h & 0x3ff) / 1024.0;
            assert_eq!(f16_to_f32(h), m * 2f32.powi(e), "{h:#06x}");
        }
        let f16_bytes: Vec<u8> = f16s[..2].iter().flat_map(|h| h.to_le_bytes()).collect();
        let bf16_bytes: Vec<u8> = [0x3fc0u16, 0xc000].iter().flat_map(|h| h.to_le_bytes()).collect();
        let views = [
            ("h", TensorView::new(Dtype::F16, vec![2], &f16_bytes).unwrap()),
            ("b", TensorView::new(Dtype::BF16, vec![2], &bf16_bytes).unwrap()),
        ];
        let bytes = safetensors::serialize(views, None).unwrap();
        let t = load_bytes("w", &bytes, &[TensorSpec::new("h", &[2]), TensorSpec::new("b", &[2])]).unwrap();
        assert_eq!(t[0].data, vec![1.5, -2.0]);
        assert_eq!(t[1].data, vec![1.5, -2.0]);
    }

    #[test]
    fn non_finite_values_and_negative_variances_are_named() {
        let bytes = f32_file(&[
            ("w", vec![3], vec![1.0, f32::NAN, 2.0]),
            ("x", vec![2], vec![f32::INFINITY, 0.0]),
            ("var", vec![2], vec![0.5, -0.25]),
            ("mean", vec![2], vec![0.5, -0.25]),
        ]);
        let specs = [
            TensorSpec::new("w", &[3]),
            TensorSpec::new("x", &[2]),
            TensorSpec::new("var", &[2]).non_negative(),
            TensorSpec::new("mean", &[2]),
        ];
        let err = load_bytes("w.safetensors", &bytes, &specs).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("3 problems"), "{text}");
        assert!(text.contains("tensor `w`: value NaN at index 1 is not finite"), "{text}");
        assert!(text.contains("tensor `x`: value inf at index 0 is not finite"), "{text}");
        assert!(text.contains("tensor `var`: value -0.25 at index 1 is negative"), "{text}");
    }

    #[test]
    fn num_batches_tracked_is_ignored_only_next_to_its_batch_norm() {
        let bytes = file(&[
            ("bn.running_mean", Dtype::F32, vec![2]),
            ("bn.num_batches_tracked", Dtype::I64, vec![]),
            ("other.num_batches_tracked", Dtype::I64, vec![]),
        ]);
        let err = load_bytes("w", &bytes, &[TensorSpec::new("bn.running_mean", &[2])]).unwrap_err();
        let WeightError::Mismatch { problems, .. } = &err else { panic!("{err}") };
        assert_eq!(problems, &vec![Problem::Unexpected { key: "other.num_batches_tracked".into(), shape: vec![] }]);
    }
}

//! Loading weights from safetensors files with Keras tensor names.
//!
//! Keys are `<keras layer name>/<variable name>` and layouts are Keras' own
//! (`Conv2D` kernel `[kh,kw,in,out]`, `DepthwiseConv2D` `[kh,kw,in,mult]`,
//! `Dense` `[in,out]`, BatchNorm `gamma`/`beta`/`moving_mean`/
//! `moving_variance`). The caller says which tensors it needs with
//! [`TensorSpec`]s; [`load`] returns them in that order or an error that
//! lists *every* missing, unexpected, mis-shaped or mis-typed tensor, so a
//! user fixing an export sees all problems in one run.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

/// One tensor the network needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec<'a> {
    /// Preferred key, e.g. `block_1_depthwise/kernel`.
    pub key: &'a str,
    /// A second accepted key. Keras 3 names the depthwise kernel `kernel`,
    /// tf.keras 2 `depthwise_kernel`; files from both must load.
    pub alt_key: Option<&'a str>,
    /// Expected shape in Keras layout.
    pub shape: &'a [usize],
}

impl<'a> TensorSpec<'a> {
    pub const fn new(key: &'a str, shape: &'a [usize]) -> Self {
        TensorSpec { key, alt_key: None, shape }
    }

    /// Also accept the tensor under `alt_key`.
    pub const fn or(self, alt_key: &'a str) -> Self {
        TensorSpec { alt_key: Some(alt_key), ..self }
    }
}

/// A loaded tensor: row-major `f32` data in the layout of its [`TensorSpec`].
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The network needs this tensor and the file does not have it.
    Missing { key: String, expected: Vec<usize> },
    /// The file has a tensor the network does not use.
    Unexpected { key: String, shape: Vec<usize> },
    /// Present, but with another shape.
    Shape { key: String, expected: Vec<usize>, actual: Vec<usize> },
    /// Present, but not float32.
    Dtype { key: String, actual: String },
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
                write!(f, "unexpected tensor `{key}` (shape {shape:?}) is not used by the network")
            }
            Problem::Shape { key, expected, actual } => {
                write!(f, "tensor `{key}`: expected shape {expected:?}, found {actual:?}")
            }
            Problem::Dtype { key, actual } => {
                write!(f, "tensor `{key}`: expected dtype F32, found {actual}")
            }
            Problem::Ambiguous { key, alt_key } => {
                write!(f, "both `{key}` and `{alt_key}` are present; keep only one")
            }
        }
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
/// tensors named by `specs`, in order.
pub fn load_bytes(name: &str, bytes: &[u8], specs: &[TensorSpec<'_>]) -> Result<Vec<Tensor>, WeightError> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| WeightError::Format { path: name.to_string(), reason: e.to_string() })?;
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
        if view.dtype() != Dtype::F32 {
            problems.push(Problem::Dtype { key: key.to_string(), actual: format!("{:?}", view.dtype()) });
            continue;
        }
        if view.shape() != spec.shape {
            problems.push(Problem::Shape {
                key: key.to_string(),
                expected: spec.shape.to_vec(),
                actual: view.shape().to_vec(),
            });
            continue;
        }
        let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.push(Tensor { shape: spec.shape.to_vec(), data });
    }
    let mut unexpected: Vec<_> = file.iter().filter(|(k, _)| !used.contains(*k)).collect();
    unexpected.sort_by_key(|(k, _)| *k);
    problems.extend(
        unexpected.into_iter().map(|(k, v)| Problem::Unexpected { key: k.to_string(), shape: v.shape().to_vec() }),
    );
    if problems.is_empty() { Ok(out) } else { Err(WeightError::Mismatch { path: name.to_string(), problems }) }
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
    fn loads_in_spec_order_and_accepts_alternate_depthwise_name() {
        let bytes = file(&[("a/kernel", Dtype::F32, vec![2, 3]), ("b/depthwise_kernel", Dtype::F32, vec![3, 3, 4, 1])]);
        let specs = [
            TensorSpec { key: "b/kernel", alt_key: Some("b/depthwise_kernel"), shape: &[3, 3, 4, 1] },
            TensorSpec { key: "a/kernel", alt_key: None, shape: &[2, 3] },
        ];
        let t = load_bytes("w", &bytes, &specs).unwrap();
        assert_eq!(t[0].shape, vec![3, 3, 4, 1]);
        assert_eq!(t[1].data.len(), 6);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let bytes = file(&[
            ("a/kernel", Dtype::F32, vec![2, 4]),
            ("c/bias", Dtype::F16, vec![3]),
            ("zzz/extra", Dtype::F32, vec![1]),
        ]);
        let specs = [
            TensorSpec { key: "a/kernel", alt_key: None, shape: &[2, 3] },
            TensorSpec { key: "b/kernel", alt_key: None, shape: &[5] },
            TensorSpec { key: "c/bias", alt_key: None, shape: &[3] },
        ];
        let err = load_bytes("w.safetensors", &bytes, &specs).unwrap_err();
        let WeightError::Mismatch { problems, .. } = &err else { panic!("{err}") };
        assert_eq!(
            problems,
            &vec![
                Problem::Shape { key: "a/kernel".into(), expected: vec![2, 3], actual: vec![2, 4] },
                Problem::Missing { key: "b/kernel".into(), expected: vec![5] },
                Problem::Dtype { key: "c/bias".into(), actual: "F16".into() },
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
        let specs = [TensorSpec { key: "d/kernel", alt_key: Some("d/depthwise_kernel"), shape: &[1] }];
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
        let t = load_bytes("w", &bytes, &[TensorSpec { key: "x", alt_key: None, shape: &[2] }]).unwrap();
        assert_eq!(t[0].data, vec![1.5, -2.0]);
    }
}

//! The quantized-model file `mobilenetc quantize` writes and int8 networks
//! load: one safetensors file holding, for a network's graph,
//!
//! | tensor | dtype | shape | what |
//! |---|---|---|---|
//! | `<layer>/qkernel` | I8 | the layer's Keras kernel shape (`[kh,kw,in,out]`, depthwise `[kh,kw,c,1]`, dense `[in,out]`) | BatchNorm folded, per output channel `round(w / wscale)` in `-127..=127` |
//! | `<layer>/wscale` | F32 | `[out]` | weight scale per output channel |
//! | `<layer>/qbias` | I32 | `[out]` | bias (own and folded BatchNorm) `round(b / (input scale * wscale))` |
//! | `<node>/act` | F32 | `[2]` | `[scale, zero_point]` of the u8 activation the node computes |
//!
//! `<layer>` is the layer name of the spec's framework as the compiler
//! keys it (Keras-style, `features.1.conv.0.0` for torchvision), `<node>`
//! the IR node whose value is quantized (`mobilenetc ir` prints them). The
//! `__metadata__` map says how the file was made (`format`, `network`,
//! `calibration`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};

use crate::q8::{QParams, WEIGHT_MAX};

/// The value of `__metadata__["format"]` of files this version reads.
pub const FORMAT: &str = "mobilenet-rs int8 v1";

/// The values of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum QData {
    I8(Vec<i8>),
    I32(Vec<i32>),
    F32(Vec<f32>),
}

impl QData {
    fn dtype(&self) -> Dtype {
        match self {
            QData::I8(_) => Dtype::I8,
            QData::I32(_) => Dtype::I32,
            QData::F32(_) => Dtype::F32,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            QData::I8(v) => v.iter().map(|&x| x as u8).collect(),
            QData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            QData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// One tensor of a quantized-model file.
#[derive(Debug, Clone, PartialEq)]
pub struct QTensor {
    pub shape: Vec<usize>,
    pub data: QData,
}

/// A quantized-model file, read or about to be written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QFile {
    pub tensors: BTreeMap<String, QTensor>,
    pub metadata: BTreeMap<String, String>,
}

/// What is wrong with a quantized-model file. Every message names the file
/// and, where there is one, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum QFileError {
    #[error("cannot read quantized model `{file}`: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("`{file}` is not a safetensors file: {message}")]
    Format { file: String, message: String },
    #[error(
        "`{file}` is not a mobilenet-rs int8 model (its metadata `format` is {found}, expected `{FORMAT}`); make one with `mobilenetc quantize`"
    )]
    NotQuantized { file: String, found: String },
    #[error("`{file}` has no tensor `{tensor}` ({what}); was it quantized from this spec?")]
    Missing { file: String, tensor: String, what: &'static str },
    /// `expected` and `actual` are a dtype and a shape, as `I8 [3, 3, 32, 1]`.
    #[error("`{file}`: tensor `{tensor}` is {actual}, expected {expected}")]
    Shape { file: String, tensor: String, expected: String, actual: String },
    #[error("`{file}`: tensor `{tensor}` {problem}")]
    Value { file: String, tensor: String, problem: String },
}

fn dtype_name(d: Dtype) -> &'static str {
    match d {
        Dtype::I8 => "I8",
        Dtype::I32 => "I32",
        Dtype::F32 => "F32",
        _ => "another dtype",
    }
}

impl QFile {
    /// Reads a quantized-model file.
    pub fn read(path: &Path) -> Result<QFile, QFileError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| QFileError::Io { file: file.clone(), source })?;
        QFile::from_bytes(&file, &bytes)
    }

    /// Reads a quantized-model file from its bytes; `file` names it in errors.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<QFile, QFileError> {
        let format = |message: String| QFileError::Format { file: file.into(), message };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format(e.to_string()))?;
        let metadata: BTreeMap<String, String> = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        match metadata.get("format") {
            Some(f) if f == FORMAT => {}
            found => {
                let found = found.map_or("missing".to_string(), |f| format!("`{f}`"));
                return Err(QFileError::NotQuantized { file: file.into(), found });
            }
        }
        let st = SafeTensors::deserialize(bytes).map_err(|e| format(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let raw = view.data();
            let data = match view.dtype() {
                Dtype::I8 => QData::I8(raw.iter().map(|&b| b as i8).collect()),
                Dtype::I32 => {
                    QData::I32(raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
                }
                Dtype::F32 => {
                    QData::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
                }
                other => {
                    return Err(QFileError::Value {
                        file: file.into(),
                        tensor: name,
                        problem: format!("has dtype {other:?}; quantized models hold only I8, I32 and F32"),
                    });
                }
            };
            tensors.insert(name, QTensor { shape: view.shape().to_vec(), data });
        }
        Ok(QFile { tensors, metadata })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        struct Raw<'a>(&'a QTensor, Vec<u8>);
        impl View for &Raw<'_> {
            fn dtype(&self) -> Dtype {
                self.0.data.dtype()
            }
            fn shape(&self) -> &[usize] {
                &self.0.shape
            }
            fn data(&self) -> std::borrow::Cow<'_, [u8]> {
                std::borrow::Cow::Borrowed(&self.1)
            }
            fn data_len(&self) -> usize {
                self.1.len()
            }
        }
        let raws: Vec<(String, Raw<'_>)> =
            self.tensors.iter().map(|(k, t)| (k.clone(), Raw(t, t.data.bytes()))).collect();
        let mut metadata: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        metadata.insert("format".into(), FORMAT.into());
        safetensors::serialize(raws.iter().map(|(k, r)| (k.as_str(), r)), Some(metadata))
            .expect("tensors of consistent shapes serialize")
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }
}

/// Typed, checked access to the tensors of a [`QFile`], naming the file in errors.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub file: &'a str,
    pub q: &'a QFile,
}

impl<'a> Reader<'a> {
    fn get(&self, tensor: &str, what: &'static str, dtype: Dtype, shape: &[usize]) -> Result<&'a QData, QFileError> {
        let t = self.q.tensors.get(tensor).ok_or_else(|| QFileError::Missing {
            file: self.file.into(),
            tensor: tensor.into(),
            what,
        })?;
        if t.data.dtype() != dtype || t.shape != shape {
            return Err(QFileError::Shape {
                file: self.file.into(),
                tensor: tensor.into(),
                expected: format!("{} {shape:?}", dtype_name(dtype)),
                actual: format!("{} {:?}", dtype_name(t.data.dtype()), t.shape),
            });
        }
        Ok(&t.data)
    }

    fn bad(&self, tensor: &str, problem: String) -> QFileError {
        QFileError::Value { file: self.file.into(), tensor: tensor.into(), problem }
    }

    /// `<layer>/qkernel` of Keras shape `shape`, every value in `-127..=127`.
    pub fn kernel(&self, layer: &str, shape: &[usize]) -> Result<&'a [i8], QFileError> {
        let name = format!("{layer}/qkernel");
        let QData::I8(v) = self.get(&name, "a quantized kernel", Dtype::I8, shape)? else { unreachable!() };
        if let Some(i) = v.iter().position(|&w| i32::from(w) < -WEIGHT_MAX) {
            return Err(self.bad(&name, format!("holds -128 at index {i}; quantized weights are in -127..=127")));
        }
        Ok(v)
    }

    /// `<layer>/wscale` of `n` finite positive scales.
    pub fn weight_scales(&self, layer: &str, n: usize) -> Result<&'a [f32], QFileError> {
        let name = format!("{layer}/wscale");
        let QData::F32(v) = self.get(&name, "weight scales", Dtype::F32, &[n])? else { unreachable!() };
        if let Some(i) = v.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(self.bad(&name, format!("holds {} at index {i}; scales are finite and positive", v[i])));
        }
        Ok(v)
    }

    /// `<layer>/qbias` of `n` values.
    pub fn bias(&self, layer: &str, n: usize) -> Result<&'a [i32], QFileError> {
        let name = format!("{layer}/qbias");
        let QData::I32(v) = self.get(&name, "a quantized bias", Dtype::I32, &[n])? else { unreachable!() };
        Ok(v)
    }

    /// `<node>/act`: the activation parameters of node `node`.
    pub fn act(&self, node: &str) -> Result<QParams, QFileError> {
        let name = format!("{node}/act");
        let QData::F32(v) = self.get(&name, "activation scale and zero point", Dtype::F32, &[2])? else {
            unreachable!()
        };
        let zp = v[1];
        let q = QParams { scale: v[0], zero_point: zp as i32 };
        if !(q.is_valid() && zp == q.zero_point as f32) {
            return Err(self.bad(
                &name,
                format!(
                    "is [{}, {}]; expected a finite positive scale and an integer zero point in 0..=255",
                    v[0], v[1]
                ),
            ));
        }
        Ok(q)
    }
}

/// The `<node>/act` tensor of `q`.
pub fn act_tensor(q: QParams) -> QTensor {
    QTensor { shape: vec![2], data: QData::F32(vec![q.scale, q.zero_point as f32]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QFile {
        let mut f = QFile::default();
        f.tensors.insert(
            "conv/qkernel".into(),
            QTensor { shape: vec![1, 1, 2, 3], data: QData::I8(vec![1, -2, 3, 127, -127, 0]) },
        );
        f.tensors.insert("conv/wscale".into(), QTensor { shape: vec![3], data: QData::F32(vec![0.5, 0.25, 1.0]) });
        f.tensors.insert("conv/qbias".into(), QTensor { shape: vec![3], data: QData::I32(vec![-7, 0, 1 << 30]) });
        f.tensors.insert("x/act".into(), act_tensor(QParams { scale: 0.1, zero_point: 12 }));
        f.metadata.insert("network".into(), "test".into());
        f
    }

    #[test]
    fn round_trips_and_checks() {
        let f = sample();
        let back = QFile::from_bytes("t", &f.to_bytes()).unwrap();
        assert_eq!(back.tensors, f.tensors);
        assert_eq!(back.metadata["format"], FORMAT);
        let r = Reader { file: "t", q: &back };
        assert_eq!(r.kernel("conv", &[1, 1, 2, 3]).unwrap(), &[1, -2, 3, 127, -127, 0]);
        assert_eq!(r.act("x").unwrap(), QParams { scale: 0.1, zero_point: 12 });
        let e = r.kernel("conv", &[1, 1, 3, 2]).unwrap_err().to_string();
        assert!(e.contains("`conv/qkernel` is I8 [1, 1, 2, 3], expected I8 [1, 1, 3, 2]"), "{e}");
        let e = r.bias("other", 3).unwrap_err().to_string();
        assert!(e.contains("no tensor `other/qbias`"), "{e}");
        let e = r.weight_scales("conv", 3).map(|_| ()).and(r.bias("conv", 3).map(|_| ()));
        assert!(e.is_ok());
    }

    #[test]
    fn rejects_bad_values_and_foreign_files() {
        let mut f = sample();
        f.tensors.insert("conv/qkernel".into(), QTensor { shape: vec![1], data: QData::I8(vec![-128]) });
        f.tensors.insert("conv/wscale".into(), QTensor { shape: vec![1], data: QData::F32(vec![f32::NAN]) });
        f.tensors.insert("x/act".into(), QTensor { shape: vec![2], data: QData::F32(vec![0.1, 256.0]) });
        let r = Reader { file: "t", q: &f };
        assert!(r.kernel("conv", &[1]).unwrap_err().to_string().contains("-128 at index 0"));
        assert!(r.weight_scales("conv", 1).unwrap_err().to_string().contains("NaN at index 0"));
        assert!(r.act("x").unwrap_err().to_string().contains("zero point in 0..=255"));
        let one = 1.0f32.to_le_bytes();
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &one).unwrap();
        let float = safetensors::serialize([("conv/kernel", view)], None).unwrap();
        let e = QFile::from_bytes("w.safetensors", &float).unwrap_err().to_string();
        assert!(e.contains("not a mobilenet-rs int8 model (its metadata `format` is missing"), "{e}");
        let e = QFile::from_bytes("w.safetensors", b"garbage").unwrap_err().to_string();
        assert!(e.contains("not a safetensors file"), "{e}");
    }
}

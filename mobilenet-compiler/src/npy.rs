//! `.npy` files for the CLI's inputs and outputs.

use std::path::Path;

/// Why an `.npy` file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
}

/// A dense row-major array.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Reads a C-order float32 or float64 array (float64 is converted).
pub fn read(path: &Path) -> Result<Array, NpyError> {
    let shown = path.display().to_string();
    let io = |source| NpyError::Io { path: shown.clone(), source };
    let format = |message: String| NpyError::Format { path: shown.clone(), message };
    let bytes = std::fs::read(path).map_err(io)?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| format(format!("not a .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(format("Fortran-order arrays are not supported; save a C-contiguous array".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data = match npy.dtype() {
        npyz::DType::Plain(ts) if ts.type_char() == npyz::TypeChar::Float && ts.size_field() == 4 => {
            npy.into_vec::<f32>().map_err(|e| format(e.to_string()))?
        }
        npyz::DType::Plain(ts) if ts.type_char() == npyz::TypeChar::Float && ts.size_field() == 8 => {
            npy.into_vec::<f64>().map_err(|e| format(e.to_string()))?.into_iter().map(|v| v as f32).collect()
        }
        other => return Err(format(format!("expected float32 or float64 data, found dtype {}", other.descr()))),
    };
    Ok(Array { shape, data })
}

/// Writes a C-order float32 array.
pub fn write(path: &Path, array: &Array) -> Result<(), NpyError> {
    use npyz::WriterBuilder;
    let shown = path.display().to_string();
    let io = |source| NpyError::Io { path: shown.clone(), source };
    let shape: Vec<u64> = array.shape.iter().map(|&d| d as u64).collect();
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(&mut buf).begin_nd().map_err(io)?;
        w.extend(array.data.iter().copied()).map_err(io)?;
        w.finish().map_err(io)?;
    }
    std::fs::write(path, buf).map_err(io)
}

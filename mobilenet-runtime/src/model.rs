//! Loading a network's weights from a file or its bytes: the load step of
//! generated `load` functions, and the only place a network allocates.
//!
//! Both precisions end the same way: one buffer of prepared weights (f32,
//! or the bytes of an int8 blob) that `forward` reads at constant offsets,
//! packed for the kernels of the instruction set chosen at load.

use std::path::Path;

use mobilenet_layout::prepare::{self, Step};
use mobilenet_layout::q8file::{QFile, QFileError};
use mobilenet_layout::q8prep::{self, QStep};
use mobilenet_layout::weights::{self, TensorSpec, WeightError};

use crate::buffer::Buffer;
use crate::kernels::Isa;

/// Where weights come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A file, read whole.
    File(&'a Path),
    /// A file's bytes already in memory.
    Bytes(&'a [u8]),
}

/// A float network's weights: the safetensors tensors `tensors` (checked:
/// every problem reported at once), BatchNorm folded and kernels packed for
/// `isa` by the `prepare` steps into a buffer of `len` floats.
pub fn f32_weights(
    source: Source<'_>,
    tensors: &[TensorSpec<'_>],
    prepare: &[Step],
    len: usize,
    isa: Isa,
) -> Result<Buffer<f32>, WeightError> {
    let t = match source {
        Source::File(path) => weights::load_file(path, tensors)?,
        Source::Bytes(bytes) => weights::load_bytes("<safetensors bytes>", bytes, tensors)?,
    };
    let mut w = Buffer::zeroed(len);
    prepare::run(prepare, &t, &mut w, isa);
    Ok(w)
}

/// An int8 network's weight blob: the quantized-model file (made by
/// `mobilenetc quantize`) read, every tensor `steps` names checked, and each
/// step's record prepared for `isa`'s int8 layout into `len` bytes.
pub fn int8_weights(source: Source<'_>, steps: &[QStep<'_>], len: usize, isa: Isa) -> Result<Buffer<u8>, QFileError> {
    let (name, file) = match source {
        Source::File(path) => (path.display().to_string(), QFile::read(path)?),
        Source::Bytes(bytes) => ("<int8 model bytes>".to_string(), QFile::from_bytes("<int8 model bytes>", bytes)?),
    };
    let mut blob = Buffer::zeroed(len);
    q8prep::prepare(&name, &file, steps, isa.qlayout(), &mut blob)?;
    Ok(blob)
}

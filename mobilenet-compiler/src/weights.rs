//! The weights a graph reads, loaded and checked with the runtime's loader.

use std::collections::HashMap;
use std::path::Path;

use mobilenet_layout::weights::{self, TensorSpec, WeightError};

use crate::ir::{Graph, Param};

pub use mobilenet_layout::weights::Tensor;

/// Tensors by the compiler's key ([`Param::key`], Keras-style whatever the
/// file's framework), in Keras' layout.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    /// Loads exactly the tensors `graph` needs from a safetensors file.
    pub fn load(path: &Path, graph: &Graph) -> Result<Weights, WeightError> {
        let params = graph.params();
        let tensors = weights::load_file(path, &specs(&params))?;
        Ok(Weights::from_parts(&params, tensors))
    }

    /// Like [`Weights::load`], from bytes; `name` is used in messages.
    pub fn from_bytes(name: &str, bytes: &[u8], graph: &Graph) -> Result<Weights, WeightError> {
        let params = graph.params();
        let tensors = weights::load_bytes(name, bytes, &specs(&params))?;
        Ok(Weights::from_parts(&params, tensors))
    }

    fn from_parts(params: &[Param], tensors: Vec<Tensor>) -> Weights {
        let keyed = params.iter().zip(tensors).map(|(p, t)| (p.key.clone(), Tensor { shape: p.shape.clone(), ..t }));
        Weights { tensors: keyed.collect() }
    }

    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.tensors.get(key)
    }

    pub fn insert(&mut self, key: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(key.into(), tensor);
    }

    /// Total number of values (Keras' `count_params()` for a full file).
    pub fn count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }
}

/// Borrowed loader specs for `params`: the names, shapes and layouts of the file.
pub fn specs(params: &[Param]) -> Vec<TensorSpec<'_>> {
    params
        .iter()
        .map(|p| TensorSpec {
            key: &p.file_key,
            alt_key: p.alt_key.as_deref(),
            shape: &p.file_shape,
            layout: p.layout,
            non_negative: p.non_negative,
        })
        .collect()
}

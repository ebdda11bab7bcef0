//! The weights a graph reads, loaded and checked with the runtime's loader.

use std::collections::HashMap;
use std::path::Path;

use mobilenet_runtime::weights::{self, TensorSpec, WeightError};

use crate::ir::{Graph, Param};

pub use mobilenet_runtime::weights::Tensor;

/// Tensors by Keras key (the primary key of each [`Param`], also when the
/// file used the alternative name).
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
        Weights { tensors: params.iter().map(|p| p.key.clone()).zip(tensors).collect() }
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

/// Borrowed loader specs for `params`.
pub fn specs(params: &[Param]) -> Vec<TensorSpec<'_>> {
    params.iter().map(|p| TensorSpec { key: &p.key, alt_key: p.alt_key.as_deref(), shape: &p.shape }).collect()
}

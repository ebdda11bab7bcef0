//! Per-layer and total parameters and multiply-accumulates, like Keras'
//! `model.summary()`.
//!
//! Parameters count every weight value, BatchNorm's moving statistics
//! included, which is what Keras' `count_params()` reports. MACs count the
//! multiply-accumulates of convolutions and dense layers, the convention of
//! the published MobileNet tables (BatchNorm, activations, pooling and
//! elementwise ops are not counted). The arena figures are those of the
//! memory plans of the fused and unfused programs.

use std::fmt::Write;

use serde::Serialize;

use crate::ir::{Graph, Op};
use crate::passes;
use crate::plan::Plan;

/// One row of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerSummary {
    pub name: String,
    pub op: &'static str,
    pub shape: Vec<usize>,
    pub params: u64,
    pub macs: u64,
}

/// The whole summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub name: String,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub params: u64,
    pub macs: u64,
    /// Memory plans of the fused and the unfused program.
    pub arena: Arenas,
    pub layers: Vec<LayerSummary>,
}

/// Arena sizes in bytes, and the lower bound of each: the most bytes any
/// one step needs live at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arenas {
    pub fused_bytes: usize,
    pub fused_lower_bound_bytes: usize,
    pub unfused_bytes: usize,
    pub unfused_lower_bound_bytes: usize,
}

impl Summary {
    pub fn of(graph: &Graph) -> Summary {
        let layers: Vec<LayerSummary> = graph
            .nodes()
            .iter()
            .map(|n| {
                let mut params = Vec::new();
                n.op.params_into(graph.framework, &mut params);
                let macs = match &n.op {
                    Op::Conv(c) => (n.shape.len() as u64).saturating_mul(c.macs_per_output()),
                    Op::Block(b) => {
                        let input = graph.node(n.inputs[0]).shape;
                        let shapes = b.shapes(input).unwrap_or_default();
                        b.convs()
                            .zip(shapes)
                            .map(|(c, s)| (s.len() as u64).saturating_mul(c.macs_per_output()))
                            .fold(0, u64::saturating_add)
                    }
                    Op::Dense(d) => u64::from(d.in_features) * u64::from(d.units),
                    _ => 0,
                };
                LayerSummary {
                    name: n.name.clone(),
                    op: n.op.mnemonic(),
                    shape: n.shape.dims(),
                    params: params.iter().map(|p| p.len() as u64).fold(0, u64::saturating_add),
                    macs,
                }
            })
            .collect();
        let fused = Plan::of(&passes::optimize(graph));
        let unfused = Plan::of(graph);
        Summary {
            arena: Arenas {
                fused_bytes: fused.arena_bytes(),
                fused_lower_bound_bytes: fused.lower_bound_bytes(),
                unfused_bytes: unfused.arena_bytes(),
                unfused_lower_bound_bytes: unfused.lower_bound_bytes(),
            },
            name: graph.name.clone(),
            input: graph.input_shape().dims(),
            output: graph.output_shape().dims(),
            // Saturating: a graph's tensors may each have up to 2^32 elements.
            params: layers.iter().map(|l| l.params).fold(0, u64::saturating_add),
            macs: layers.iter().map(|l| l.macs).fold(0, u64::saturating_add),
            layers,
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let width = self.layers.iter().map(|l| l.name.len() + l.op.len() + 3).max().unwrap_or(10).max(14);
        let _ = writeln!(s, "Model: {}", self.name);
        let _ = writeln!(s, "{:<width$}  {:<16} {:>12} {:>14}", "Layer (op)", "Output shape", "Params", "MACs");
        let _ = writeln!(s, "{}", "-".repeat(width + 46));
        for l in &self.layers {
            let shape = format!("{:?}", l.shape).replace(' ', "");
            let name = format!("{} ({})", l.name, l.op);
            let _ = writeln!(s, "{name:<width$}  {shape:<16} {:>12} {:>14}", group(l.params), group(l.macs));
        }
        let _ = writeln!(s, "{}", "-".repeat(width + 46));
        let _ = writeln!(s, "Total params: {}", group(self.params));
        let _ = writeln!(s, "Total MACs: {} ({:.1}M)", group(self.macs), self.macs as f64 / 1e6);
        let a = &self.arena;
        for (what, bytes, bound) in [
            ("fused", a.fused_bytes, a.fused_lower_bound_bytes),
            ("unfused", a.unfused_bytes, a.unfused_lower_bound_bytes),
        ] {
            let _ = writeln!(
                s,
                "Arena ({what}): {} bytes, lower bound {} bytes (+{:.1}%)",
                group(bytes as u64),
                group(bound as u64),
                if bound == 0 { 0.0 } else { (bytes as f64 / bound as f64 - 1.0) * 100.0 }
            );
        }
        s
    }
}

/// `1234567` -> `1,234,567`.
pub fn group(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(4253864), "4,253,864");
    }
}

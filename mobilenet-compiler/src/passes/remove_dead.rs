//! Nodes whose value reaches neither the output nor another live node are
//! removed (the input always stays).

use crate::ir::{Graph, NodeId};

pub(super) fn run(graph: &Graph) -> Graph {
    let mut live = vec![false; graph.nodes().len()];
    live[graph.output().index()] = true;
    live[0] = true;
    for id in graph.ids().rev() {
        if live[id.index()] {
            for x in &graph.node(id).inputs {
                live[x.index()] = true;
            }
        }
    }
    let (header, nodes, output) = graph.clone().into_parts();
    let mut new_id = vec![NodeId(0); nodes.len()];
    let mut kept = Vec::new();
    for (i, n) in nodes.into_iter().enumerate() {
        if live[i] {
            new_id[i] = NodeId(kept.len() as u32);
            kept.push(n);
        }
    }
    for n in &mut kept {
        for x in &mut n.inputs {
            *x = new_id[x.index()];
        }
    }
    Graph::from_nodes(header, kept, new_id[output.index()]).expect("removing dead nodes keeps a graph valid")
}

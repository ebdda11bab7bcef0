//! Rewriting a graph by absorbing nodes into their producers.

use crate::ir::{Graph, Header, Node, NodeId};

/// A graph under rewrite: nodes can be absorbed into the node producing their
/// input, after which everything that read them reads that node instead.
pub(super) struct Fuser {
    header: Header,
    nodes: Vec<Option<Node>>,
    /// Where each original node's value now comes from.
    redirect: Vec<NodeId>,
    uses: Vec<usize>,
    output: NodeId,
}

impl Fuser {
    pub fn new(graph: &Graph) -> Fuser {
        let uses = graph.use_counts();
        let (header, nodes, output) = graph.clone().into_parts();
        let redirect = (0..nodes.len() as u32).map(NodeId).collect();
        Fuser { header, nodes: nodes.into_iter().map(Some).collect(), redirect, uses, output }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The node `id` (original numbering), if it was not absorbed.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes[id.index()].as_ref()
    }

    /// The current producer of `id`'s original input `i`.
    pub fn input(&self, id: NodeId, i: usize) -> Option<NodeId> {
        let n = self.node(id)?;
        n.inputs.get(i).map(|x| self.resolve(*x))
    }

    fn resolve(&self, mut id: NodeId) -> NodeId {
        while self.redirect[id.index()] != id {
            id = self.redirect[id.index()];
        }
        id
    }

    /// Whether `consumer` is the only reader of `producer`'s value (and the
    /// value is not the network's output), so `producer` may change it.
    pub fn sole_reader(&self, producer: NodeId, consumer: NodeId) -> bool {
        self.uses[producer.index()] == 1
            && self.resolve(self.output) != producer
            && self.node(consumer).is_some_and(|c| c.inputs.iter().any(|x| self.resolve(*x) == producer))
    }

    /// Removes `consumer`, whose value `producer` (edited by `edit`) now
    /// computes under the consumer's name. `extra_inputs` are appended to the
    /// producer's inputs (they must come before it).
    pub fn absorb(
        &mut self,
        producer: NodeId,
        consumer: NodeId,
        extra_inputs: &[NodeId],
        edit: impl FnOnce(&mut Node),
    ) {
        let c = self.nodes[consumer.index()].take().expect("consumer exists");
        let consumer_uses = std::mem::take(&mut self.uses[consumer.index()]);
        for x in extra_inputs {
            debug_assert!(*x < producer, "an absorbed input must be computed before the producer");
        }
        let p = self.nodes[producer.index()].as_mut().expect("producer exists");
        p.name = c.name;
        p.shape = c.shape;
        p.inputs.extend_from_slice(extra_inputs);
        edit(p);
        // The consumer's read of the producer is gone; its readers read the producer.
        self.uses[producer.index()] = self.uses[producer.index()] - 1 + consumer_uses;
        for x in extra_inputs {
            self.uses[x.index()] += 1;
        }
        self.redirect[consumer.index()] = producer;
    }

    /// Changes node `id` in place.
    pub fn edit(&mut self, id: NodeId, edit: impl FnOnce(&mut Node)) {
        edit(self.nodes[id.index()].as_mut().expect("node exists"));
    }

    /// The one node that reads `id`'s value, if exactly one does (and the
    /// value is not the network's output).
    pub fn sole_consumer(&self, id: NodeId) -> Option<NodeId> {
        if self.uses[id.index()] != 1 || self.resolve(self.output) == id {
            return None;
        }
        (id.index() + 1..self.nodes.len())
            .map(|i| NodeId(i as u32))
            .find(|&c| self.node(c).is_some_and(|n| n.inputs.iter().any(|x| self.resolve(*x) == id)))
    }

    /// The rewritten graph, renumbered.
    pub fn finish(self) -> Graph {
        let mut new_id = vec![None; self.nodes.len()];
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(n) = n {
                new_id[i] = Some(NodeId(nodes.len() as u32));
                nodes.push(n.clone());
            }
        }
        let map = |id: NodeId| {
            let mut id = id;
            while self.redirect[id.index()] != id {
                id = self.redirect[id.index()];
            }
            new_id[id.index()].expect("redirects end at a kept node")
        };
        for n in &mut nodes {
            for x in &mut n.inputs {
                *x = map(*x);
            }
        }
        let output = map(self.output);
        Graph::from_nodes(self.header, nodes, output)
            .unwrap_or_else(|e| panic!("a pass produced an invalid graph: {e}"))
    }
}

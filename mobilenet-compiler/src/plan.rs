//! The static memory plan: every intermediate value gets an offset in one
//! arena, reusing memory by liveness.
//!
//! Node `i` runs at step `i`; a value is live from the step that writes it to
//! the last step that reads it, and two values that are live at the same
//! step get disjoint ranges (kernels never write over their inputs). A
//! `flatten` is a view of its input and shares its storage. The network's
//! input and output live in the caller's buffers, not in the arena.
//!
//! Offsets are chosen greedily, largest value first, each at the lowest
//! offset that does not collide with the values already placed whose
//! lifetimes overlap its own (the "greedy by size" strategy of TFLite's
//! arena planner). [`Plan::lower_bound`] is the most memory any step needs
//! live at once, which no plan can beat.

use mobilenet_layout::geom::{BlockGeom, ExpandConv, Expansion};

use crate::ir::{Graph, NodeId, Op, Shape};

/// Values are placed at multiples of this many floats (64 bytes, a cache
/// line): the runtime's alignment, from the crate both share.
pub use mobilenet_layout::ALIGN;

/// Randomized placement orders tried besides the two greedy ones.
const RANDOM_ORDERS: usize = 64;

/// Where a node's value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// The caller's input buffer.
    Input,
    /// The caller's output buffer.
    Output,
    /// `arena[offset .. offset + len]` (in floats).
    Arena { offset: usize, len: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Storage of each node's value, by node index.
    pub storage: Vec<Storage>,
    /// Scratch memory a node's kernel uses while it runs (fused blocks), as
    /// `(offset, len)` in the arena.
    pub scratch: Vec<Option<(usize, usize)>>,
    /// Arena length in floats.
    pub arena_len: usize,
    /// The most floats live in the arena at any one step.
    pub lower_bound: usize,
}

impl Plan {
    pub fn of(graph: &Graph) -> Plan {
        plan(graph)
    }

    pub fn storage(&self, id: NodeId) -> Storage {
        self.storage[id.index()]
    }

    /// Whether `id`'s value is a view of another's (it takes no step).
    pub fn is_alias(graph: &Graph, id: NodeId) -> bool {
        matches!(graph.node(id).op, Op::Flatten)
    }

    pub fn arena_bytes(&self) -> usize {
        self.arena_len * 4
    }

    pub fn lower_bound_bytes(&self) -> usize {
        self.lower_bound * 4
    }
}

/// A set of nodes sharing one storage (a value and its views), or the
/// scratch of one step (`scratch`: live at that step only).
struct Group {
    root: usize,
    len: usize,
    first: usize,
    last: usize,
    output: bool,
    scratch: bool,
}

/// The geometry of a fused block node for the runtime's block kernel.
pub fn block_geom(graph: &Graph, id: NodeId) -> Option<BlockGeom> {
    let node = graph.node(id);
    let Op::Block(b) = &node.op else { return None };
    let input = graph.node(node.inputs[0]).shape;
    let shapes = b.shapes(input).ok()?;
    let dims = |s: Shape| match s {
        Shape::Map { h, w, c } => (h as usize, w as usize, c as usize),
        Shape::Vector { n } => (1, 1, n as usize),
    };
    let (ih, iw, cin) = dims(input);
    let (h, w, _) = match b.expand {
        Some(_) => dims(shapes[0]),
        None => dims(input),
    };
    let dw_out = shapes[usize::from(b.expand.is_some())];
    let (oh, ow, e) = dims(dw_out);
    let d = &b.depthwise;
    let expand = match &b.expand {
        None => Expansion::None,
        Some(c) if c.is_pointwise() => Expansion::Pointwise,
        Some(c) => Expansion::Conv(ExpandConv {
            h: ih,
            w: iw,
            k: c.kernel[0] as usize,
            s: c.stride[0] as usize,
            pad_top: c.padding.top as usize,
            pad_left: c.padding.left as usize,
        }),
    };
    Some(BlockGeom {
        h,
        w,
        cin,
        e,
        oh,
        ow,
        cout: dims(node.shape).2,
        k: d.kernel[0] as usize,
        s: d.stride[0] as usize,
        pad_top: d.padding.top as usize,
        pad_left: d.padding.left as usize,
        expand,
        project: b.project.is_some(),
    })
}

fn plan(graph: &Graph) -> Plan {
    let n = graph.nodes().len();
    // The node whose storage each node uses.
    let mut root: Vec<usize> = (0..n).collect();
    for id in graph.ids() {
        if Plan::is_alias(graph, id) {
            root[id.index()] = root[graph.node(id).inputs[0].index()];
        }
    }
    let mut group_of = vec![usize::MAX; n];
    let mut groups: Vec<Group> = Vec::new();
    for i in 0..n {
        if root[i] == i {
            group_of[i] = groups.len();
            groups.push(Group {
                root: i,
                len: graph.nodes()[i].shape.len(),
                first: i,
                last: i,
                output: false,
                scratch: false,
            });
        } else {
            group_of[i] = group_of[root[i]];
        }
    }
    let mut scratch_group = vec![None; n];
    for id in graph.ids() {
        if let Some(g) = block_geom(graph, id) {
            let i = id.index();
            scratch_group[i] = Some(groups.len());
            groups.push(Group { root: i, len: g.scratch_len(), first: i, last: i, output: false, scratch: true });
        }
    }
    for (i, node) in graph.nodes().iter().enumerate() {
        for x in &node.inputs {
            let g = &mut groups[group_of[x.index()]];
            g.last = g.last.max(i);
        }
    }
    groups[group_of[graph.output().index()]].output = true;

    let in_arena = |g: &Group| g.scratch || (g.root != 0 && !g.output);
    let lower_bound = (0..n)
        .map(|step| groups.iter().filter(|g| in_arena(g) && g.first <= step && step <= g.last).map(|g| g.len).sum())
        .max()
        .unwrap_or(0);

    // Greedy placement in several orders, keeping the smallest arena: largest
    // first (TFLite's "greedy by size"), first-written first, and seeded
    // random perturbations of the size order, which get out of the traps
    // either greedy order falls into (a small long-lived value placed where
    // a large one should go). Deterministic: the same graph gets the same plan.
    let arena: Vec<usize> = (0..groups.len()).filter(|&g| in_arena(&groups[g])).collect();
    let mut orders = Vec::new();
    let mut by_size = arena.clone();
    by_size.sort_by_key(|&g| (std::cmp::Reverse(groups[g].len), groups[g].first));
    orders.push(by_size);
    let mut by_time = arena.clone();
    by_time.sort_by_key(|&g| (groups[g].first, std::cmp::Reverse(groups[g].len)));
    orders.push(by_time);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..RANDOM_ORDERS {
        let mut keyed: Vec<(u64, usize)> = arena
            .iter()
            .map(|&g| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let jitter = 1.0 + (seed >> 11) as f64 / (1u64 << 53) as f64;
                ((groups[g].len as f64 * jitter) as u64, g)
            })
            .collect();
        keyed.sort_by_key(|&(k, g)| (std::cmp::Reverse(k), g));
        orders.push(keyed.into_iter().map(|(_, g)| g).collect());
    }
    let (offset, arena_len) = orders
        .iter()
        .flat_map(|order| [place(&groups, order, false), place(&groups, order, true)])
        .min_by_key(|(_, len)| *len)
        .expect("candidates");

    let scratch = scratch_group.iter().map(|g| g.map(|g| (offset[g], groups[g].len))).collect();
    let storage = (0..n)
        .map(|i| {
            let g = &groups[group_of[i]];
            if g.output {
                Storage::Output
            } else if g.root == 0 {
                Storage::Input
            } else {
                Storage::Arena { offset: offset[group_of[i]], len: graph.nodes()[i].shape.len() }
            }
        })
        .collect();
    Plan { storage, scratch, arena_len, lower_bound }
}

/// Places `order`'s groups one by one in a gap free of the time-overlapping
/// groups placed before: the lowest (first fit) or the smallest that fits
/// (best fit). Returns offsets and arena length.
fn place(groups: &[Group], order: &[usize], best_fit: bool) -> (Vec<usize>, usize) {
    let size = |g: usize| groups[g].len.div_ceil(ALIGN) * ALIGN + ALIGN * (1 + g % 13);
    let mut offset = vec![0usize; groups.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_len = 0;
    for &g in order {
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| groups[p].first <= groups[g].last && groups[g].first <= groups[p].last)
            .map(|&p| (offset[p], offset[p] + size(p)))
            .collect();
        busy.sort();
        // Free gaps between busy ranges, then the space after the last.
        let mut gaps = Vec::new();
        let mut at = 0;
        for (start, end) in busy {
            if start > at {
                gaps.push((at, start - at));
            }
            at = at.max(end);
        }
        let fits = gaps.into_iter().filter(|&(_, len)| len >= size(g));
        let chosen = if best_fit { fits.min_by_key(|&(_, len)| len) } else { fits.min_by_key(|&(start, _)| start) };
        offset[g] = chosen.map_or(at, |(start, _)| start);
        arena_len = arena_len.max(offset[g] + size(g));
        placed.push(g);
    }
    (offset, arena_len)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::Spec;

    fn graphs() -> Vec<(String, Graph)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let g = crate::lower(&Spec::from_file(&path).unwrap()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((format!("{name} fused"), crate::passes::optimize(&g)));
            out.push((format!("{name} unfused"), g));
        }
        out
    }

    /// Live ranges by brute force: no two values live at one step overlap.
    #[test]
    fn values_live_together_never_overlap() {
        for (name, g) in graphs() {
            let p = Plan::of(&g);
            // The value a node's storage belongs to: a flatten is its input's.
            let value = |mut i: usize| {
                while Plan::is_alias(&g, NodeId(i as u32)) {
                    i = g.nodes()[i].inputs[0].index();
                }
                i
            };
            let last_use = |v: usize| {
                g.nodes()
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.inputs.iter().any(|x| value(x.index()) == v))
                    .map(|(j, _)| j)
                    .max()
            };
            let live: Vec<(usize, usize, usize, usize)> = (0..g.nodes().len())
                .filter(|&i| value(i) == i)
                .filter_map(|i| match p.storage[i] {
                    Storage::Arena { offset, len } => Some((i, last_use(i).unwrap_or(i), offset, offset + len)),
                    _ => None,
                })
                .collect();
            for &(d1, l1, s1, e1) in &live {
                assert!(e1 <= p.arena_len, "{name}: value past the arena");
                for &(d2, l2, s2, e2) in &live {
                    if d1 != d2 && d1 <= l2 && d2 <= l1 {
                        assert!(e1 <= s2 || e2 <= s1, "{name}: nodes {d1} and {d2} overlap in time and memory");
                    }
                }
            }
        }
    }

    #[test]
    fn arena_is_within_ten_percent_of_the_lower_bound() {
        for (name, g) in graphs() {
            let p = Plan::of(&g);
            assert!(p.arena_len >= p.lower_bound);
            assert!(
                p.arena_len as f64 <= p.lower_bound as f64 * 1.10,
                "{name}: arena {} floats, lower bound {}",
                p.arena_len,
                p.lower_bound
            );
        }
    }

    #[test]
    fn input_output_and_views_are_not_in_the_arena() {
        let (_, g) = graphs().into_iter().find(|(n, _)| n == "tiny.yaml fused").unwrap();
        let p = Plan::of(&g);
        assert_eq!(p.storage(g.input()), Storage::Input);
        assert_eq!(p.storage(g.output()), Storage::Output);
        // tiny ends logits -> flatten -> softmax: the flatten is a view of the logits.
        let flatten = g.find("flatten").unwrap();
        assert_eq!(p.storage(flatten), p.storage(g.find("logits").unwrap()));
    }
}

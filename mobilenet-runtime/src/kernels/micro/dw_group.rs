//! The f32 depthwise micro-kernel: a group of up to eight neighbouring
//! output pixels of a `K x K` kernel for every whole vector of channels (see
//! `dwconv.rs` for the driver that walks rows and groups, and `entry.rs`
//! for its one instantiation per instruction set).

use crate::kernels::Act;
use crate::kernels::simd::Simd;

/// Stores a group's accumulators, with the activation and the residual.
///
/// One branch on the activation per group, not per pixel (per pixel, it
/// cost up to a third of the time on small maps), and each arm a straight
/// run of register operations and stores: with the activation applied in
/// place over the accumulator array behind a jump table, LLVM kept the
/// array on the stack, and every group stored and reloaded its
/// accumulators twice (a 1.2x to 1.7x slower depthwise conv with AVX-512 on
/// Zen 5, BENCHMARKS.md). The arms are few on purpose: each is compiled
/// into every group instantiation. ReLU is ReLU6 with an infinite upper
/// bound; a residual (no MobileNet adds one after a depthwise conv) takes
/// one general arm.
///
/// # Safety
/// `y` (and `res`, if not null) hold the group's `P` pixels of `c` floats
/// from `at`, a vector of channels each; the CPU has `V`'s instructions.
#[inline(always)]
pub(crate) unsafe fn store_all<V: Simd, const P: usize>(
    acc: [V; P],
    act: Option<Act>,
    res: *const f32,
    y: *mut f32,
    at: usize,
    c: usize,
) {
    // SAFETY: the caller's contract: pixel `p` of the group is `c` floats from `at + p * c` in `y` and `res`,
    // and the CPU has `V`'s instructions.
    unsafe {
        if !res.is_null() {
            for (p, a) in acc.iter().enumerate() {
                a.act_opt(act).add(V::load(res.add(at + p * c))).store(y.add(at + p * c));
            }
            return;
        }
        match act {
            None => {
                for (p, a) in acc.iter().enumerate() {
                    a.store(y.add(at + p * c));
                }
            }
            Some(f @ (Act::Relu | Act::Relu6)) => {
                let hi = V::splat(if f == Act::Relu6 { 6.0 } else { f32::INFINITY });
                for (p, a) in acc.iter().enumerate() {
                    a.max(V::zero()).min(hi).store(y.add(at + p * c));
                }
            }
            Some(f) => {
                for (p, a) in acc.iter().enumerate() {
                    a.act(f).store(y.add(at + p * c));
                }
            }
        }
    }
}

/// Window columns a group spans at most: `(GROUP - 1) + 5` at stride 1,
/// `(GROUP / 2 - 1) * 2 + 5` at stride 2; what `unroll12!` walks.
const MAX_SPAN: usize = 12;

/// Where a group of output pixels reads.
///
/// The row pointers are shared by every group of the output row, and the
/// group's offset added where a row is read: writing per-group row
/// pointers into an array made LLVM emit a masked vector store that the
/// next scalar loads could not forward from (a 14% stall with AVX-512,
/// BENCHMARKS.md).
pub(crate) struct Group<'a, const K: usize> {
    /// Per kernel row: the input row, or null for a padding row.
    pub(crate) rows: &'a [*const f32; K],
    /// Offset of the group's first window column in a row (negative on the
    /// left border, where only the inside columns are read).
    pub(crate) left: isize,
    /// Bit `j`: window column `j` is inside the image.
    pub(crate) inside: u32,
    /// The group's first output pixel.
    pub(crate) x0: usize,
    /// Whole vectors of channels (a tail is left to [`clipped`]).
    pub(crate) full: usize,
}

/// `P` output pixels from `grp.x0`, every whole vector of channels.
// Indexed loops over constants unroll into register code; `j` is a
// constant per column, so `j >= kx` is trivially true for some.
#[allow(clippy::needless_range_loop, clippy::absurd_extreme_comparisons, clippy::manual_is_multiple_of)]
#[inline(always)]
pub(crate) unsafe fn group<V: Simd, const K: usize, const S: usize, const P: usize, const ALL: bool>(
    px: &Pixel,
    grp: &Group<'_, K>,
    res: *const f32,
    y: *mut f32,
) {
    const { assert!((P - 1) * S + K <= MAX_SPAN, "a group spans at most MAX_SPAN columns") };
    let c = px.c;
    let mut wb = px.w;
    // SAFETY: whole vectors of channels (`full * LANES <= c`) of window columns inside the image (`ALL`, or
    // the `inside` bits) of non-null rows, and of the group's `P` output pixels; weights and bias packed for
    // `c`.
    unsafe {
        for cb in 0..grp.full {
            let o = cb * V::LANES;
            let mut acc = [V::load(px.bias.add(o)); P];
            for ky in 0..K {
                let row = grp.rows[ky];
                if row.is_null() {
                    continue;
                }
                let row = row.wrapping_offset(grp.left).wrapping_add(o);
                let wk: [V; K] = core::array::from_fn(|kx| V::load(wb.add((ky * K + kx) * V::LANES)));
                // Each window column `j` a constant (`unroll12!`): left to
                // LLVM, the column loop stayed rolled with AVX-512 (its cost
                // model counts the wider vectors), `acc[p]` became a dynamic
                // index, and the accumulators lived on the stack, stored
                // after every multiply-add (20% slower: BENCHMARKS.md).
                unroll12!(j, {
                    if j < (P - 1) * S + K && (ALL || grp.inside & (1 << j) != 0) {
                        let xv = V::load(row.wrapping_add(j * c));
                        // Output `p` reads window column `j` with weight `j - p * S`.
                        for kx in 0..K {
                            if j >= kx && (j - kx) % S == 0 && (j - kx) / S < P {
                                let p = (j - kx) / S;
                                acc[p] = V::fmadd(xv, wk[kx], acc[p]);
                            }
                        }
                    }
                });
            }
            store_all(acc, px.act, res, y, grp.x0 * c + o, c);
            wb = wb.add(K * K * V::LANES);
        }
    }
}

/// What every pixel of a row shares: its channels `0..n` from where the
/// pointers (and the rows read) start, out of pixels `c` floats apart.
pub(crate) struct Pixel {
    /// Floats from one pixel to the next.
    pub(crate) c: usize,
    /// Channels computed (all `c`, or a slice of them); a tail that is not
    /// a whole vector only at the end of the pixel.
    pub(crate) n: usize,
    /// Packed `[channel block][tap][lane]`.
    pub(crate) w: *const f32,
    pub(crate) bias: *const f32,
    pub(crate) act: Option<Act>,
}

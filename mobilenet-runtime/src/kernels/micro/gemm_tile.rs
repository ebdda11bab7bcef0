//! The f32 GEMM micro-kernel: an `MR x NV` tile of outputs in registers
//! over a packed weight panel (see `gemm.rs` for the driver that walks the
//! tiles, and `entry.rs` for its one instantiation per instruction set and
//! row count).

use crate::kernels::Act;
use crate::kernels::simd::Simd;

/// One `rows x cols` output tile.
#[derive(Clone, Copy)]
pub(crate) struct Tile {
    pub(crate) k: usize,
    pub(crate) a: *const f32,
    pub(crate) lda: usize,
    /// Null, or the input offsets of the `k` inputs (see [`Gemm::koff`]).
    pub(crate) koff: *const usize,
    pub(crate) b: *const f32,
    pub(crate) bias: *const f32,
    pub(crate) act: Option<Act>,
    /// Null, or the residual tile (row stride `ldc`).
    pub(crate) res: *const f32,
    pub(crate) c: *mut f32,
    pub(crate) ldc: usize,
    /// Valid output columns, at most `2 * LANES`.
    pub(crate) cols: usize,
    /// The first slice of `k`: start from the bias (else from the partial
    /// sums in `c`).
    pub(crate) first: bool,
    /// The last slice of `k`: apply activation and residual (else store the
    /// partial sums).
    pub(crate) last: bool,
    /// Where to prefetch a cache line per `k` (`k` lines from here): weights
    /// needed next, or ones already in L1 when there is nothing to fetch.
    pub(crate) pf: *const f32,
}

/// The micro-kernel: `MR` rows of `NV` (1 or 2) vectors of outputs. A panel
/// whose valid columns fit one vector (the last of `n = 24` on AVX2) takes
/// `NV = 1` and skips the padding half.
#[inline(always)]
pub(crate) unsafe fn tile<V: Simd, const MR: usize, const NV: usize, const OFF: bool>(t: &Tile) {
    const { assert!(MR <= 12, "unroll12! walks the rows") };
    let n0 = t.cols.min(V::LANES);
    let n1 = t.cols.saturating_sub(V::LANES);
    // SAFETY: the caller's contract: the tile's `MR` rows of `k` inputs (or offsets), `k` panel rows, bias
    // and output lie within the checked lengths; loads and stores are cut to `cols`.
    unsafe {
        let (b0, b1) = (V::load(t.bias), V::load(t.bias.add(V::LANES)));
        let mut acc0 = [b0; MR];
        let mut acc1 = [b1; MR];
        if !t.first {
            for r in 0..MR {
                let c = t.c.add(r * t.ldc);
                acc0[r] = V::load_n(c, n0);
                if NV == 2 && n1 > 0 {
                    acc1[r] = V::load_n(c.add(V::LANES), n1);
                }
            }
        }
        if t.first {
            // The output lines are first written when this tile is stored:
            // ask for them now, so that the stores do not wait for lines
            // from L3. With outputs out of L2 (kernel_bench COLD_OUT=24)
            // that took 196x96->576 from 35 to 57 GMAC/s; in a network,
            // where most outputs are still in L2, it gains 1-2%.
            for r in 0..MR {
                let c = t.c.wrapping_add(r * t.ldc);
                V::prefetch_write(c);
                V::prefetch_write(c.wrapping_add((t.cols - 1).min(16)));
                V::prefetch_write(c.wrapping_add(t.cols - 1));
            }
        }
        // Rows are read through one pointer per three rows, the other two
        // at `lda` and `2 lda` from it (x86 addressing modes scale an index
        // by 1 or 2): four pointer increments per `k` for 12 rows, where a
        // pointer per row (or an offset chain) cost a dozen integer uops per
        // `k` beside the 24 multiply-adds. The rows are unrolled in source
        // (`r` a constant, `unroll12!`): a loop with `r / 3` in it stayed
        // rolled, the accumulators on the stack (3x slower at small `k`).
        let lda = t.lda;
        let mut a: [*const f32; 4] = core::array::from_fn(|q| t.a.wrapping_add(3 * q * lda));
        let mut b = t.b;
        let mut pf = t.pf;
        for kk in 0..t.k {
            V::prefetch(pf);
            // Windows read in place take input `kk` at its offset; otherwise
            // the row pointers move along the rows.
            let col = if OFF { *t.koff.add(kk) } else { 0 };
            let w0 = V::load(b);
            let w1 = if NV == 2 { V::load(b.add(V::LANES)) } else { w0 };
            unroll12!(r, {
                if r < MR {
                    let x = V::splat(*a[r / 3].add((r % 3) * lda + col));
                    acc0[r] = V::fmadd(x, w0, acc0[r]);
                    if NV == 2 {
                        acc1[r] = V::fmadd(x, w1, acc1[r]);
                    }
                }
            });
            if !OFF {
                a = [a[0].wrapping_add(1), a[1].wrapping_add(1), a[2].wrapping_add(1), a[3].wrapping_add(1)];
            }
            b = b.add(V::PANEL);
            pf = pf.wrapping_add(16);
        }
        if !t.last {
            for r in 0..MR {
                let c = t.c.add(r * t.ldc);
                acc0[r].store_n(c, n0);
                if n1 > 0 {
                    acc1[r].store_n(c.add(V::LANES), n1);
                }
            }
            return;
        }
        // Each step below is its own loop over the rows with a small body,
        // so that LLVM unrolls it and the accumulators stay in registers:
        // with the activation `match` inside one row loop, the loop stayed
        // rolled for MR = 12, and the k loop's accumulators went through the
        // stack before and after it.
        let acc0 = act_rows(acc0, t.act);
        let acc1 = if NV == 2 { act_rows(acc1, t.act) } else { acc1 };
        if !t.res.is_null() {
            for r in 0..MR {
                let res = t.res.add(r * t.ldc);
                acc0[r].add(V::load_n(res, n0)).store_n(t.c.add(r * t.ldc), n0);
                if NV == 2 && n1 > 0 {
                    acc1[r].add(V::load_n(res.add(V::LANES), n1)).store_n(t.c.add(r * t.ldc + V::LANES), n1);
                }
            }
        } else if NV == 2 && n1 == V::LANES {
            for r in 0..MR {
                acc0[r].store(t.c.add(r * t.ldc));
                acc1[r].store(t.c.add(r * t.ldc + V::LANES));
            }
        } else {
            for r in 0..MR {
                acc0[r].store_n(t.c.add(r * t.ldc), n0);
                if NV == 2 && n1 > 0 {
                    acc1[r].store_n(t.c.add(r * t.ldc + V::LANES), n1);
                }
            }
        }
    }
}

/// `act` on every vector of `v`, with the `match` outside the loops (see
/// the end of [`tile`]). Arrays go by value: taken by reference, they made
/// LLVM keep the k loop's accumulators in memory.
#[inline(always)]
unsafe fn act_rows<V: Simd, const MR: usize>(mut v: [V; MR], act: Option<Act>) -> [V; MR] {
    // SAFETY: the caller's contract: the CPU has `V`'s instructions; no memory is accessed.
    unsafe {
        match act {
            None => {}
            Some(Act::Relu) => {
                for x in &mut v {
                    *x = x.act(Act::Relu);
                }
            }
            Some(Act::Relu6) => {
                for x in &mut v {
                    *x = x.act(Act::Relu6);
                }
            }
            Some(Act::HardSigmoid) => {
                for x in &mut v {
                    *x = x.act(Act::HardSigmoid);
                }
            }
            Some(Act::HardSwish) => {
                for x in &mut v {
                    *x = x.act(Act::HardSwish);
                }
            }
            // Scalar, and only in custom heads: through a copy, so that the
            // loop that stays rolled does not pull `v` into memory.
            Some(Act::Sigmoid) => {
                let mut copy = v;
                for x in &mut copy {
                    *x = x.act(Act::Sigmoid);
                }
                v = copy;
            }
        }
        v
    }
}

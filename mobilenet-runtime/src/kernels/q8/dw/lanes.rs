//! The vector depthwise kernel of every instruction set, written once over
//! [`Lanes`] (a vector of i32 lanes, one per channel: AVX2's 8, AVX-512's
//! 16): groups of neighbouring output pixels whose windows are inside the
//! image, with a 3x3 or 5x5 kernel's weights in registers; single pixels
//! elsewhere, reading the zero point for taps outside the image.

use super::{Job, Rows};
use crate::kernels::MAX_KERNEL;
use crate::kernels::window::input_rows;

/// The scalars of a requantization.
#[derive(Clone, Copy)]
pub(super) struct Consts {
    pub(super) zp: i32,
    pub(super) lo: i32,
    pub(super) hi: i32,
    pub(super) rzp: i32,
    pub(super) rmult: f32,
}

/// Neighbouring pixels computed together (independent sums).
const GROUP: usize = 8;

/// A vector of `L` i32 lanes, one per channel.
pub(super) trait Lanes: Copy {
    const L: usize;
    /// Every lane `v`.
    unsafe fn splat(v: i32) -> Self;
    /// `L` packed weights.
    unsafe fn load(p: *const i32) -> Self;
    /// `cols` i32 (the rest zero).
    unsafe fn load_part(p: *const i32, cols: usize) -> Self;
    /// `cols` bytes, zero-extended (the rest zero).
    unsafe fn load_x(p: *const u8, cols: usize) -> Self;
    /// `acc + x * w` for `x` and `w` in the low 16 bits, high bits zero.
    unsafe fn madd(acc: Self, x: Self, w: Self) -> Self;
    /// `b - zp * s`.
    unsafe fn fold(b: Self, zp: Self, s: Self) -> Self;
    /// Requantizes `acc` with `cols` multipliers from `mult` (and the
    /// residual from `res` unless null) and stores `cols` bytes at `y`.
    unsafe fn store(acc: Self, mult: *const f32, res: *const u8, k: &Consts, y: *mut u8, cols: usize);
}

/// Output rows `rows` for vectors `T`, with the weights of a `K x K`
/// kernel in registers (`K = 0`: any kernel, weights read per tap).
///
/// # Safety
/// The lengths `depthwise` checks; `y` and the residual start at row
/// `rows.start`; the CPU has `T`'s instructions.
// `unroll12!` indexes `accs` only under `if p < GROUP`, which clippy does not see.
#[allow(clippy::out_of_bounds_indexing)]
#[inline(always)]
unsafe fn run<T: Lanes, const K: usize>(job: &Job<'_, '_>, cb0: usize, rows: Rows, y: &mut [u8]) {
    let Job { g, x, w, q } = *job;
    let (zp, bias) = (q.x_zp, q.bias);
    let c = g.cin;
    let (kh, kw) = if K > 0 { (K, K) } else { (g.kh, g.kw) };
    let taps = kh * kw;
    let (rzp, rmult) = q.residual_params();
    let k = Consts { zp: q.zp, lo: q.lo, hi: q.hi, rzp, rmult };
    let res = q.residual.map_or(core::ptr::null(), |r| r.x.as_ptr());
    let (xp, wp, bp, mp, yp) = (x.as_ptr(), w.as_ptr(), bias.as_ptr(), q.mult.as_ptr(), y.as_mut_ptr());
    let first = rows.start;
    // The outputs whose windows are inside the image horizontally: `ox_begin..ox_end`.
    let ox_begin = g.pad_left.div_ceil(g.sw);
    let ox_end = if g.w + g.pad_left >= kw { ((g.w + g.pad_left - kw) / g.sw + 1).min(g.ow) } else { 0 };
    // SAFETY: every read is within `x`, `w`, `bias`, `mult` and the residual, every write within `y` (the
    // lengths `depthwise` checked): inputs are read only at pixels inside the image, `cols` channels of them.
    unsafe {
        let zpv = T::splat(zp);
        for oy in rows {
            let rowp = input_rows::<u8, MAX_KERNEL>(g, xp, oy, kh);
            let rows_inside = rowp[..kh].iter().all(|r| !r.is_null());
            let out_row = (oy - first) * g.ow * c;
            for cb in cb0..c.div_ceil(T::L) {
                let c0 = cb * T::L;
                let cols = T::L.min(c - c0);
                let wb = wp.add(cb * (taps + 1) * T::L);
                let mut wr = [T::splat(0); 25];
                if K > 0 {
                    for (t, v) in wr.iter_mut().enumerate().take(taps) {
                        *v = T::load(wb.add(t * T::L));
                    }
                }
                let b0 = T::fold(T::load_part(bp.add(c0), cols), zpv, T::load(wb.add(taps * T::L)));
                let mut ox = 0;
                while ox < g.ow {
                    // Groups of `GROUP` neighbouring pixels whose windows are all in the image: independent
                    // sums, so the multiply-adds overlap (one pixel at a time waits on its chain of taps).
                    if K > 0 && rows_inside && ox + GROUP <= ox_end && ox >= ox_begin {
                        let mut accs = [b0; GROUP];
                        let at0 = (ox * g.sw - g.pad_left) * c + c0;
                        unroll12!(t, {
                            if t < K * K {
                                let r = rowp[t / K].add(at0 + (t % K) * c);
                                unroll12!(p, {
                                    if p < GROUP {
                                        let xv = T::load_x(r.add(p * g.sw * c), cols);
                                        accs[p] = T::madd(accs[p], xv, wr[t]);
                                    }
                                });
                            }
                        });
                        if K * K > 12 {
                            for (t, &wt) in wr.iter().enumerate().take(K * K).skip(12) {
                                let r = rowp[t / K].add(at0 + (t % K) * c);
                                for (p, a) in accs.iter_mut().enumerate() {
                                    *a = T::madd(*a, T::load_x(r.add(p * g.sw * c), cols), wt);
                                }
                            }
                        }
                        for (p, &a) in accs.iter().enumerate() {
                            let at = out_row + (ox + p) * c + c0;
                            let rr = if res.is_null() { res } else { res.add(at) };
                            T::store(a, mp.add(c0), rr, &k, yp.add(at), cols);
                        }
                        ox += GROUP;
                        continue;
                    }
                    let ix0 = (ox * g.sw) as isize - g.pad_left as isize;
                    let inside = ix0 >= 0 && ix0 as usize + kw <= g.w;
                    let mut acc = b0;
                    if inside && rows_inside {
                        // The common case: the whole window in the image.
                        let at = ix0 as usize * c + c0;
                        for (ky, &r) in rowp.iter().enumerate().take(kh) {
                            for kx in 0..kw {
                                let t = ky * kw + kx;
                                let wv = if K > 0 { wr[t] } else { T::load(wb.add(t * T::L)) };
                                acc = T::madd(acc, T::load_x(r.add(at + kx * c), cols), wv);
                            }
                        }
                        let at = out_row + ox * c + c0;
                        let rr = if res.is_null() { res } else { res.add(at) };
                        T::store(acc, mp.add(c0), rr, &k, yp.add(at), cols);
                        ox += 1;
                        continue;
                    }
                    for (ky, &r) in rowp.iter().enumerate().take(kh) {
                        for kx in 0..kw {
                            let t = ky * kw + kx;
                            let wv = if K > 0 { wr[t] } else { T::load(wb.add(t * T::L)) };
                            let ix = ix0 + kx as isize;
                            let xv = if !r.is_null() && (inside || (ix >= 0 && (ix as usize) < g.w)) {
                                T::load_x(r.add(ix as usize * c + c0), cols)
                            } else {
                                zpv
                            };
                            acc = T::madd(acc, xv, wv);
                        }
                    }
                    let at = out_row + ox * c + c0;
                    let rr = if res.is_null() { res } else { res.add(at) };
                    T::store(acc, mp.add(c0), rr, &k, yp.add(at), cols);
                    ox += 1;
                }
            }
        }
    }
}

/// [`run`] for the kernel sizes with weights in registers, else any.
///
/// # Safety
/// As [`run`].
#[inline(always)]
pub(super) unsafe fn sizes<T: Lanes>(job: &Job<'_, '_>, cb0: usize, rows: Rows, y: &mut [u8]) {
    let g = job.g;
    // SAFETY: the caller's contract.
    unsafe {
        match (g.kh, g.kw) {
            (3, 3) => run::<T, 3>(job, cb0, rows, y),
            (5, 5) => run::<T, 5>(job, cb0, rows, y),
            _ => run::<T, 0>(job, cb0, rows, y),
        }
    }
}

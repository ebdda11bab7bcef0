//! Depthwise convolution (multiplier 1), vectorized over channels.
//!
//! Packed weights are `i32`:
//!
//! * portable: `[taps][c]`, the weights as given;
//! * AVX2 / AVX-512 VNNI: blocks of `L` = 8 / 16 channels, `[c / L][taps +
//!   1][L]`, each weight in the low 16 bits of its lane (high bits zero),
//!   so that `vpmaddwd` with a lane holding an input byte (zero-extended)
//!   is the exact product; row `taps` holds each channel's sum of weights.
//!
//! The vector kernels never subtract the input's zero point per tap: a tap
//! outside the image reads `zp` instead of a pixel, so every window has all
//! `taps` inputs, and `sum (x - zp) * w = sum x * w - zp * sum w`, the last
//! term folded into the bias once per block (exact in i32).

use super::isa::{Kind, QIsa, QLayout};
use super::{Requant, requant_run};
use crate::exec::Exec;
use crate::kernels::{ConvGeom, MAX_KERNEL, par};

/// Channels per block of `isa`'s packing (1: not blocked).
const fn lanes(isa: QLayout) -> usize {
    match isa.0 {
        Kind::Portable => 1,
        Kind::Avx2 => 8,
        Kind::Avx512Vnni => 16,
    }
}

/// `i32`s of packed weights for `taps` taps of `c` channels.
pub fn depthwise_packed_len(isa: impl Into<QLayout>, taps: usize, c: usize) -> usize {
    let isa = isa.into();
    match lanes(isa) {
        1 => taps * c,
        l => c.next_multiple_of(l) * (taps + 1) + tap_packed_len(isa, taps, c),
    }
}

/// `i32`s of the second copy of 3x3 weights that the 3x3 kernels read (0
/// for other tap counts or the portable kernel):
///
/// * AVX-512 VNNI, per block of 64 channels (the last padded with zeros):
///   `[kx = 3][j = 4][16]` dwords, dword `d = 4 * l + i` of vector `j`
///   holding channel `16 * l + 4 * j + i`'s weights of rows `ky = 0, 1, 2`
///   in its bytes 0, 1, 2 (byte 3 zero), the order in which the kernel
///   interleaves 3 input rows (`vpunpck{l,h}bw`, then `vpunpck{l,h}wd`) to
///   feed `vpdpbusd`;
/// * AVX2, per whole block of 8 channels: `[kx = 3][2][8]` dwords, the
///   first vector holding rows 0 and 1 as an i16 pair (`w0 | w1 << 16`),
///   the second row 2 (high half zero), for `vpmaddwd` with an input
///   column whose rows 0 and 1 are interleaved the same way.
const fn tap_packed_len(isa: QLayout, taps: usize, c: usize) -> usize {
    match (isa.0, taps) {
        (Kind::Avx512Vnni, 9) => c.div_ceil(64) * 192,
        (Kind::Avx2, 9) => c / 8 * 48,
        _ => 0,
    }
}

/// Packs `[taps][c]` depthwise weights `w` (tap `t = ky * kw + kx`) for
/// `isa` into `out[..depthwise_packed_len(isa, taps, c)]`.
///
/// # Panics
/// If a slice is too short.
pub fn pack_depthwise(isa: impl Into<QLayout>, w: &[i8], taps: usize, c: usize, out: &mut [i32]) {
    let isa = isa.into();
    let len = depthwise_packed_len(isa, taps, c);
    assert!(w.len() >= taps * c && out.len() >= len, "slices too short");
    let out = &mut out[..len];
    let l = lanes(isa);
    if l == 1 {
        for (o, &v) in out.iter_mut().zip(w) {
            *o = v as i32;
        }
        return;
    }
    out.fill(0);
    for t in 0..taps {
        for ch in 0..c {
            let (b, lane) = (ch / l, ch % l);
            let v = w[t * c + ch];
            out[(b * (taps + 1) + t) * l + lane] = v as i16 as u16 as i32;
            out[(b * (taps + 1) + taps) * l + lane] += v as i32;
        }
    }
    let base = c.next_multiple_of(l) * (taps + 1);
    let tap = |ky: usize, kx: usize, ch: usize| w[(ky * 3 + kx) * c + ch];
    if isa.0 == Kind::Avx2 {
        for blk in 0..tap_packed_len(isa, taps, c) / 48 {
            for kx in 0..3 {
                for lane in 0..8 {
                    let ch = blk * 8 + lane;
                    let at = base + blk * 48 + kx * 16 + lane;
                    out[at] = (tap(0, kx, ch) as u16 as u32 | (tap(1, kx, ch) as u16 as u32) << 16) as i32;
                    out[at + 8] = tap(2, kx, ch) as u16 as i32;
                }
            }
        }
        return;
    }
    for blk in 0..tap_packed_len(isa, taps, c) / 192 {
        for kx in 0..3 {
            for j in 0..4 {
                for d in 0..16 {
                    let ch = blk * 64 + 16 * (d / 4) + 4 * j + d % 4;
                    let b = |ky: usize| if ch < c { tap(ky, kx, ch) as u8 as u32 } else { 0 };
                    let v = b(0) | b(1) << 8 | b(2) << 16;
                    out[base + blk * 192 + (kx * 4 + j) * 16 + d] = v as i32;
                }
            }
        }
    }
}

/// Depthwise convolution with one output per input channel (`g.cin ==
/// g.cout`): `y[oy][ox][ch] = requant(bias[ch] + sum over the taps inside
/// the image of (x - x_zp) * w[tap][ch])` with `out`. `w` is packed by
/// [`pack_depthwise`] for the same `isa`. Output rows are split between the
/// parts of `e`.
///
/// # Panics
/// If the multiplier is not 1, the kernel is larger than [`MAX_KERNEL`], a
/// stride is 0, `x_zp` is not a byte, or a slice is too short.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    e: &dyn Exec,
    isa: QIsa,
    g: &ConvGeom,
    x: &[u8],
    x_zp: i32,
    w: &[i32],
    bias: &[i32],
    out: &Requant<'_>,
    y: &mut [u8],
) {
    assert!(g.cin == g.cout && g.cin > 0, "depthwise multiplier 1");
    assert!(g.kh > 0 && g.kw > 0 && g.kh <= MAX_KERNEL && g.kw <= MAX_KERNEL, "kernel size");
    assert!(g.sh > 0 && g.sw > 0, "stride");
    assert!((0..=255).contains(&x_zp), "input zero point is a byte");
    let c = g.cin;
    assert!(x.len() >= g.h * g.w * c && y.len() >= g.oh * g.ow * c, "input or output too short");
    assert!(w.len() >= depthwise_packed_len(isa, g.kh * g.kw, c) && bias.len() >= c, "weights or bias too short");
    out.check(c, g.oh * g.ow * c);
    let row = g.ow * c;
    let (b, parts) = par::bounds(g.oh, e.threads(), 1);
    par::run(e, &mut y[..g.oh * row], &b, parts, row, &|part, y| {
        let rows = b[part]..b[part + 1];
        let q = out.from(rows.start * row);
        match isa.0 {
            Kind::Portable => portable(g, rows, x, x_zp, w, bias, &q, y),
            // SAFETY: lengths checked above (`y` and the residual start at row `rows.start`); `isa` proves the
            // CPU has the instructions.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => unsafe { x86::avx2(g, rows, x, x_zp, w, bias, &q, y) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx512Vnni => unsafe { x86::avx512(g, rows, x, x_zp, w, bias, &q, y) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("no such instruction set on this target"),
        }
    });
}

type Rows = core::ops::Range<usize>;

/// Output rows `rows` of the portable kernel; `y` and the residual start at
/// row `rows.start`.
#[allow(clippy::too_many_arguments)]
fn portable(g: &ConvGeom, rows: Rows, x: &[u8], zp: i32, w: &[i32], bias: &[i32], q: &Requant<'_>, y: &mut [u8]) {
    const CHUNK: usize = 64;
    let c = g.cin;
    let first = rows.start;
    for oy in rows {
        for ox in 0..g.ow {
            let at = ((oy - first) * g.ow + ox) * c;
            let mut c0 = 0;
            while c0 < c {
                let cw = CHUNK.min(c - c0);
                let mut acc = [0i32; CHUNK];
                let acc = &mut acc[..cw];
                acc.copy_from_slice(&bias[c0..c0 + cw]);
                for ky in 0..g.kh {
                    let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    for kx in 0..g.kw {
                        let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                        if ix < 0 || ix >= g.w as isize {
                            continue;
                        }
                        let xs = &x[(iy as usize * g.w + ix as usize) * c + c0..][..cw];
                        let ws = &w[(ky * g.kw + kx) * c + c0..][..cw];
                        for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                            *a += (xv as i32 - zp) * wv;
                        }
                    }
                }
                requant_run(acc, q, c0, at + c0, &mut y[at + c0..at + c0 + cw]);
                c0 += cw;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::{ConvGeom, MAX_KERNEL, Rows};
    use crate::kernels::q8::avx2::{Requantizer, load_f32, load_i32, load_u8, store_u8};
    use crate::kernels::q8::{MAGIC, MAGIC_BITS, Requant, even};

    /// The scalars of a requantization.
    #[derive(Clone, Copy)]
    struct Consts {
        zp: i32,
        lo: i32,
        hi: i32,
        rzp: i32,
        rmult: f32,
    }

    /// Neighbouring pixels computed together (independent sums).
    const GROUP: usize = 8;

    /// A vector of `L` i32 lanes, one per channel.
    trait V: Copy {
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

    /// The first pixel of each of the `kh` (`<= N`) input rows that output
    /// row `oy`'s windows read, null for a row outside the image (and past
    /// `kh`).
    #[inline(always)]
    fn input_rows<const N: usize>(g: &ConvGeom, x: *const u8, oy: usize, kh: usize) -> [*const u8; N] {
        let mut rows = [core::ptr::null(); N];
        for (ky, r) in rows.iter_mut().enumerate().take(kh) {
            let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
            if iy >= 0 && (iy as usize) < g.h {
                *r = x.wrapping_add(iy as usize * g.w * g.cin);
            }
        }
        rows
    }

    /// Output rows `rows` for vectors `T`, with the weights of a `K x K`
    /// kernel in registers (`K = 0`: any kernel, weights read per tap).
    ///
    /// # Safety
    /// The lengths `depthwise` checks; `y` and the residual start at row
    /// `rows.start`; the CPU has `T`'s instructions.
    // `unroll12!` indexes `accs` only under `if p < GROUP`, which clippy does not see.
    #[allow(clippy::too_many_arguments, clippy::out_of_bounds_indexing)]
    #[inline(always)]
    unsafe fn run<T: V, const K: usize>(
        g: &ConvGeom,
        cb0: usize,
        rows: Rows,
        x: &[u8],
        zp: i32,
        w: &[i32],
        bias: &[i32],
        q: &Requant<'_>,
        y: &mut [u8],
    ) {
        let c = g.cin;
        let (kh, kw) = if K > 0 { (K, K) } else { (g.kh, g.kw) };
        let taps = kh * kw;
        let k = Consts {
            zp: q.zp,
            lo: q.lo,
            hi: q.hi,
            rzp: q.residual.map_or(0, |r| r.zp),
            rmult: q.residual.map_or(0.0, |r| r.mult),
        };
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
                let rowp = input_rows::<MAX_KERNEL>(g, xp, oy, kh);
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

    /// Channels of the blocks whose bias and multipliers [`taps3`] permutes at a time.
    const CHUNK: usize = 1024;

    /// 3 input rows of 64 channels (`r2` last) interleaved for `vpdpbusd`:
    /// vector `j`'s dword `4 * l + i` holds channel `16 * l + 4 * j + i` of
    /// the rows in bytes 0, 1, 2 (byte 3 zero), as [`super::pack_depthwise`]
    /// packs the weights.
    #[inline(always)]
    unsafe fn interleave(r0: __m512i, r1: __m512i, r2: __m512i) -> [__m512i; 4] {
        // SAFETY: callers run with AVX-512 BW.
        unsafe {
            let z = _mm512_setzero_si512();
            let (lo01, hi01) = (_mm512_unpacklo_epi8(r0, r1), _mm512_unpackhi_epi8(r0, r1));
            let (lo2, hi2) = (_mm512_unpacklo_epi8(r2, z), _mm512_unpackhi_epi8(r2, z));
            [
                _mm512_unpacklo_epi16(lo01, lo2),
                _mm512_unpackhi_epi16(lo01, lo2),
                _mm512_unpacklo_epi16(hi01, hi2),
                _mm512_unpackhi_epi16(hi01, hi2),
            ]
        }
    }

    /// 3x3 kernels, horizontal stride `S`, on the first `blocks` blocks of
    /// 64 channels (the last one masked to the channels there are): the 3 rows of a window's input column are interleaved once
    /// ([`interleave`]) and shared by the (up to 3) output pixels whose
    /// windows hold the column, and each `vpdpbusd` sums the 3 rows' taps of
    /// 16 channels (48 multiply-adds; the old path did 16 per instruction,
    /// plus a widening per 16 channels and tap). The accumulators hold the
    /// channels in the interleaved order; the bias and multipliers are
    /// permuted to it once per call, and the requantized vectors are packed
    /// back to channel order with `vpackssdw` / `vpackuswb` (in-lane, which
    /// undoes exactly the in-lane unpacking). A column outside the image
    /// reads `zp` in all three rows, as does a row outside the image.
    ///
    /// # Safety
    /// As [`run`]; `g` is 3x3, `blocks <= c.div_ceil(64)`, `w` holds the weights of
    /// [`super::tap_packed_len`]; the CPU has AVX-512 F, BW, VL and VNNI.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn taps3<const S: usize>(
        g: &ConvGeom,
        blocks: usize,
        rows: Rows,
        x: &[u8],
        zp: i32,
        w: &[i32],
        bias: &[i32],
        q: &Requant<'_>,
        y: &mut [u8],
    ) {
        let c = g.cin;
        let sums = |ch: usize| w[(ch / 16 * 10 + 9) * 16 + ch % 16];
        let base = c.next_multiple_of(16) * 10;
        let res = q.residual.map_or(core::ptr::null(), |r| r.x.as_ptr());
        let (rzp, rmult) = q.residual.map_or((0, 0.0), |r| (r.zp, r.mult));
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        let first = rows.start;
        let mut pb = [0i32; CHUNK];
        let mut pm = [0f32; CHUNK];
        let mut chunk0 = 0;
        // SAFETY: inputs are read at pixels inside the image, the channels `c0..c0 + 64` of them below `c`
        // (masked), weights within the second copy `pack_depthwise` writes for `c.div_ceil(64)` blocks, outputs
        // and residual at pixels of `rows`, the same channels: all within the lengths `depthwise` checked.
        unsafe {
            let zpv = _mm512_set1_epi8(zp as u8 as i8);
            let zcol = interleave(zpv, zpv, zpv);
            let lo = _mm512_set1_ps((q.lo - q.zp) as f32);
            let hi = _mm512_set1_ps((q.hi - q.zp) as f32);
            let ozp = _mm512_set1_epi16(q.zp as i16);
            let (rzpv, rmv) = (_mm512_set1_epi32(rzp), _mm512_set1_ps(rmult));
            // Residual bytes to the accumulators' order: dword `4 * l + i` of vector `j` takes byte `4 * j + i`
            // of lane `l` (zero-extended).
            let sel: [__m512i; 4] = core::array::from_fn(|j| {
                let b = (4 * j) as i32 | 0x8080_8000_u32 as i32;
                _mm512_add_epi32(_mm512_set1_epi32(b), _mm512_set4_epi32(3, 2, 1, 0))
            });
            while chunk0 < blocks * 64 {
                let n = CHUNK.min(blocks * 64 - chunk0);
                for (k, (b, m)) in pb.iter_mut().zip(pm.iter_mut()).enumerate().take(n) {
                    let (blk, j, d) = (k / 64, k % 64 / 16, k % 16);
                    let ch = chunk0 + blk * 64 + 16 * (d / 4) + 4 * j + d % 4;
                    (*b, *m) =
                        if ch < c { (bias[ch].wrapping_sub(zp.wrapping_mul(sums(ch))), q.mult[ch]) } else { (0, 0.0) };
                }
                for oy in rows.clone() {
                    let rowp = input_rows::<3>(g, xp, oy, 3);
                    let out_row = (oy - first) * g.ow * c;
                    for blk in 0..n / 64 {
                        let c0 = chunk0 + blk * 64;
                        let wb = w.as_ptr().add(base + c0 / 64 * 192);
                        let wv: [[__m512i; 4]; 3] = core::array::from_fn(|kx| {
                            core::array::from_fn(|j| _mm512_loadu_si512(wb.add((kx * 4 + j) * 16).cast()))
                        });
                        let b0: [__m512i; 4] =
                            core::array::from_fn(|j| _mm512_loadu_si512(pb.as_ptr().add(blk * 64 + j * 16).cast()));
                        let pmb = pm.as_ptr().add(blk * 64);
                        // The block's channels (the last block may have fewer than 64).
                        let mask = if c - c0 >= 64 { u64::MAX } else { (1u64 << (c - c0)) - 1 };
                        let row = |r: *const u8, ix: usize| {
                            if r.is_null() { zpv } else { _mm512_maskz_loadu_epi8(mask, r.add(ix * c + c0).cast()) }
                        };
                        let col = |ix: isize| {
                            if ix < 0 || ix as usize >= g.w {
                                zcol
                            } else {
                                let ix = ix as usize;
                                interleave(row(rowp[0], ix), row(rowp[1], ix), row(rowp[2], ix))
                            }
                        };
                        let mut ix = -(g.pad_left as isize);
                        let (mut v0, mut v1, mut v2) = (col(ix), col(ix + 1), col(ix + 2));
                        for ox in 0..g.ow {
                            if ox > 0 {
                                ix += S as isize;
                                if S == 1 {
                                    (v0, v1, v2) = (v1, v2, col(ix + 2));
                                } else {
                                    (v0, v1, v2) = (v2, col(ix + 1), col(ix + 2));
                                }
                            }
                            let mut acc = b0;
                            for (j, a) in acc.iter_mut().enumerate() {
                                *a = _mm512_dpbusd_epi32(*a, v0[j], wv[0][j]);
                                *a = _mm512_dpbusd_epi32(*a, v1[j], wv[1][j]);
                                *a = _mm512_dpbusd_epi32(*a, v2[j], wv[2][j]);
                            }
                            let at = out_row + ox * c + c0;
                            let rv = if res.is_null() {
                                None
                            } else {
                                Some(_mm512_maskz_loadu_epi8(mask, res.add(at).cast()))
                            };
                            let mut e = [_mm512_setzero_si512(); 4];
                            for j in 0..4 {
                                let mut f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[j]), _mm512_loadu_ps(pmb.add(j * 16)));
                                if let Some(rv) = rv {
                                    // Dword `4 * l + i` of vector `j` takes byte `4 * j + i` of lane `l`.
                                    let r = _mm512_sub_epi32(_mm512_shuffle_epi8(rv, sel[j]), rzpv);
                                    f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(r), rmv));
                                }
                                let f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
                                e[j] = _mm512_cvtps_epi32(f);
                            }
                            // Lane `l`: channels 16l..16l+8, then 16l+8..16l+16 (values within `lo - zp..=hi - zp`).
                            let ab = _mm512_add_epi16(_mm512_packs_epi32(e[0], e[1]), ozp);
                            let cd = _mm512_add_epi16(_mm512_packs_epi32(e[2], e[3]), ozp);
                            _mm512_mask_storeu_epi8(yp.add(at).cast(), mask, _mm512_packus_epi16(ab, cd));
                        }
                    }
                }
                chunk0 += n;
            }
        }
    }

    /// Bytes of input columns [`taps3_avx2`] keeps in L1 at a time.
    const L1_SPAN: usize = 16 * 1024;

    /// 3x3 kernels on AVX2, horizontal stride `S`, on the `blocks` of 8
    /// channels, `NB` (1 or 2) at a time: an input column's rows
    /// 0 and 1 are interleaved into i16 pairs and its row 2 widened to
    /// dwords once, and shared by the (up to 3) output pixels whose windows
    /// hold the column; each `vpmaddwd` then sums two rows' taps of 8
    /// channels (a window takes 6, where the general path takes 9 and
    /// widens each of its 9 inputs per output). Two blocks at a time read
    /// each row's 16 bytes with one load and requantize the pair with one
    /// packing and store. A column outside the image, and a row outside it,
    /// read `zp`.
    ///
    /// # Safety
    /// As [`run`]; `g` is 3x3, `blocks.end <= c / 8`, `blocks.len()` a multiple of `NB`, `w`
    /// holds the weights of [`super::tap_packed_len`]; the CPU has AVX2.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2")]
    unsafe fn taps3_avx2<const S: usize, const NB: usize>(
        g: &ConvGeom,
        blocks: core::ops::Range<usize>,
        rows: Rows,
        x: &[u8],
        zp: i32,
        w: &[i32],
        bias: &[i32],
        q: &Requant<'_>,
        y: &mut [u8],
    ) {
        const { assert!(NB == 1 || NB == 2, "one or two blocks at a time") };
        let c = g.cin;
        let base = c.next_multiple_of(8) * 10;
        let res = q.residual.map_or(core::ptr::null(), |r| r.x.as_ptr());
        let (xp, wp, mp, yp) = (x.as_ptr(), w.as_ptr(), q.mult.as_ptr(), y.as_mut_ptr());
        let first = rows.start;
        // SAFETY: inputs are read at pixels inside the image, `8 * NB` channels of whole blocks below `c`;
        // weights within the blocks `pack_depthwise` writes (`c / 8` of them, and the sums of the first layout);
        // bias, multipliers, outputs and residual at those channels of the pixels of `rows`: all within the
        // lengths `depthwise` checked.
        unsafe {
            let rq =
                Requantizer::new(q.zp, q.lo, q.hi, q.residual.map_or(0, |r| r.zp), q.residual.map_or(0.0, |r| r.mult));
            let zpb = _mm_set1_epi8(zp as u8 as i8);
            let zcol = [_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(zpb, zpb)), _mm256_cvtepu8_epi32(zpb)];
            let zcols = [zcol; NB];
            let zpv = _mm256_set1_epi32(zp);
            for oy in rows {
                let rowp = input_rows::<3>(g, xp, oy, 3);
                let out_row = (oy - first) * g.ow * c;
                // Spans of outputs whose input columns (3 rows of all channels) stay in L1 while every block
                // passes over them: one sweep of a whole row per block read 56x56x96 from L2 eight times.
                let span = (L1_SPAN / (3 * S * c)).max(8);
                for (ox0, oxs) in even(0, g.ow, span) {
                    for blk in blocks.clone().step_by(NB) {
                        let c0 = blk * 8;
                        let wv: [[[__m256i; 2]; 3]; NB] = core::array::from_fn(|b| {
                            let wb = wp.add(base + (blk + b) * 48);
                            core::array::from_fn(|kx| {
                                core::array::from_fn(|h| _mm256_loadu_si256(wb.add((kx * 2 + h) * 8).cast()))
                            })
                        });
                        let b0: [__m256i; NB] = core::array::from_fn(|b| {
                            let sums = _mm256_loadu_si256(wp.add(((blk + b) * 10 + 9) * 8).cast());
                            _mm256_sub_epi32(
                                _mm256_loadu_si256(bias.as_ptr().add(c0 + b * 8).cast()),
                                _mm256_mullo_epi32(zpv, sums),
                            )
                        });
                        let mult: [__m256; NB] = core::array::from_fn(|b| _mm256_loadu_ps(mp.add(c0 + b * 8)));
                        // Row `r`'s bytes of the blocks at column `ix` (the low 8 for one block).
                        let row = |r: *const u8, ix: usize| {
                            if r.is_null() {
                                zpb
                            } else if NB == 2 {
                                _mm_loadu_si128(r.add(ix * c + c0).cast())
                            } else {
                                _mm_loadl_epi64(r.add(ix * c + c0).cast())
                            }
                        };
                        let col = |ix: isize| {
                            if ix < 0 || ix as usize >= g.w {
                                zcols
                            } else {
                                let ix = ix as usize;
                                let (r0, r1, r2) = (row(rowp[0], ix), row(rowp[1], ix), row(rowp[2], ix));
                                let mut v =
                                    [[_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(r0, r1)), _mm256_cvtepu8_epi32(r2)]; NB];
                                if NB == 2 {
                                    v[NB - 1] = [
                                        _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(r0, r1)),
                                        _mm256_cvtepu8_epi32(_mm_srli_si128::<8>(r2)),
                                    ];
                                }
                                v
                            }
                        };
                        let mut ix = (ox0 * S) as isize - g.pad_left as isize;
                        let (mut v0, mut v1, mut v2) = (col(ix), col(ix + 1), col(ix + 2));
                        for ox in ox0..ox0 + oxs {
                            if ox > ox0 {
                                ix += S as isize;
                                if S == 1 {
                                    (v0, v1, v2) = (v1, v2, col(ix + 2));
                                } else {
                                    (v0, v1, v2) = (v2, col(ix + 1), col(ix + 2));
                                }
                            }
                            let at = out_row + ox * c + c0;
                            let mut out = [_mm256_setzero_si256(); NB];
                            for b in 0..NB {
                                let mut acc = b0[b];
                                for (v, wk) in [v0[b], v1[b], v2[b]].iter().zip(&wv[b]) {
                                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v[0], wk[0]));
                                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v[1], wk[1]));
                                }
                                let r = (!res.is_null()).then(|| _mm_loadl_epi64(res.add(at + b * 8).cast()));
                                out[b] = rq.scale(acc, mult[b], r);
                            }
                            let bytes = rq.pack(out[0], out[NB - 1]);
                            if NB == 2 {
                                _mm_storeu_si128(yp.add(at).cast(), bytes);
                            } else {
                                _mm_storel_epi64(yp.add(at).cast(), bytes);
                            }
                        }
                    }
                }
            }
        }
    }

    /// [`taps3_avx2`] on blocks `0..blocks`: two at a time, then an odd
    /// last one alone.
    ///
    /// # Safety
    /// As [`taps3_avx2`].
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2")]
    unsafe fn taps3_avx2_blocks<const S: usize>(
        g: &ConvGeom,
        blocks: usize,
        rows: Rows,
        x: &[u8],
        zp: i32,
        w: &[i32],
        bias: &[i32],
        q: &Requant<'_>,
        y: &mut [u8],
    ) {
        let pairs = blocks / 2 * 2;
        // SAFETY: the caller's contract; `0..pairs` has an even length.
        unsafe {
            taps3_avx2::<S, 2>(g, 0..pairs, rows.clone(), x, zp, w, bias, q, y);
            if pairs < blocks {
                taps3_avx2::<S, 1>(g, pairs..blocks, rows, x, zp, w, bias, q, y);
            }
        }
    }

    /// [`run`] for the kernel sizes with weights in registers, else any.
    ///
    /// # Safety
    /// As [`run`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn sizes<T: V>(
        g: &ConvGeom,
        cb0: usize,
        rows: Rows,
        x: &[u8],
        zp: i32,
        w: &[i32],
        bias: &[i32],
        q: &Requant<'_>,
        y: &mut [u8],
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            match (g.kh, g.kw) {
                (3, 3) => run::<T, 3>(g, cb0, rows, x, zp, w, bias, q, y),
                (5, 5) => run::<T, 5>(g, cb0, rows, x, zp, w, bias, q, y),
                _ => run::<T, 0>(g, cb0, rows, x, zp, w, bias, q, y),
            }
        }
    }

    /// The AVX-512 kernel.
    ///
    /// # Safety
    /// As [`run`]; the CPU has AVX-512 F, BW, VL and VNNI.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn avx512(
        g: &ConvGeom,
        rows: Rows,
        x: &[u8],
        zp: i32,
        w: &[i32],
        bias: &[i32],
        q: &Requant<'_>,
        y: &mut [u8],
    ) {
        // SAFETY: the caller's contract; this function's features are the vector types'.
        unsafe {
            // (The packing adds the output zero point in 16 bits.)
            // Blocks of 64 channels for `taps3`; a last block of up to 16 channels goes to the general path
            // (as a masked block of 64 it costs 4 times its work: 56x56x144 took 0.090 ms, 0.079 this way).
            let c = g.cin;
            let blocks = if c % 64 > 16 { c.div_ceil(64) } else { c / 64 };
            let blocks = if g.kh == 3 && g.kw == 3 && (0..=255).contains(&q.zp) { blocks } else { 0 };
            match g.sw {
                1 if blocks > 0 => taps3::<1>(g, blocks, rows.clone(), x, zp, w, bias, q, y),
                2 if blocks > 0 => taps3::<2>(g, blocks, rows.clone(), x, zp, w, bias, q, y),
                _ => return sizes::<__m512i>(g, 0, rows, x, zp, w, bias, q, y),
            }
            if blocks * 64 < c {
                sizes::<__m512i>(g, blocks * 4, rows, x, zp, w, bias, q, y);
            }
        }
    }

    /// The AVX2 kernel.
    ///
    /// # Safety
    /// As [`run`]; the CPU has AVX2.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(
        g: &ConvGeom,
        rows: Rows,
        x: &[u8],
        zp: i32,
        w: &[i32],
        bias: &[i32],
        q: &Requant<'_>,
        y: &mut [u8],
    ) {
        // SAFETY: the caller's contract; this function's features are the vector type's.
        unsafe {
            // Whole blocks of 8 channels in the 3x3 kernel, then the channels of no whole block.
            let blocks = if g.kh == 3 && g.kw == 3 { g.cin / 8 } else { 0 };
            match g.sw {
                1 if blocks > 0 => taps3_avx2_blocks::<1>(g, blocks, rows.clone(), x, zp, w, bias, q, y),
                2 if blocks > 0 => taps3_avx2_blocks::<2>(g, blocks, rows.clone(), x, zp, w, bias, q, y),
                _ => return sizes::<__m256i>(g, 0, rows, x, zp, w, bias, q, y),
            }
            if blocks * 8 < g.cin {
                sizes::<__m256i>(g, blocks, rows, x, zp, w, bias, q, y);
            }
        }
    }

    /// `acc + x * w` (pairs of i16 products) with `vpdpwssd`: the
    /// `vpmaddwd` and the add in one instruction (exact, not the saturating
    /// `vpdpwssds`). In assembly because LLVM splits the intrinsic back into
    /// the two instructions for a generic x86-64 target (a third more
    /// instructions per tap in the depthwise loops).
    ///
    /// # Safety
    /// The CPU has AVX-512 F and VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    #[inline]
    unsafe fn dpwssd(acc: __m512i, x: __m512i, w: __m512i) -> __m512i {
        let mut a = acc;
        // SAFETY: a register-only instruction of the enabled features.
        unsafe {
            core::arch::asm!(
                "vpdpwssd {a}, {x}, {w}",
                a = inout(zmm_reg) a,
                x = in(zmm_reg) x,
                w = in(zmm_reg) w,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        a
    }

    /// The first `n` of 16 lanes.
    #[inline(always)]
    fn mask16(n: usize) -> u16 {
        if n >= 16 { 0xFFFF } else { (1u16 << n) - 1 }
    }

    // SAFETY (of every method): callers pass pointers valid for the lanes
    // they name and run with AVX-512 F, BW, VL and VNNI.
    impl V for __m512i {
        const L: usize = 16;
        #[inline(always)]
        unsafe fn splat(v: i32) -> Self {
            // SAFETY: callers run with AVX-512 (the trait's contract).
            unsafe { _mm512_set1_epi32(v) }
        }
        #[inline(always)]
        unsafe fn load(p: *const i32) -> Self {
            // SAFETY: 16 lanes at `p` (the caller's contract).
            unsafe { _mm512_loadu_si512(p.cast()) }
        }
        #[inline(always)]
        unsafe fn load_part(p: *const i32, cols: usize) -> Self {
            // SAFETY: `cols` lanes at `p`; the others are masked off.
            unsafe { _mm512_maskz_loadu_epi32(mask16(cols), p) }
        }
        #[inline(always)]
        unsafe fn load_x(p: *const u8, cols: usize) -> Self {
            // SAFETY: `cols` bytes at `p`; the others are masked off.
            unsafe {
                if cols == 16 {
                    _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast()))
                } else {
                    _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask16(cols), p.cast()))
                }
            }
        }
        #[inline(always)]
        unsafe fn madd(acc: Self, x: Self, w: Self) -> Self {
            // SAFETY: callers run with AVX-512 VNNI (the trait's contract).
            unsafe { dpwssd(acc, x, w) }
        }
        #[inline(always)]
        unsafe fn fold(b: Self, zp: Self, s: Self) -> Self {
            // SAFETY: callers run with AVX-512 (the trait's contract).
            unsafe { _mm512_sub_epi32(b, _mm512_mullo_epi32(zp, s)) }
        }
        #[inline(always)]
        unsafe fn store(acc: Self, mult: *const f32, res: *const u8, k: &Consts, y: *mut u8, cols: usize) {
            let m = mask16(cols);
            // SAFETY: `cols` lanes at `mult`, `res` and `y`; the others are masked off.
            unsafe {
                let mut f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_maskz_loadu_ps(m, mult));
                if !res.is_null() {
                    let rb = _mm_maskz_loadu_epi8(m, res.cast());
                    let rv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(rb), _mm512_set1_epi32(k.rzp));
                    f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(rv), _mm512_set1_ps(k.rmult)));
                }
                let f = _mm512_max_ps(f, _mm512_set1_ps((k.lo - k.zp) as f32));
                let f = _mm512_min_ps(f, _mm512_set1_ps((k.hi - k.zp) as f32));
                let r = _mm512_castps_si512(_mm512_add_ps(f, _mm512_set1_ps(MAGIC)));
                let q = _mm512_sub_epi32(r, _mm512_set1_epi32(MAGIC_BITS - k.zp));
                _mm512_mask_cvtepi32_storeu_epi8(y.cast(), m, q);
            }
        }
    }

    // SAFETY (of every method): callers pass pointers valid for the lanes
    // they name and run with AVX2 (partial vectors: see `q8::avx2`).
    impl V for __m256i {
        const L: usize = 8;
        #[inline(always)]
        unsafe fn splat(v: i32) -> Self {
            // SAFETY: callers run with AVX2 (the trait's contract).
            unsafe { _mm256_set1_epi32(v) }
        }
        #[inline(always)]
        unsafe fn load(p: *const i32) -> Self {
            // SAFETY: 8 lanes at `p` (the caller's contract).
            unsafe { _mm256_loadu_si256(p.cast()) }
        }
        #[inline(always)]
        unsafe fn load_part(p: *const i32, cols: usize) -> Self {
            // SAFETY: `cols` lanes at `p`.
            unsafe { load_i32(p, cols) }
        }
        #[inline(always)]
        unsafe fn load_x(p: *const u8, cols: usize) -> Self {
            // SAFETY: `cols` bytes at `p`.
            unsafe { _mm256_cvtepu8_epi32(load_u8(p, cols)) }
        }
        #[inline(always)]
        unsafe fn madd(acc: Self, x: Self, w: Self) -> Self {
            // SAFETY: callers run with AVX2 (the trait's contract).
            unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)) }
        }
        #[inline(always)]
        unsafe fn fold(b: Self, zp: Self, s: Self) -> Self {
            // SAFETY: callers run with AVX2 (the trait's contract).
            unsafe { _mm256_sub_epi32(b, _mm256_mullo_epi32(zp, s)) }
        }
        #[inline(always)]
        unsafe fn store(acc: Self, mult: *const f32, res: *const u8, k: &Consts, y: *mut u8, cols: usize) {
            // SAFETY: `cols` lanes at `mult`, `res` and `y`.
            unsafe {
                let rq = Requantizer::new(k.zp, k.lo, k.hi, k.rzp, k.rmult);
                let res = (!res.is_null()).then(|| load_u8(res, cols));
                let q = rq.scale(acc, load_f32(mult, cols), res);
                store_u8(y, rq.pack(q, q), cols);
            }
        }
    }
}

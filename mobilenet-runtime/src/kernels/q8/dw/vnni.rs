//! The AVX-512 VNNI depthwise kernels: 3x3 kernels on blocks of 64
//! channels with `vpdpbusd` over three interleaved input rows, and the
//! general vector kernel ([`super::lanes`]) on 16-lane `vpdpwssd`.

use core::arch::x86_64::*;

use super::lanes::{Consts, Lanes, sizes};
use super::{Job, Rows};
use crate::kernels::q8::requant::{MAGIC, MAGIC_BITS};
use crate::kernels::window::input_rows;
use crate::kernels::x86::mask16;

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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn taps3<const S: usize>(job: &Job<'_, '_>, blocks: usize, rows: Rows, y: &mut [u8]) {
    let Job { g, x, w, q } = *job;
    let (zp, bias) = (q.x_zp, q.bias);
    let c = g.cin;
    let sums = |ch: usize| w[(ch / 16 * 10 + 9) * 16 + ch % 16];
    let base = c.next_multiple_of(16) * 10;
    let res = q.residual.map_or(core::ptr::null(), |r| r.x.as_ptr());
    let (rzp, rmult) = q.residual_params();
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
                let rowp = input_rows::<u8, 3>(g, xp, oy, 3);
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
                        let rv =
                            if res.is_null() { None } else { Some(_mm512_maskz_loadu_epi8(mask, res.add(at).cast())) };
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

/// The AVX-512 kernel.
///
/// # Safety
/// As [`run`]; the CPU has AVX-512 F, BW, VL and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn run(job: &Job<'_, '_>, rows: Rows, y: &mut [u8]) {
    let Job { g, q, .. } = *job;
    // SAFETY: the caller's contract; this function's features are the vector types'.
    unsafe {
        // (The packing adds the output zero point in 16 bits.)
        // Blocks of 64 channels for `taps3`; a last block of up to 16 channels goes to the general path
        // (as a masked block of 64 it costs 4 times its work: 56x56x144 took 0.090 ms, 0.079 this way).
        let c = g.cin;
        let blocks = if c % 64 > 16 { c.div_ceil(64) } else { c / 64 };
        let blocks = if g.kh == 3 && g.kw == 3 && (0..=255).contains(&q.zp) { blocks } else { 0 };
        match g.sw {
            1 if blocks > 0 => taps3::<1>(job, blocks, rows.clone(), y),
            2 if blocks > 0 => taps3::<2>(job, blocks, rows.clone(), y),
            _ => return sizes::<__m512i>(job, 0, rows, y),
        }
        if blocks * 64 < c {
            sizes::<__m512i>(job, blocks * 4, rows, y);
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

// SAFETY (of every method): callers pass pointers valid for the lanes
// they name and run with AVX-512 F, BW, VL and VNNI.
impl Lanes for __m512i {
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

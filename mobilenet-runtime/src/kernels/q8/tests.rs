//! The int8 kernels against loop-by-loop definitions of the arithmetic
//! contract, byte for byte, on every available instruction set and on 1, 2
//! and 3 threads.

use super::*;
use crate::exec::{Exec, Pool, Serial};
use crate::kernels::{Isa, PointwiseGeom, Precision};
use mobilenet_layout::q8pack::{depthwise_packed_len, gemm_packed_len, im2col_kpad, pack_depthwise, pack_gemm};

/// The instruction sets whose int8 kernels differ.
fn isas() -> Vec<Isa> {
    Isa::distinct(Precision::Int8)
}

/// A tiny xorshift generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        (lo as i64 + (self.next() % (hi as i64 - lo as i64 + 1) as u64) as i64) as i32
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// How test data is drawn.
#[derive(Clone, Copy, Debug)]
enum Fill {
    Random,
    /// Extremes: inputs 0 or 255, weights -127 or 127.
    Extreme,
    /// Inputs all 255, weights all 127: the largest sums.
    Max,
}

fn bytes(r: &mut Rng, n: usize, f: Fill) -> Vec<u8> {
    (0..n)
        .map(|_| match f {
            Fill::Random => r.range(0, 255) as u8,
            Fill::Extreme => [0, 255][r.range(0, 1) as usize],
            Fill::Max => 255,
        })
        .collect()
}

fn weights(r: &mut Rng, n: usize, f: Fill) -> Vec<i8> {
    (0..n)
        .map(|_| match f {
            Fill::Random => r.range(-127, 127) as i8,
            Fill::Extreme => [-127, 127][r.range(0, 1) as usize],
            Fill::Max => 127,
        })
        .collect()
}

/// Multipliers from 1e-5 to 1, with some exact powers of two (ties) and a
/// few up to 1e7, whose products leave the i32 range (the AVX2 kernels
/// convert to integers before their lower clamp, and must still clamp).
fn mults(r: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match r.range(0, 15) {
            0..=3 => [0.5, 0.25, 1.0, 0.125][r.range(0, 3) as usize],
            4 => 10f32.powf(7.0 * r.unit()),
            _ => 10f32.powf(-5.0 * r.unit()),
        })
        .collect()
}

/// The requantization contract, literally.
#[allow(clippy::assign_op_pattern)]
fn rq(acc: i32, mult: f32, zp: i32, lo: i32, hi: i32, res: Option<(u8, i32, f32)>) -> u8 {
    let mut v: f32 = acc as f32 * mult;
    if let Some((r, r_zp, r_mult)) = res {
        v = v + ((r as i32 - r_zp) as f32 * r_mult);
    }
    let v = v.max((lo - zp) as f32).min((hi - zp) as f32);
    let q = v.round_ties_even() as i32 + zp;
    assert!((lo..=hi).contains(&q));
    q as u8
}

/// Owned parameters of a [`Requant`].
struct Q {
    x_zp: i32,
    bias: Vec<i32>,
    mult: Vec<f32>,
    zp: i32,
    lo: i32,
    hi: i32,
    res: Option<(Vec<u8>, i32, f32)>,
}

impl Q {
    fn random(r: &mut Rng, bias: &[i32], x_zp: i32, len: usize, residual: bool, variant: usize) -> Q {
        let channels = bias.len();
        let zp = match variant % 4 {
            0 => 0,
            1 => 255,
            _ => r.range(0, 255),
        };
        let (lo, hi) = match variant % 3 {
            0 => (0, 255),
            // ReLU6-like: lo = zp, hi below 255.
            1 => (zp, (zp + r.range(0, 255 - zp)).min(255)),
            _ => {
                let lo = r.range(0, 255);
                (lo, r.range(lo, 255))
            }
        };
        let res = residual.then(|| (bytes(r, len, Fill::Random), r.range(0, 255), 10f32.powf(-2.0 * r.unit())));
        Q { x_zp, bias: bias.to_vec(), mult: mults(r, channels), zp, lo, hi, res }
    }

    fn requant(&self) -> Requant<'_> {
        Requant {
            x_zp: self.x_zp,
            bias: &self.bias,
            mult: &self.mult,
            zp: self.zp,
            lo: self.lo,
            hi: self.hi,
            residual: self.res.as_ref().map(|(x, zp, mult)| Residual { x, zp: *zp, mult: *mult }),
        }
    }

    /// Output `i` (channel `ch`) of sum `acc`.
    fn apply(&self, i: usize, ch: usize, acc: i32) -> u8 {
        let res = self.res.as_ref().map(|(x, zp, m)| (x[i], *zp, *m));
        rq(acc, self.mult[ch], self.zp, self.lo, self.hi, res)
    }
}

fn execs() -> Vec<Box<dyn Exec>> {
    vec![Box::new(Serial), Box::new(Pool::new(2)), Box::new(Pool::new(3))]
}

fn sums(pixels: usize, k: usize, n: usize, x: &[u8], w: &[i8], bias: &[i32]) -> Vec<i32> {
    let mut acc = vec![0i32; pixels * n];
    for p in 0..pixels {
        for c in 0..n {
            let mut a = bias[c];
            for j in 0..k {
                a += x[p * k + j] as i32 * w[j * n + c] as i32;
            }
            acc[p * n + c] = a;
        }
    }
    acc
}

#[test]
fn requant_scalar_is_the_contract() {
    let mut r = Rng::new(1);
    for i in 0..200_000 {
        let acc = match i % 3 {
            0 => r.range(-300, 300),
            1 => r.range(i32::MIN, i32::MAX),
            _ => r.range(-100_000, 100_000),
        };
        let q = Q::random(&mut r, &[0], 0, 1, i % 2 == 0, i);
        assert_eq!(
            requant_scalar(acc, q.mult[0], q.zp, q.lo, q.hi, q.res.as_ref().map(|(x, z, m)| (x[0], *z, *m))),
            q.apply(0, 0, acc),
            "acc {acc}"
        );
    }
}

#[test]
fn pointwise_matches_definition() {
    let exec = execs();
    let mut r = Rng::new(2);
    let shapes: &[(usize, usize)] = &[
        (1, 1),
        (3, 8),
        (5, 16),
        (27, 24),
        (28, 32),
        (1, 1000),
        (3, 17),
        (16, 96),
        (64, 48),
        (144, 24),
        (1280, 16),
        (2304, 24),
        (96, 40),
        (7, 72),
        (32, 144),
        (8, 160),
    ];
    let mut variant = 0;
    for isa in isas() {
        for &(k, n) in shapes {
            let mut pixel_counts: Vec<usize> = (1..=13).collect();
            if k * n <= 20_000 {
                pixel_counts.push(300);
            }
            for pixels in pixel_counts {
                variant += 1;
                let fill = [Fill::Random, Fill::Extreme, Fill::Max][variant % 3];
                let x = bytes(&mut r, pixels * k, fill);
                let w = weights(&mut r, k * n, fill);
                let bias: Vec<i32> = (0..n).map(|_| r.range(-50_000, 50_000)).collect();
                let q = Q::random(&mut r, &bias, 0, pixels * n, variant % 2 == 0, variant);
                let mut packed = vec![0i8; gemm_packed_len(isa.qlayout(), k, n)];
                pack_gemm(isa.qlayout(), &w, k, n, &mut packed);
                let acc = sums(pixels, k, n, &x, &w, &bias);
                let want: Vec<u8> = (0..pixels * n).map(|i| q.apply(i, i % n, acc[i])).collect();
                for e in &exec {
                    // Exactly sized input: a read past the last row would be caught.
                    let x = x.clone().into_boxed_slice();
                    let mut y = vec![0u8; pixels * n];
                    pointwise(&**e, isa, &PointwiseGeom::new(pixels, k, n), &x, &packed, &q.requant(), &mut y);
                    assert_eq!(y, want, "{isa} {pixels}x{k}->{n} {fill:?} threads {}", e.threads());
                }
            }
        }
    }
}

#[test]
fn pointwise_f32_matches_definition() {
    let mut r = Rng::new(3);
    for isa in isas() {
        for &(pixels, k, n) in &[(1, 1280, 1000), (1, 3, 10), (3, 27, 17), (5, 64, 24), (13, 1024, 8)] {
            let x = bytes(&mut r, pixels * k, Fill::Random);
            let w = weights(&mut r, k * n, Fill::Random);
            let bias: Vec<i32> = (0..n).map(|_| r.range(-50_000, 50_000)).collect();
            let scale = mults(&mut r, n);
            let mut packed = vec![0i8; gemm_packed_len(isa.qlayout(), k, n)];
            pack_gemm(isa.qlayout(), &w, k, n, &mut packed);
            let acc = sums(pixels, k, n, &x, &w, &bias);
            let want: Vec<f32> = (0..pixels * n).map(|i| acc[i] as f32 * scale[i % n]).collect();
            let mut y = vec![0f32; pixels * n];
            pointwise_f32(isa, &PointwiseGeom::new(pixels, k, n), &x, &packed, &bias, &scale, &mut y);
            assert_eq!(y, want, "{isa} {pixels}x{k}->{n}");
        }
    }
}

/// A geometry with explicit padding on all four sides.
fn geom(h: usize, w: usize, c: usize, k: [usize; 2], s: [usize; 2], pad: [usize; 4]) -> Option<ConvGeom> {
    let [top, bottom, left, right] = pad;
    if h + top + bottom < k[0] || w + left + right < k[1] {
        return None;
    }
    let oh = (h + top + bottom - k[0]) / s[0] + 1;
    let ow = (w + left + right - k[1]) / s[1] + 1;
    Some(ConvGeom::new([h, w, c], [oh, ow, c], k, s, [top, left]))
}

fn depthwise_sums(g: &ConvGeom, x: &[u8], zp: i32, w: &[i8], bias: &[i32]) -> Vec<i32> {
    let c = g.cin;
    let mut acc = vec![0i32; g.oh * g.ow * c];
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            for ch in 0..c {
                let mut a = bias[ch];
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                        let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                        if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                            continue;
                        }
                        let xv = x[(iy as usize * g.w + ix as usize) * c + ch] as i32;
                        a += (xv - zp) * w[(ky * g.kw + kx) * c + ch] as i32;
                    }
                }
                acc[(oy * g.ow + ox) * c + ch] = a;
            }
        }
    }
    acc
}

/// Random inputs, weights, bias and requantization (with a residual for odd
/// `variant`s) for depthwise `g` with input zero point `zp`: the kernel of
/// `isa` on every executor equals the definition.
fn check_depthwise(exec: &[Box<dyn Exec>], r: &mut Rng, isa: Isa, g: &ConvGeom, zp: i32, variant: usize) {
    let (c, taps) = (g.cin, g.kh * g.kw);
    let fill = [Fill::Random, Fill::Extreme, Fill::Max][variant % 3];
    let x = bytes(r, g.h * g.w * c, fill).into_boxed_slice();
    let w = weights(r, taps * c, fill);
    let bias: Vec<i32> = (0..c).map(|_| r.range(-20_000, 20_000)).collect();
    let len = g.oh * g.ow * c;
    let q = Q::random(r, &bias, zp, len, variant % 2 == 1, variant);
    let mut packed = vec![0i32; depthwise_packed_len(isa.qlayout(), taps, c)];
    pack_depthwise(isa.qlayout(), &w, taps, c, &mut packed);
    let acc = depthwise_sums(g, &x, zp, &w, &bias);
    let want: Vec<u8> = (0..len).map(|i| q.apply(i, i % c, acc[i])).collect();
    for e in exec {
        let mut y = vec![0u8; len];
        depthwise(&**e, isa, g, &x, &packed, &q.requant(), &mut y);
        assert_eq!(y, want, "{isa} {g:?} threads {}", e.threads());
    }
}

#[test]
fn depthwise_matches_definition() {
    let exec = execs();
    let mut r = Rng::new(4);
    let mut variant = 0;
    let kernels: &[([usize; 2], [usize; 2])] = &[
        ([3, 3], [1, 1]),
        ([3, 3], [2, 2]),
        ([5, 5], [1, 1]),
        ([5, 5], [2, 2]),
        ([1, 1], [1, 1]),
        ([2, 3], [1, 2]),
        ([7, 7], [2, 1]),
    ];
    for isa in isas() {
        // 6x37: rows wide enough for several groups of pixels with stride 2 and 5x5 kernels.
        for &(h, wd) in &[(1, 1), (2, 3), (7, 7), (14, 14), (5, 9), (6, 37)] {
            for &c in &[1, 8, 24, 96, 100, 17] {
                for &(k, s) in kernels {
                    let pads = [
                        [0, 0, 0, 0],
                        [k[0] / 2, k[0] / 2, k[1] / 2, k[1] / 2],
                        [(k[0] - 1) / 2, k[0] / 2, (k[1] - 1) / 2, k[1] / 2],
                        [0, k[0] - 1, 0, k[1] - 1],
                        [k[0] - 1, 0, k[1] - 1, 0],
                        [k[0] - 1, k[0] - 1, 0, k[1] - 1],
                    ];
                    for pad in pads {
                        let Some(g) = geom(h, wd, c, k, s, pad) else { continue };
                        variant += 1;
                        let zp = match variant % 4 {
                            0 => 0,
                            1 => 255,
                            _ => r.range(0, 255),
                        };
                        check_depthwise(&exec, &mut r, isa, &g, zp, variant);
                    }
                }
            }
        }
    }
}

#[test]
fn stem_conv_by_im2col_and_pointwise() {
    let mut r = Rng::new(5);
    for isa in isas() {
        for &(h, wd, cin, n, k, s, pad) in &[
            (9, 9, 3, 32, 3, 2, [0, 1, 0, 1]),
            (8, 7, 3, 16, 3, 2, [1, 1, 1, 1]),
            (5, 5, 1, 8, 3, 1, [1, 1, 1, 1]),
            (6, 6, 2, 24, 5, 1, [2, 2, 2, 2]),
            // A window longer than the im2col band: one pixel at a time.
            (4, 3, 500, 8, 3, 1, [1, 1, 1, 1]),
        ] {
            let g = geom(h, wd, cin, [k, k], [s, s], pad).unwrap();
            let g = ConvGeom { cout: n, ..g };
            let kk = k * k * cin;
            let kpad = im2col_kpad(kk);
            assert!(kpad >= kk && kpad.is_multiple_of(isa.qlayout().gemm_shape().1));
            let x = bytes(&mut r, h * wd * cin, Fill::Random);
            let zp = r.range(0, 255);
            let w = weights(&mut r, kk * n, Fill::Random);
            let bias: Vec<i32> = (0..n).map(|_| r.range(-20_000, 20_000)).collect();
            // The caller folds the zero point: im2col pads with it.
            let folded: Vec<i32> =
                (0..n).map(|c| bias[c] - zp * (0..kk).map(|j| w[j * n + c] as i32).sum::<i32>()).collect();
            let mut wpad = vec![0i8; kpad * n];
            wpad[..kk * n].copy_from_slice(&w);
            let mut packed = vec![0i8; gemm_packed_len(isa.qlayout(), kpad, n)];
            pack_gemm(isa.qlayout(), &wpad, kpad, n, &mut packed);
            let pixels = g.oh * g.ow;
            let mut cols = vec![0u8; pixels * kpad];
            im2col(&g, &x, zp as u8, kpad, &mut cols);
            let q = Q::random(&mut r, &folded, zp, pixels * n, false, 2);
            let mut y = vec![0u8; pixels * n];
            pointwise(&Serial, isa, &PointwiseGeom::new(pixels, kpad, n), &cols, &packed, &q.requant(), &mut y);
            // The stem kernel itself: the same bytes, on every thread count.
            for e in execs() {
                let mut again = vec![0u8; pixels * n];
                conv2d(&*e, isa, &g, &x, &packed, &q.requant(), &mut again);
                assert_eq!(again, y, "{isa} {g:?} conv2d on {} threads", e.threads());
            }
            let mut want = vec![0u8; pixels * n];
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for c in 0..n {
                        let mut a = bias[c];
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * s + ky) as isize - g.pad_top as isize;
                                let ix = (ox * s + kx) as isize - g.pad_left as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                for ci in 0..cin {
                                    let xv = x[(iy as usize * wd + ix as usize) * cin + ci] as i32;
                                    a += (xv - zp) * w[((ky * k + kx) * cin + ci) * n + c] as i32;
                                }
                            }
                        }
                        let i = (oy * g.ow + ox) * n + c;
                        want[i] = q.apply(i, c, a);
                    }
                }
            }
            assert_eq!(y, want, "{isa} {g:?}");
        }
    }
}

#[test]
fn im2col_matches_definition() {
    let mut r = Rng::new(6);
    let g = geom(5, 4, 3, [3, 3], [2, 1], [1, 1, 0, 2]).unwrap();
    let x = bytes(&mut r, 5 * 4 * 3, Fill::Random);
    let kpad = 31;
    let mut y = vec![0u8; g.oh * g.ow * kpad];
    im2col(&g, &x, 77, kpad, &mut y);
    for p in 0..g.oh * g.ow {
        let (oy, ox) = (p / g.ow, p % g.ow);
        for j in 0..kpad {
            let want = if j < 27 {
                let (t, ci) = (j / 3, j % 3);
                let (ky, kx) = (t / 3, t % 3);
                let iy = (oy * 2 + ky) as isize - 1;
                let ix = (ox + kx) as isize;
                if iy < 0 || ix < 0 || iy >= 5 || ix >= 4 { 77 } else { x[(iy as usize * 4 + ix as usize) * 3 + ci] }
            } else {
                77
            };
            assert_eq!(y[p * kpad + j], want, "pixel {p} element {j}");
        }
    }
}

#[test]
fn global_avg_pool_matches_definition() {
    let mut r = Rng::new(7);
    for &(pixels, c) in &[(1, 1), (49, 1280), (7, 100), (196, 64), (49, 3)] {
        for fill in [Fill::Random, Fill::Extreme, Fill::Max] {
            let x = bytes(&mut r, pixels * c, fill);
            let x_zp = r.range(0, 255);
            let zp = r.range(0, 255);
            let mult = 10f32.powf(-3.0 * r.unit()) / pixels as f32;
            let mut y = vec![0u8; c];
            global_avg_pool(pixels, c, &x, &PoolLayer { x_zp, mult, zp }, &mut y);
            let want: Vec<u8> = (0..c)
                .map(|ch| {
                    let s: i32 = (0..pixels).map(|p| x[p * c + ch] as i32).sum();
                    rq(s - pixels as i32 * x_zp, mult, zp, 0, 255, None)
                })
                .collect();
            assert_eq!(y, want, "{pixels}x{c} {fill:?}");
        }
    }
}

#[test]
fn quantize_matches_definition() {
    let mut r = Rng::new(8);
    let mut x = vec![
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        1e30,
        -1e30,
        0.0,
        -0.0,
        0.5,
        1.5,
        2.5,
        254.5,
        255.5,
        -0.5,
        f32::MIN_POSITIVE,
    ];
    x.extend((0..10_000).map(|_| (r.unit() - 0.25) * 400.0));
    for (a, b) in [(1.0, 0.0), (127.5, 127.5), (0.017, 128.0), (255.0, 0.0), (1.0, 0.5), (1e-3, -3.0)] {
        let mut y = vec![0u8; x.len()];
        quantize(a, b, &x, &mut y);
        for (i, (&x, &y)) in x.iter().zip(&y).enumerate() {
            let v: f32 = x * a + b;
            #[allow(clippy::manual_clamp)]
            let v = v.max(0.0).min(255.0);
            assert_eq!(y, v.round_ties_even() as u8, "element {i}: {x} with {a}, {b}");
        }
    }
}

/// The 3x3 paths over many channels: AVX-512 VNNI's whole blocks of 64
/// (and its 16-channel tail), several blocks, more than its 1024 channels
/// of permuted bias at a time; AVX2's blocks of 8 in several spans of
/// outputs (its spans are 8 outputs wide at 1088 channels, 14 at 192 with
/// stride 2, against rows of up to 37); both horizontal strides they take
/// and the strides they leave to the general path, every padding, with and
/// without a residual.
#[test]
fn depthwise_3x3_blocks_of_64() {
    let exec = execs();
    let mut r = Rng::new(9);
    let mut variant = 0;
    for isa in isas() {
        for &(h, wd) in &[(1, 1), (2, 3), (7, 7), (6, 37)] {
            for &c in &[64, 128, 144, 192, 1088] {
                for s in [[1, 1], [2, 2], [1, 2], [2, 1], [3, 3]] {
                    for pad in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [2, 0, 2, 0], [0, 2, 1, 2]] {
                        let Some(g) = geom(h, wd, c, [3, 3], s, pad) else { continue };
                        variant += 1;
                        if c == 1088 && variant % 4 != 0 {
                            continue;
                        }
                        let zp = [0, 255, r.range(0, 255)][variant % 3];
                        check_depthwise(&exec, &mut r, isa, &g, zp, variant);
                    }
                }
            }
        }
    }
}

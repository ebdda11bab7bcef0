//! Kernels against direct, loop-by-loop definitions in f64.

use super::*;
use crate::exec::{Pool, Serial};

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

fn close(a: &[f32], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((*x as f64 - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
    }
}

/// Direct definition of a (depthwise if `mult > 0`) convolution.
fn reference(g: &ConvGeom, mult: usize, x: &[f32], k: &[f32], bias: Option<&[f32]>) -> Vec<f64> {
    let mut y = vec![0.0f64; g.oh * g.ow * g.cout];
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            for o in 0..g.cout {
                let mut acc = bias.map_or(0.0, |b| b[o] as f64);
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
                        let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
                        if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                            continue;
                        }
                        let p = (iy as usize * g.w + ix as usize) * g.cin;
                        if let Some(ci) = o.checked_div(mult) {
                            acc += x[p + ci] as f64 * k[(ky * g.kw + kx) * g.cout + o] as f64;
                        } else {
                            for i in 0..g.cin {
                                acc += x[p + i] as f64 * k[((ky * g.kw + kx) * g.cin + i) * g.cout + o] as f64;
                            }
                        }
                    }
                }
                y[(oy * g.ow + ox) * g.cout + o] = acc;
            }
        }
    }
    y
}

fn geom(h: usize, w: usize, cin: usize, cout: usize, k: usize, s: usize, pad: [usize; 4]) -> ConvGeom {
    let [top, bottom, left, right] = pad;
    ConvGeom {
        h,
        w,
        cin,
        cout,
        kh: k,
        kw: k,
        sh: s,
        sw: s,
        pad_top: top,
        pad_left: left,
        oh: (h + top + bottom - k) / s + 1,
        ow: (w + left + right - k) / s + 1,
    }
}

/// Every instruction set this CPU runs (the portable one always).
fn isas() -> Vec<Isa> {
    Isa::available()
}

fn packed_gemm(isa: Isa, k: usize, n: usize, w: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut pw = vec![f32::NAN; pack::gemm_len(k, n)];
    pack::gemm(isa, w, k, n, &mut pw);
    let mut pb = vec![f32::NAN; pack::gemm_bias_len(n)];
    pack::bias(b, &mut pb);
    (pw, pb)
}

fn packed_dw(isa: Isa, taps: usize, c: usize, w: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut pw = vec![f32::NAN; pack::depthwise_len(taps, c)];
    pack::depthwise(isa, w, taps, c, &mut pw);
    let mut pb = vec![f32::NAN; pack::depthwise_bias_len(c)];
    pack::bias(b, &mut pb);
    (pw, pb)
}

#[test]
fn conv2d_matches_the_definition_with_asymmetric_padding() {
    for isa in isas() {
        for (g, seed) in [
            (geom(9, 8, 3, 16, 3, 2, [0, 1, 0, 1]), 1),
            (geom(7, 7, 4, 5, 3, 1, [1, 1, 1, 1]), 2),
            (geom(6, 10, 2, 3, 5, 2, [1, 2, 2, 1]), 3),
            (geom(17, 15, 3, 40, 3, 2, [1, 1, 1, 1]), 4),
            // Rows wide enough for several two-vector tiles read in place
            // (shorter than GEMM tiles with AVX-512: `offset_rows`).
            (geom(5, 45, 3, 32, 3, 2, [0, 1, 0, 1]), 5),
            (geom(4, 60, 3, 24, 3, 1, [1, 1, 1, 1]), 6),
        ] {
            let x = values(g.h * g.w * g.cin, seed);
            let k = values(g.kh * g.kw * g.cin * g.cout, seed + 10);
            let b = values(g.cout, seed + 20);
            let (pw, pb) = packed_gemm(isa, g.kh * g.kw * g.cin, g.cout, &k, &b);
            let mut y = vec![0.0; g.oh * g.ow * g.cout];
            conv2d(&Serial, isa, &g, &x, &pw, Epilogue::new(&pb, None, None), &mut y);
            close(&y, &reference(&g, 0, &x, &k, Some(&b)), 1e-5);
        }
    }
}

#[test]
fn depthwise_matches_the_definition() {
    for isa in isas() {
        for (g, mult, seed) in [
            (geom(8, 8, 16, 16, 3, 2, [0, 1, 0, 1]), 1, 4),
            (geom(7, 9, 24, 24, 5, 2, [2, 2, 2, 2]), 1, 5),
            (geom(5, 5, 8, 8, 3, 1, [1, 1, 1, 1]), 1, 6),
            (geom(6, 5, 3, 6, 3, 1, [1, 1, 1, 1]), 2, 7),
            // Channel tails (not a multiple of any vector), 5x5 stride 1, odd sizes.
            (geom(9, 11, 37, 37, 5, 1, [2, 2, 2, 2]), 1, 8),
            (geom(13, 6, 19, 19, 3, 2, [1, 1, 0, 1]), 1, 9),
            // Wide rows (over 28 output columns) take the register-resident
            // path for 3x3, with and without channel tails.
            (geom(5, 40, 20, 20, 3, 1, [1, 1, 1, 1]), 1, 12),
            (geom(6, 61, 24, 24, 3, 2, [0, 1, 0, 1]), 1, 13),
            (geom(4, 33, 16, 16, 3, 1, [1, 1, 1, 1]), 1, 14),
            (geom(5, 34, 300, 300, 3, 1, [1, 1, 1, 1]), 1, 15),
            // Groups whose windows cross both borders at once, a one-pixel-wide
            // image, 5x5 stride 2 over several groups with asymmetric padding.
            (geom(3, 3, 16, 16, 5, 1, [2, 2, 2, 2]), 1, 16),
            (geom(6, 1, 8, 8, 3, 1, [1, 1, 1, 1]), 1, 17),
            (geom(5, 45, 16, 16, 5, 2, [1, 2, 1, 2]), 1, 18),
            // Narrow maps of many channels, walked in channel slices with
            // AVX-512 (192 + 8 channels; 5x5 stride 2: 80 + 70, a tail in
            // the last slice).
            (geom(6, 7, 200, 200, 3, 1, [1, 1, 1, 1]), 1, 19),
            (geom(9, 9, 150, 150, 5, 2, [2, 2, 2, 2]), 1, 20),
            // Kernel sizes without an unrolled path, windows wider than the image.
            (geom(4, 4, 12, 12, 7, 1, [3, 3, 3, 3]), 1, 10),
            (geom(3, 5, 20, 20, 2, 1, [0, 1, 1, 0]), 1, 11),
        ] {
            let taps = g.kh * g.kw;
            // Inputs up to 4 so that some outputs pass 6 (ReLU6's upper clamp).
            let x: Vec<f32> = values(g.h * g.w * g.cin, seed).iter().map(|v| v * 4.0).collect();
            let k = values(taps * g.cout, seed + 10);
            let b = values(g.cout, seed + 20);
            let r = values(g.oh * g.ow * g.cout, seed + 30);
            let (pw, pb) = packed_dw(isa, taps, g.cout, &k, &b);
            let conv = reference(&g, mult, &x, &k, Some(&b));
            // Every epilogue the store takes a separate path for: each
            // activation, with and without a residual.
            for act in [None, Some(Act::Relu), Some(Act::Relu6), Some(Act::HardSwish)] {
                for res in [None, Some(&r[..])] {
                    let mut y = vec![0.0; g.oh * g.ow * g.cout];
                    depthwise(&Serial, isa, &g, &x, &pw, Epilogue::new(&pb, act, res), &mut y);
                    let expected: Vec<f64> = conv
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let a = act.map_or(*v, |a| a.apply(*v as f32) as f64);
                            a + res.map_or(0.0, |r| r[i] as f64)
                        })
                        .collect();
                    close(&y, &expected, 1e-5);
                }
            }
        }
    }
}

#[test]
fn pointwise_epilogue_is_bias_activation_residual() {
    // Row counts around every micro-kernel height, column counts around panel
    // widths; single rows (the GEMV) over whole and partial groups of panels.
    for isa in isas() {
        for (p, cin, cout, seed) in [
            (5, 7, 9, 8),
            (13, 16, 16, 9),
            (25, 33, 40, 10),
            (1, 64, 100, 11),
            (50, 3, 31, 12),
            (12, 96, 24, 13),
            (1, 37, 150, 14),
            (1, 45, 10, 15),
            (1, 50, 40, 16),
        ] {
            let x = values(p * cin, seed);
            let k: Vec<f32> = values(cin * cout, seed + 1).iter().map(|v| v * 4.0).collect();
            let b = values(cout, seed + 2);
            let r = values(p * cout, seed + 3);
            let (pw, pb) = packed_gemm(isa, cin, cout, &k, &b);
            let acts = [
                Some(Act::Relu6),
                Some(Act::HardSwish),
                None,
                Some(Act::Relu),
                Some(Act::HardSigmoid),
                Some(Act::Sigmoid),
            ];
            for (act, residual) in acts.into_iter().flat_map(|a| [(a, true), (a, false)]) {
                let mut y = vec![f32::NAN; p * cout];
                let res = residual.then_some(&r[..]);
                pointwise(
                    &Serial,
                    isa,
                    &PointwiseGeom::new(p, cin, cout),
                    &x,
                    &pw,
                    Epilogue::new(&pb, act, res),
                    &mut y,
                );
                let g = geom(1, p, cin, cout, 1, 1, [0; 4]);
                let f = |v: f64| match act {
                    None => v,
                    Some(Act::Relu) => v.max(0.0),
                    Some(Act::Relu6) => v.clamp(0.0, 6.0),
                    Some(Act::Sigmoid) => 1.0 / (1.0 + (-v).exp()),
                    Some(Act::HardSigmoid) => (v + 3.0).clamp(0.0, 6.0) / 6.0,
                    Some(Act::HardSwish) => v * (v + 3.0).clamp(0.0, 6.0) / 6.0,
                };
                let add = |i: usize| if residual { r[i] as f64 } else { 0.0 };
                let expected: Vec<f64> =
                    reference(&g, 0, &x, &k, Some(&b)).iter().enumerate().map(|(i, v)| f(*v) + add(i)).collect();
                close(&y, &expected, 1e-5);
            }
        }
    }
}

#[test]
fn packing_differs_by_isa_but_lengths_do_not() {
    let w = values(5 * 40, 1);
    for isa in isas() {
        let mut dst = vec![0.0; pack::gemm_len(5, 40)];
        pack::gemm(isa, &w, 5, 40, &mut dst);
        // Every weight is somewhere in the packed buffer, exactly once.
        let mut packed: Vec<f32> = dst.iter().copied().filter(|v| *v != 0.0).collect();
        let mut orig: Vec<f32> = w.iter().copied().filter(|v| *v != 0.0).collect();
        packed.sort_by(f32::total_cmp);
        orig.sort_by(f32::total_cmp);
        assert_eq!(packed, orig, "{isa}");
    }
}

#[test]
fn activations() {
    let xs = [-4.0f32, -3.0, -1.5, 0.0, 2.0, 3.0, 6.5];
    let mut v = xs;
    Act::apply_all(Some(Act::HardSwish), &mut v);
    close(&v, &xs.map(|x| x as f64 * ((x as f64 + 3.0).clamp(0.0, 6.0) / 6.0)), 1e-7);
    let mut v = xs;
    Act::apply_all(Some(Act::Sigmoid), &mut v);
    close(&v, &xs.map(|x| 1.0 / (1.0 + (-(x as f64)).exp())), 1e-6);
}

#[test]
fn exp_is_accurate_over_the_range() {
    let mut x = -100.0f32;
    while x < 88.0 {
        let (ours, exact) = (libm_exp(x) as f64, (x as f64).exp());
        // Relative accuracy for normal results; subnormals have fewer bits.
        let tol = if exact > f32::MIN_POSITIVE as f64 { 3e-7 * exact } else { 1e-44 };
        assert!((ours - exact).abs() <= tol, "exp({x}) = {ours}, not {exact}");
        x += 0.37;
    }
    assert_eq!(libm_exp(-200.0), 0.0);
    assert_eq!(libm_exp(100.0), f32::INFINITY);
}

#[test]
fn pools_dense_softmax_pad_gate() {
    let x = [1.0f32, -2.0, 3.0, 4.0, -5.0, 6.0];
    let mut y = [0.0; 2];
    global_avg_pool(3, 2, &x, &mut y);
    assert_eq!(y, [-1.0 / 3.0, 8.0 / 3.0]);
    global_max_pool(3, 2, &x, &mut y);
    assert_eq!(y, [3.0, 6.0]);
    for isa in isas() {
        let (pw, pb) = packed_gemm(isa, 2, 3, &[1.0, 0.0, -1.0, 0.5, 1.0, 2.0], &[0.0, 0.0, 1.0]);
        let mut d = [0.0; 3];
        pointwise(
            &Serial,
            isa,
            &PointwiseGeom::new(1, 2, 3),
            &[1.0, 2.0],
            &pw,
            Epilogue::new(&pb, Some(Act::Relu), None),
            &mut d,
        );
        assert_eq!(d, [2.0, 2.0, 4.0], "{isa}");
    }
    let mut s = [0.0; 3];
    softmax(&[1.0, 2.0, 3.0], &mut s);
    let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).collect();
    close(&s, &e, 1e-6);
    let mut p = [9.0; 2 * 4];
    zero_pad(1, 1, 2, [0, 1, 0, 1], &[1.0, 2.0], &mut p);
    assert_eq!(p, [1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let mut g = [0.0; 4];
    mul_gate(2, &[1.0, 2.0, 3.0, 4.0], &[0.5, 2.0], &mut g);
    assert_eq!(g, [0.5, 4.0, 1.5, 8.0]);
}

/// The fused block equals its three kernels run one after the other, over
/// several bands and with every combination of stages. `ek` is the
/// expansion's kernel: 0 none, 1 pointwise, 3 a 3x3 stem conv with stride
/// `es` over an input that it maps to `h x w`.
#[test]
fn block_equals_its_stages() {
    for isa in isas() {
        for (h, w, cin, e, cout, k, s, pad, (ek, es), project, residual, seed) in [
            (40, 40, 16, 96, 16, 3, 1, [1, 1, 1, 1], (1, 1), true, true, 1),
            (41, 37, 24, 72, 40, 5, 2, [1, 2, 1, 2], (1, 1), true, false, 2),
            (30, 30, 32, 32, 64, 3, 2, [0, 1, 0, 1], (0, 1), true, false, 3),
            (16, 12, 8, 20, 20, 3, 1, [1, 1, 1, 1], (1, 1), false, false, 4),
            (7, 7, 160, 960, 160, 3, 1, [1, 1, 1, 1], (1, 1), true, true, 5),
            (64, 90, 12, 36, 12, 3, 1, [1, 1, 1, 1], (1, 1), true, true, 6),
            // Stems: v1/v2's (3x3 stride 2 over 3 channels, then a
            // depthwise-separable pair), and a stride-1 stem without a
            // projection over an image whose rows are shorter than a tile.
            (40, 40, 3, 32, 16, 3, 1, [1, 1, 1, 1], (3, 2), true, false, 7),
            (21, 5, 4, 24, 24, 3, 2, [0, 1, 0, 1], (3, 1), false, false, 8),
        ] {
            let [pt, pb, pl, pr] = pad;
            let (oh, ow) = ((h + pt + pb - k) / s + 1, (w + pl + pr - k) / s + 1);
            // The stem's input and geometry: stride 2 pads bottom and right
            // by one ("same" on an even input), stride 1 pads all around.
            let (ih, iw) = (h * es, w * es);
            let stem_pad = if es == 2 { [0, 0] } else { [1, 1] };
            let stem = ConvGeom::new([ih, iw, cin], [h, w, e], [3, 3], [es, es], stem_pad);
            let expansion = match ek {
                0 => Expansion::None,
                1 => Expansion::Pointwise,
                _ => Expansion::Conv(ExpandConv {
                    h: ih,
                    w: iw,
                    k: 3,
                    s: es,
                    pad_top: stem_pad[0],
                    pad_left: stem_pad[1],
                }),
            };
            let g =
                BlockGeom { h, w, cin, e, oh, ow, cout, k, s, pad_top: pt, pad_left: pl, expand: expansion, project };
            let x = values(g.input_len(), seed);
            let ek_len = if ek == 3 { 9 * cin } else { cin };
            let (ew, eb) = packed_gemm(isa, ek_len, e, &values(ek_len * e, seed + 1), &values(e, seed + 2));
            let (dw, db) = packed_dw(isa, k * k, e, &values(k * k * e, seed + 3), &values(e, seed + 4));
            let (pw, pb) = packed_gemm(isa, e, cout, &values(e * cout, seed + 5), &values(cout, seed + 6));
            let r = values(oh * ow * cout, seed + 7);
            // Stage by stage.
            let mut ex = vec![0.0; h * w * e];
            let epi = Epilogue::new(&eb, Some(Act::Relu6), None);
            let xin = match ek {
                0 => &x,
                1 => {
                    pointwise(&Serial, isa, &PointwiseGeom::new(h * w, cin, e), &x, &ew, epi, &mut ex);
                    &ex
                }
                _ => {
                    conv2d(&Serial, isa, &stem, &x, &ew, epi, &mut ex);
                    &ex
                }
            };
            let mut d = vec![0.0; oh * ow * e];
            let dg = ConvGeom::new([h, w, e], [oh, ow, e], [k, k], [s, s], [pt, pl]);
            depthwise(&Serial, isa, &dg, xin, &dw, Epilogue::new(&db, Some(Act::HardSwish), None), &mut d);
            let expected = if project {
                let mut p = vec![0.0; oh * ow * cout];
                let epi = Epilogue::new(&pb, None, residual.then_some(&r[..]));
                pointwise(&Serial, isa, &PointwiseGeom::new(oh * ow, e, cout), &d, &pw, epi, &mut p);
                p
            } else {
                d
            };
            // Fused.
            let mut scratch = vec![f32::NAN; g.scratch_len()];
            let mut y = vec![f32::NAN; expected.len()];
            block(
                &Serial,
                isa,
                &g,
                &x,
                &Stages {
                    expand: (ek > 0).then_some(Stage { w: &ew, epi: Epilogue::new(&eb, Some(Act::Relu6), None) }),
                    depthwise: Stage { w: &dw, epi: Epilogue::new(&db, Some(Act::HardSwish), None) },
                    project: project
                        .then_some(Stage { w: &pw, epi: Epilogue::new(&pb, None, residual.then_some(&r[..])) }),
                },
                &mut scratch,
                &mut y,
            );
            let expected: Vec<f64> = expected.iter().map(|v| *v as f64).collect();
            close(&y, &expected, 1e-6);
            if [1, 2, 6].contains(&seed) {
                assert!(g.band() < oh, "case {seed} exercises several bands");
            }
        }
    }
}

/// Split between the threads of a pool, every kernel writes what it writes
/// on one thread, bit for bit.
#[test]
fn kernels_on_a_pool_equal_serial() {
    let pool = Pool::new(3);
    for isa in isas() {
        let g = geom(23, 17, 40, 40, 3, 2, [1, 1, 1, 1]);
        let x = values(g.h * g.w * g.cin, 1);
        let (dw, db) = packed_dw(isa, 9, 40, &values(9 * 40, 2), &values(40, 3));
        let r = values(g.oh * g.ow * 40, 4);
        let (mut a, mut b) = (vec![0.0; g.oh * g.ow * 40], vec![1.0; g.oh * g.ow * 40]);
        depthwise(&Serial, isa, &g, &x, &dw, Epilogue::new(&db, Some(Act::Relu6), Some(&r)), &mut a);
        depthwise(&pool, isa, &g, &x, &dw, Epilogue::new(&db, Some(Act::Relu6), Some(&r)), &mut b);
        assert_eq!(a, b, "depthwise {isa}");

        let (pw, pb) = packed_gemm(isa, 40, 72, &values(40 * 72, 5), &values(72, 6));
        let m = g.h * g.w;
        let res = values(m * 72, 7);
        let (mut a, mut b) = (vec![0.0; m * 72], vec![1.0; m * 72]);
        pointwise(
            &Serial,
            isa,
            &PointwiseGeom::new(m, 40, 72),
            &x,
            &pw,
            Epilogue::new(&pb, Some(Act::HardSwish), Some(&res)),
            &mut a,
        );
        pointwise(
            &pool,
            isa,
            &PointwiseGeom::new(m, 40, 72),
            &x,
            &pw,
            Epilogue::new(&pb, Some(Act::HardSwish), Some(&res)),
            &mut b,
        );
        assert_eq!(a, b, "pointwise {isa}");

        // Fewer pixels than output channels: parts split the columns.
        let (pw, pb) = packed_gemm(isa, 40, 200, &values(40 * 200, 18), &values(200, 19));
        let res = values(49 * 200, 20);
        let (mut a, mut b) = (vec![0.0; 49 * 200], vec![1.0; 49 * 200]);
        pointwise(
            &Serial,
            isa,
            &PointwiseGeom::new(49, 40, 200),
            &x,
            &pw,
            Epilogue::new(&pb, Some(Act::Relu6), Some(&res)),
            &mut a,
        );
        pointwise(
            &pool,
            isa,
            &PointwiseGeom::new(49, 40, 200),
            &x,
            &pw,
            Epilogue::new(&pb, Some(Act::Relu6), Some(&res)),
            &mut b,
        );
        assert_eq!(a, b, "pointwise by columns {isa}");

        // 25 rows in parts of 12: the last part is one row, a GEMV.
        let (pw, pb) = packed_gemm(isa, 300, 16, &values(300 * 16, 21), &values(16, 22));
        let xs = values(25 * 300, 23);
        let (mut a, mut b) = (vec![0.0; 25 * 16], vec![1.0; 25 * 16]);
        pointwise(
            &Serial,
            isa,
            &PointwiseGeom::new(25, 300, 16),
            &xs,
            &pw,
            Epilogue::new(&pb, Some(Act::Relu6), None),
            &mut a,
        );
        pointwise(
            &pool,
            isa,
            &PointwiseGeom::new(25, 300, 16),
            &xs,
            &pw,
            Epilogue::new(&pb, Some(Act::Relu6), None),
            &mut b,
        );
        assert_eq!(a, b, "pointwise with a one-row part {isa}");

        let (cw, cb) = packed_gemm(isa, 9 * 40, 24, &values(9 * 40 * 24, 8), &values(24, 9));
        let cg = geom(23, 17, 40, 24, 3, 2, [0, 1, 0, 1]);
        let (mut a, mut b) = (vec![0.0; cg.oh * cg.ow * 24], vec![1.0; cg.oh * cg.ow * 24]);
        conv2d(&Serial, isa, &cg, &x, &cw, Epilogue::new(&cb, Some(Act::Relu), None), &mut a);
        conv2d(&pool, isa, &cg, &x, &cw, Epilogue::new(&cb, Some(Act::Relu), None), &mut b);
        assert_eq!(a, b, "conv2d {isa}");

        let (dnw, dnb) = packed_gemm(isa, 40, 100, &values(40 * 100, 10), &values(100, 11));
        let (mut a, mut b) = ([0.0; 100], [1.0; 100]);
        pointwise(
            &Serial,
            isa,
            &PointwiseGeom::new(1, 40, 100),
            &x[..40],
            &dnw,
            Epilogue::new(&dnb, None, None),
            &mut a,
        );
        pointwise(&pool, isa, &PointwiseGeom::new(1, 40, 100), &x[..40], &dnw, Epilogue::new(&dnb, None, None), &mut b);
        assert_eq!(a, b, "dense (one pixel) {isa}");

        let bg = BlockGeom {
            h: 23,
            w: 17,
            cin: 40,
            e: 96,
            oh: 12,
            ow: 9,
            cout: 24,
            k: 3,
            s: 2,
            pad_top: 1,
            pad_left: 1,
            expand: Expansion::Pointwise,
            project: true,
        };
        let (ew, eb) = packed_gemm(isa, 40, 96, &values(40 * 96, 12), &values(96, 13));
        let (dw2, db2) = packed_dw(isa, 9, 96, &values(9 * 96, 14), &values(96, 15));
        let (pw2, pb2) = packed_gemm(isa, 96, 24, &values(96 * 24, 16), &values(24, 17));
        let stages = |s: &mut [f32], y: &mut [f32], e: &dyn crate::exec::Exec| {
            block(
                e,
                isa,
                &bg,
                &x,
                &Stages {
                    expand: Some(Stage { w: &ew, epi: Epilogue::new(&eb, Some(Act::Relu6), None) }),
                    depthwise: Stage { w: &dw2, epi: Epilogue::new(&db2, Some(Act::Relu6), None) },
                    project: Some(Stage { w: &pw2, epi: Epilogue::new(&pb2, None, None) }),
                },
                s,
                y,
            )
        };
        let (mut a, mut b) = (vec![0.0; 12 * 9 * 24], vec![1.0; 12 * 9 * 24]);
        stages(&mut vec![0.0; bg.scratch_len()], &mut a, &Serial);
        stages(&mut vec![0.0; 3 * bg.scratch_len()], &mut b, &pool);
        assert_eq!(a, b, "block {isa}");
    }
}

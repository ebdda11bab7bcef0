//! Times the int8 kernels on MobileNetV2 shapes (hot caches):
//! `cargo run --release -p mobilenet-runtime --example q8_bench [portable|avx2|avx512vnni]`.
//! `ONLY=text`: just the kernels whose name contains it (for profilers).
//! Without `ONLY`, it then times every kernel call of an int8 MobileNetV2
//! and prints their sum.

use mobilenet_runtime::exec::{Exec, Pool, Serial};
use mobilenet_runtime::kernels::q8::{self, PoolLayer, Requant, Residual, pack};
use mobilenet_runtime::kernels::{ConvGeom, Isa, PointwiseGeom};

/// Best seconds per call of `f`, printed with the MAC rate.
fn time(what: &str, macs: usize, mut f: impl FnMut()) -> f64 {
    if std::env::var("ONLY").is_ok_and(|only| !what.contains(&only)) {
        return 0.0;
    }
    let rounds = if std::env::var("ONLY").is_ok() { 200 } else { 7 };
    f();
    let mut best = f64::MAX;
    for _ in 0..rounds {
        // About 2 ms per round.
        let t = std::time::Instant::now();
        f();
        let once = t.elapsed().as_secs_f64();
        let iters = ((2e-3 / once) as usize).clamp(1, 1000);
        let t = std::time::Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / iters as f64);
    }
    println!("{what:40} {:8.4} ms {:7.1} GMAC/s", best * 1e3, macs as f64 / best / 1e9);
    best
}

/// Deterministic bytes.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8
        })
        .collect()
}

fn main() {
    let isa =
        std::env::args().nth(1).map_or_else(Isa::detect, |n| Isa::by_name(&n).expect("an available instruction set"));
    println!("int8 kernels: {isa}");
    for (m, k, n) in [
        (12544, 32, 16),
        (12544, 16, 96),
        (3136, 24, 144),
        (3136, 144, 24),
        (784, 32, 192),
        (784, 192, 32),
        (196, 64, 384),
        (196, 384, 64),
        (196, 576, 96),
        (49, 960, 160),
        (49, 160, 960),
        (49, 320, 1280),
        (1, 1280, 1000),
    ] {
        pointwise(isa, m, k, n, false);
    }
    // Every depthwise shape of MobileNetV2 1.0 224, on 1 thread and on 2.
    let pool = Pool::new(2);
    for (h, c, s) in [
        (112, 32, 1),
        (112, 96, 2),
        (56, 144, 1),
        (56, 144, 2),
        (28, 192, 1),
        (28, 192, 2),
        (14, 384, 1),
        (14, 576, 1),
        (14, 576, 2),
        (7, 960, 1),
    ] {
        depthwise_on(&Serial, isa, h, c, s, "");
        depthwise_on(&pool, isa, h, c, s, " 2 threads");
    }
    if std::env::var("ONLY").is_err() {
        v2(isa);
    }
}

fn pointwise(isa: Isa, m: usize, k: usize, n: usize, residual: bool) -> f64 {
    let x = bytes(m * k, 1);
    let w: Vec<i8> = bytes(k * n, 2).iter().map(|&b| (b as i8).max(-127)).collect();
    let mut packed = vec![0i8; pack::gemm_packed_len(isa.qlayout(), k, n)];
    pack::pack_gemm(isa.qlayout(), &w, k, n, &mut packed);
    let bias = vec![-1000; n];
    let mult = vec![1e-3; n];
    let r = bytes(m * n, 5);
    let residual = residual.then_some(Residual { x: &r, zp: 9, mult: 0.7 });
    let q = Requant { x_zp: 0, bias: &bias, mult: &mult, zp: 3, lo: 3, hi: 200, residual };
    let mut y = vec![0u8; m * n];
    let what = format!("pointwise {m}x{k}->{n}{}", if residual.is_some() { " +res" } else { "" });
    let g = PointwiseGeom::new(m, k, n);
    time(&what, m * k * n, || q8::pointwise(&Serial, isa, &g, &x, &packed, &q, &mut y))
}

fn depthwise(isa: Isa, h: usize, c: usize, s: usize) -> f64 {
    depthwise_on(&Serial, isa, h, c, s, "")
}

fn depthwise_on(e: &dyn Exec, isa: Isa, h: usize, c: usize, s: usize, tag: &str) -> f64 {
    let oh = (h + 2 - 3) / s + 1;
    let g = ConvGeom::new([h, h, c], [oh, oh, c], [3, 3], [s, s], [1, 1]);
    let x = bytes(h * h * c, 3);
    let w: Vec<i8> = bytes(9 * c, 4).iter().map(|&b| (b as i8).max(-127)).collect();
    let mut packed = vec![0i32; pack::depthwise_packed_len(isa.qlayout(), 9, c)];
    pack::pack_depthwise(isa.qlayout(), &w, 9, c, &mut packed);
    let bias = vec![100; c];
    let mult = vec![1e-2; c];
    let q = Requant { x_zp: 5, bias: &bias, mult: &mult, zp: 3, lo: 3, hi: 200, residual: None };
    let mut y = vec![0u8; oh * oh * c];
    time(&format!("depthwise {h}x{h}x{c} k3 s{s}{tag}"), oh * oh * c * 9, || {
        q8::depthwise(e, isa, &g, &x, &packed, &q, &mut y)
    })
}

/// Every kernel call of an int8 MobileNetV2 (1.0, 224) once, summed with
/// their counts: what a whole single-threaded `forward` would take in the
/// kernels, hot caches.
fn v2(isa: Isa) {
    println!("MobileNetV2 1.0 224, every layer:");
    let mut total = 0.0;
    // The stem: im2col (3x3 stride 2 on 3 channels, padded to the GEMM's k) and its GEMM.
    let g = ConvGeom::new([224, 224, 3], [112, 112, 32], [3, 3], [2, 2], [0, 0]);
    let kpad = pack::im2col_kpad(27);
    let x = bytes(224 * 224 * 3, 6);
    let mut cols = vec![0u8; 112 * 112 * kpad];
    total += time("im2col stem 224x224x3", 0, || q8::im2col(&g, &x, 7, kpad, &mut cols));
    total += pointwise(isa, 12544, kpad, 32, false);
    for (m, k, n, count, residual) in [
        (12544, 32, 16, 1, false),
        (12544, 16, 96, 1, false),
        (3136, 96, 24, 1, false),
        (3136, 24, 144, 2, false),
        (3136, 144, 24, 1, true),
        (784, 144, 32, 1, false),
        (784, 32, 192, 3, false),
        (784, 192, 32, 2, true),
        (196, 192, 64, 1, false),
        (196, 64, 384, 4, false),
        (196, 384, 64, 3, true),
        (196, 384, 96, 1, false),
        (196, 96, 576, 3, false),
        (196, 576, 96, 2, true),
        (49, 576, 160, 1, false),
        (49, 160, 960, 3, false),
        (49, 960, 160, 2, true),
        (49, 960, 320, 1, false),
        (49, 320, 1280, 1, false),
    ] {
        total += count as f64 * pointwise(isa, m, k, n, residual);
    }
    for (h, c, s, count) in [
        (112, 32, 1, 1),
        (112, 96, 2, 1),
        (56, 144, 1, 1),
        (56, 144, 2, 1),
        (28, 192, 1, 2),
        (28, 192, 2, 1),
        (14, 384, 1, 4),
        (14, 576, 1, 2),
        (14, 576, 2, 1),
        (7, 960, 1, 3),
    ] {
        total += count as f64 * depthwise(isa, h, c, s);
    }
    let x = bytes(49 * 1280, 7);
    let mut pooled = vec![0u8; 1280];
    let pool = PoolLayer { x_zp: 3, mult: 0.02, zp: 5 };
    total += time("global_avg_pool 49x1280", 0, || q8::global_avg_pool(49, 1280, &x, &pool, &mut pooled));
    let w: Vec<i8> = bytes(1280 * 1000, 8).iter().map(|&b| (b as i8).max(-127)).collect();
    let mut packed = vec![0i8; pack::gemm_packed_len(isa.qlayout(), 1280, 1000)];
    pack::pack_gemm(isa.qlayout(), &w, 1280, 1000, &mut packed);
    let (bias, scale) = (vec![0; 1000], vec![1e-3; 1000]);
    let mut logits = vec![0f32; 1000];
    total += time("pointwise_f32 1x1280->1000", 1280 * 1000, || {
        q8::pointwise_f32(isa, &PointwiseGeom::new(1, 1280, 1000), &pooled, &packed, &bias, &scale, &mut logits)
    });
    let input: Vec<f32> = bytes(224 * 224 * 3, 9).iter().map(|&b| b as f32).collect();
    let mut q = vec![0u8; input.len()];
    total += time("quantize 224x224x3", 0, || q8::quantize(0.5, 3.0, &input, &mut q));
    println!("v2 kernels in all: {:.3} ms", total * 1e3);
}

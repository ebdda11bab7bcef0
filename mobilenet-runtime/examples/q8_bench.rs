//! Times the int8 kernels on MobileNetV2 shapes (hot caches):
//! `cargo run --release -p mobilenet-runtime --example q8_bench [portable|avx2|avx512vnni]`.
//! `ONLY=text`: just the kernels whose name contains it (for profilers).

use mobilenet_runtime::exec::Serial;
use mobilenet_runtime::kernels::ConvGeom;
use mobilenet_runtime::kernels::q8::{self, QIsa, Requant};

fn time(what: &str, macs: usize, mut f: impl FnMut()) {
    if std::env::var("ONLY").is_ok_and(|only| !what.contains(&only)) {
        return;
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
    let isa = std::env::args().nth(1).map_or_else(QIsa::detect, |n| QIsa::by_name(&n).expect("an available QIsa"));
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
        let x = bytes(m * k, 1);
        let w: Vec<i8> = bytes(k * n, 2).iter().map(|&b| (b as i8).max(-127)).collect();
        let mut packed = vec![0i8; q8::gemm_packed_len(isa, k, n)];
        q8::pack_gemm(isa, &w, k, n, &mut packed);
        let bias = vec![-1000; n];
        let mult = vec![1e-3; n];
        let q = Requant { mult: &mult, zp: 3, lo: 3, hi: 200, residual: None };
        let mut y = vec![0u8; m * n];
        time(&format!("pointwise {m}x{k}->{n}"), m * k * n, || {
            q8::pointwise(&Serial, isa, m, k, n, &x, &packed, &bias, &q, &mut y)
        });
    }
    for (h, c, s) in [(112, 96, 2), (56, 144, 1), (14, 576, 1), (7, 960, 1), (112, 32, 1), (28, 192, 1)] {
        let oh = (h + 2 - 3) / s + 1;
        let g = ConvGeom::new([h, h, c], [oh, oh, c], [3, 3], [s, s], [1, 1]);
        let x = bytes(h * h * c, 3);
        let w: Vec<i8> = bytes(9 * c, 4).iter().map(|&b| (b as i8).max(-127)).collect();
        let mut packed = vec![0i32; q8::depthwise_packed_len(isa, 9, c)];
        q8::pack_depthwise(isa, &w, 9, c, &mut packed);
        let bias = vec![100; c];
        let mult = vec![1e-2; c];
        let q = Requant { mult: &mult, zp: 3, lo: 3, hi: 200, residual: None };
        let mut y = vec![0u8; oh * oh * c];
        time(&format!("depthwise {h}x{h}x{c} k3 s{s}"), oh * oh * c * 9, || {
            q8::depthwise(&Serial, isa, &g, &x, 5, &packed, &bias, &q, &mut y)
        });
    }
}

//! Runs one network's forward in a loop, for profilers:
//! `cargo run --release -p generated-example --example spin -- v2 WEIGHTS [SECONDS]`
//! (any precision: `tv-v2-int8` with the int8 file).

use generated_example::{
    MobileNetV1, MobileNetV2, MobileNetV3Large, MobileNetV3Small, TorchvisionMobileNetV2Int8, unfused,
};
use mobilenet_runtime::Network;

fn spin<N: Network>(net: N, seconds: f64) {
    let threads: usize = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let pool = mobilenet_runtime::exec::Pool::new(threads);
    let x = vec![0.5f32; N::INPUT_LEN];
    let (mut y, mut arena) = (vec![0.0; N::OUTPUT_LEN], mobilenet_runtime::buffer::Buffer::zeroed(N::ARENA_LEN));
    let mut scratch = vec![Default::default(); threads * N::SCRATCH_LEN];
    let start = std::time::Instant::now();
    let mut runs = 0;
    while start.elapsed().as_secs_f64() < seconds {
        if threads == 1 {
            net.run(&x, &mut y, &mut arena);
        } else {
            net.run_on(&pool, &x, &mut y, &mut arena, &mut scratch);
        }
        runs += 1;
    }
    println!("{runs} runs, {:.3} ms each", start.elapsed().as_secs_f64() * 1e3 / runs as f64);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, weights) = (args[1].as_str(), &args[2]);
    let seconds = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    match model {
        "v1" => spin(MobileNetV1::load(weights).unwrap(), seconds),
        "v2" => spin(MobileNetV2::load(weights).unwrap(), seconds),
        "v3-large" => spin(MobileNetV3Large::load(weights).unwrap(), seconds),
        "v3-small" => spin(MobileNetV3Small::load(weights).unwrap(), seconds),
        "v2-unfused" => spin(unfused::MobileNetV2::load(weights).unwrap(), seconds),
        "tv-v2-int8" => spin(TorchvisionMobileNetV2Int8::load(weights).unwrap(), seconds),
        m => panic!("unknown model {m}"),
    }
}

//! Where an int8 forward pass spends its time, step by step: the trained
//! torchvision MobileNetV2 in int8 next to the same network in f32.
//!
//! `taskset -c 0 cargo run --release -p generated-example --example profile_int8` (`THREADS=2` for two threads)

use generated_example::imagenet;
use mobilenet_macros::mobilenet;
use mobilenet_runtime::exec::Pool;

mobilenet!("../specs/tv_v2_1.0_224.yaml", name = Int8, precision = int8, profile = true);

fn main() {
    let threads: usize = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let pool = Pool::new(threads);
    let net = Int8::load(imagenet::INT8).expect("int8 model");
    let x = [0.5f32; Int8::INPUT_LEN];
    let mut y = [0.0f32; Int8::OUTPUT_LEN];
    let mut arena = Int8::new_arena();
    let mut times = [0.0f64; Int8::STEP_NAMES.len()];
    for _ in 0..20 {
        net.forward_on(&pool, &x, &mut y, &mut arena);
    }
    let rounds = 200;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        net.forward_timed_on(&pool, &x, &mut y, &mut arena, &mut times);
    }
    let total = started.elapsed().as_secs_f64() / rounds as f64;
    println!("int8 kernels: {}, threads: {threads}, {:.3} ms per image", net.isa(), total * 1e3);
    let sum: f64 = times.iter().sum();
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[b].total_cmp(&times[a]));
    for i in order {
        println!(
            "{:32} {:8.1} us {:5.1}%",
            Int8::STEP_NAMES[i],
            times[i] / rounds as f64 * 1e6,
            times[i] / sum * 100.0
        );
    }
}

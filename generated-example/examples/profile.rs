//! Time per step of a compiled network, slowest first:
//! `cargo run --release -p generated-example --example profile -- v2 WEIGHTS [RUNS]`
//! (`THREADS=2` for a pool of two threads, `INPUT=file.npy` for its first
//! image instead of a constant one). `tv-v2-int8` is torchvision's trained
//! MobileNetV2 in int8 (`WEIGHTS`: `models/mobilenet_v2_imagenet/int8.safetensors`),
//! `tv-v2` the same network in f32.

mod nets {
    mobilenet_macros::mobilenet!("../specs/v1_1.0_224.yaml", name = V1, profile = true);
    mobilenet_macros::mobilenet!("../specs/v2_1.0_224.yaml", name = V2, profile = true);
    mobilenet_macros::mobilenet!("../specs/v3-large_1.0_224.yaml", name = V3Large, profile = true);
    mobilenet_macros::mobilenet!("../specs/v3-small_1.0_224.yaml", name = V3Small, profile = true);
    mobilenet_macros::mobilenet!("../specs/tv_v2_1.0_224.yaml", name = TvV2, profile = true);
    mobilenet_macros::mobilenet!("../specs/tv_v2_1.0_224.yaml", name = TvV2Int8, profile = true, precision = int8);
}

macro_rules! profile {
    ($t:ty, $weights:expr, $runs:expr) => {{
        let net = <$t>::load($weights).unwrap();
        // `INPUT=file.npy`: its first image, else a constant image.
        let data: Vec<f32> = match std::env::var("INPUT") {
            Ok(path) => {
                let bytes = std::fs::read(&path).expect("INPUT file");
                let all: Vec<f32> = npyz::NpyFile::new(&bytes[..]).expect("npy").into_vec().expect("f32");
                all[..<$t>::INPUT_LEN].to_vec()
            }
            Err(_) => vec![0.5f32; <$t>::INPUT_LEN],
        };
        let x: Box<[f32; <$t>::INPUT_LEN]> = data.into_boxed_slice().try_into().unwrap();
        let mut y = [0.0; <$t>::OUTPUT_LEN];
        let mut arena = <$t>::new_arena();
        let mut times = [0.0; <$t>::STEP_NAMES.len()];
        let threads = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1).max(1);
        let pool = mobilenet_runtime::exec::Pool::new(threads);
        let mut scratch = <$t>::new_scratch(threads);
        for _ in 0..5 {
            net.forward_on(&pool, &x, &mut y, &mut arena, &mut scratch);
        }
        for _ in 0..$runs {
            net.forward_timed_on(&pool, &x, &mut y, &mut arena, &mut scratch, &mut times);
        }
        println!("kernels: {}, threads: {threads}", net.isa());
        report(&<$t>::STEP_NAMES, &times, $runs);
    }};
}

fn report(names: &[&str], times: &[f64], runs: usize) {
    let total: f64 = times.iter().sum();
    let mut rows: Vec<(usize, f64)> = times.iter().copied().enumerate().collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("total {:.3} ms per run", total / runs as f64 * 1e3);
    let show = std::env::var("ALL").map_or(40, |_| rows.len());
    for (i, t) in rows.iter().take(show) {
        println!("{:7.3} ms {:5.1}%  {}", t / runs as f64 * 1e3, t / total * 100.0, names[*i]);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let weights = &args[2];
    let runs = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    match args[1].as_str() {
        "v1" => profile!(nets::V1, weights, runs),
        "v2" => profile!(nets::V2, weights, runs),
        "v3-large" => profile!(nets::V3Large, weights, runs),
        "v3-small" => profile!(nets::V3Small, weights, runs),
        "tv-v2" => profile!(nets::TvV2, weights, runs),
        "tv-v2-int8" => profile!(nets::TvV2Int8, weights, runs),
        m => panic!("unknown model {m}"),
    }
}

//! Images per second on every core: what a user classifying a folder of
//! photos cares about, rather than the latency of one image.
//!
//! ```text
//! taskset -c 0,1 cargo bench -p generated-example --bench throughput        # -- --rounds 7 --images 64
//! ```
//!
//! For each network, alternating in rounds, and reporting the median round:
//!
//! * **per core**: one image per core in flight: as many worker threads as
//!   `--threads` (default 2), each with its own arena, each running whole
//!   images one after another (`forward`, one thread per image) from a
//!   shared counter, `--images` (default 64) images in all;
//! * **split**: one image at a time, each kernel split between the threads
//!   of a `Pool` (`forward_on`): the latency path, for comparison;
//! * **ORT batch 8**: ONNX Runtime with `--threads` intra-op threads on
//!   batches of 8 images (`tools/ort_worker.py`, when
//!   `../shared/peers/setup.sh` has been run).
//!
//! The image is the fixture's image 0 (all images are the same: throughput
//! does not depend on the values).

mod peers;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use generated_example::{MobileNetV1, MobileNetV2, MobileNetV3Large, MobileNetV3Small};
use mobilenet_runtime::Network;
use mobilenet_runtime::buffer::Buffer;
use mobilenet_runtime::exec::{Exec, Pool};
use peers::{Engine, Peer, image, repo};

struct Options {
    threads: usize,
    images: usize,
    rounds: usize,
    only: Option<String>,
}

fn options() -> Options {
    let mut o = Options { threads: 2, images: 64, rounds: 7, only: None };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match args[i].as_str() {
            "--threads" => o.threads = value.and_then(|v| v.parse().ok()).expect("--threads N"),
            "--images" => o.images = value.and_then(|v| v.parse().ok()).expect("--images N"),
            "--rounds" => o.rounds = value.and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--only" => o.only = value,
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

/// Images per second, one whole image per thread at a time.
fn per_core<N: Network + Sync>(net: &N, x: &[f32], threads: usize, images: usize) -> f64 {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut arena = Buffer::zeroed(N::ARENA_LEN);
                let mut y = vec![0.0; N::OUTPUT_LEN];
                while next.fetch_add(1, Ordering::Relaxed) < images {
                    net.run(std::hint::black_box(x), &mut y, &mut arena);
                }
            });
        }
    });
    images as f64 / start.elapsed().as_secs_f64()
}

/// Images per second, one image at a time on the pool's threads.
fn split<N: Network>(net: &N, pool: &Pool, x: &[f32], images: usize) -> f64 {
    let mut arena = Buffer::zeroed(N::ARENA_LEN);
    let mut scratch = vec![N::Elem::default(); pool.threads() * N::SCRATCH_LEN];
    let mut y = vec![0.0; N::OUTPUT_LEN];
    let start = Instant::now();
    for _ in 0..images {
        net.run_on(pool, std::hint::black_box(x), &mut y, &mut arena, &mut scratch);
    }
    images as f64 / start.elapsed().as_secs_f64()
}

/// Images per second of ONNX Runtime on batches of [`ORT_BATCH`], over
/// `images` images (whole batches).
fn ort_images_per_s(ort: &mut Peer, images: usize) -> f64 {
    let batches = images.div_ceil(ORT_BATCH);
    let ms: f64 = ort.run(batches).iter().sum();
    (batches * ORT_BATCH) as f64 / (ms * 1e-3)
}

const ORT_BATCH: usize = 8;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench<N: Network + Sync>(o: &Options, name: &str, fixture_dir: &str, load: impl Fn(&Path) -> N) {
    if o.only.as_deref().is_some_and(|only| !name.contains(only)) {
        return;
    }
    let fixture = repo().join("../shared/fixtures").join(fixture_dir);
    let weights = fixture.join("weights.safetensors");
    if !weights.exists() {
        eprintln!("{name}: {} not found, skipped", weights.display());
        return;
    }
    let net = load(&weights);
    let x = image(&fixture, N::INPUT_LEN);
    let pool = Pool::new(o.threads);
    let mut ort = Peer::start(Engine::OnnxRuntime, fixture_dir, &fixture, o.threads, ORT_BATCH);
    // Warm-up of each.
    per_core(&net, &x, o.threads, 2 * o.threads);
    split(&net, &pool, &x, 2);
    if let Some(ort) = &mut ort {
        ort_images_per_s(ort, ORT_BATCH);
    }
    let settle = || std::thread::sleep(std::time::Duration::from_millis(20));
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..o.rounds {
        a.push(per_core(&net, &x, o.threads, o.images));
        settle();
        b.push(split(&net, &pool, &x, o.images));
        settle();
        if let Some(ort) = &mut ort {
            c.push(ort_images_per_s(ort, o.images));
            settle();
        }
    }
    let (a, b) = (median(a), median(b));
    let ort = (!c.is_empty()).then(|| median(c));
    println!(
        "| {name} | {} | {a:.1} | {b:.1} | {} | {} |",
        o.threads,
        ort.map_or("-".into(), |v| format!("{v:.1}")),
        ort.map_or("-".into(), |v| format!("{:.2}", a / v)),
    );
}

fn main() {
    let o = options();
    eprintln!(
        "kernels: {}, threads: {}, {} images per round, {} rounds",
        mobilenet_runtime::kernels::Isa::detect(),
        o.threads,
        o.images,
        o.rounds
    );
    println!(
        "| model | threads | ours, image per core (img/s) | ours, split image (img/s) | ORT batch 8 (img/s) | ours per core / ORT |"
    );
    println!("|---|---|---|---|---|---|");
    bench(&o, "v1_1.0_224", "v1_1.0_224", |p| MobileNetV1::load(p).unwrap());
    bench(&o, "v2_1.0_224", "v2_1.0_224", |p| MobileNetV2::load(p).unwrap());
    bench(&o, "v3-large_1.0_224", "v3large_1.0_224", |p| MobileNetV3Large::load(p).unwrap());
    bench(&o, "v3-small_1.0_224", "v3small_1.0_224", |p| MobileNetV3Small::load(p).unwrap());
}

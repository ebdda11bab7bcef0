//! Our fused and unfused code against ONNX Runtime and LiteRT, side by side.
//!
//! ```text
//! taskset -c 0 cargo bench -p generated-example --bench compare                 # one core
//! taskset -c 0,1 cargo bench -p generated-example --bench compare -- --threads 2
//! ```
//!
//! For each network, in rounds, runs our fused `forward`, our unfused
//! `forward`, ONNX Runtime through `tools/ort_worker.py` (when
//! `../shared/peers/setup.sh` has made `../shared/peers/.venv-peers`) and
//! LiteRT with XNNPACK through `tools/litert_worker.py` (when
//! `../shared/peers/litert/setup.sh` has made its venv and float32 models),
//! a batch of 12 runs each (the first 2 of a batch are warm-up and not
//! counted), alternating, on the fixture's image 0, until each has `--runs`
//! (default 200) timings. Prints medians, ours / best peer, and the
//! fraction of one core's FMA peak (`--peak` GFMA/s, default: measured).
//! Options: `--runs N`, `--threads 1|2`, `--only v2`, `--peak G`.

mod peers;

use std::path::Path;

use generated_example::{MobileNetV1, MobileNetV2, MobileNetV3Large, MobileNetV3Small, unfused};
use mobilenet_runtime::Network;
use mobilenet_runtime::exec::Pool;
use peers::{Engine, Peer, image, repo, timer};

struct Options {
    runs: usize,
    threads: usize,
    only: Option<String>,
    peak: Option<f64>,
}

fn options() -> Options {
    let mut o = Options { runs: 200, threads: 1, only: None, peak: None };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match args[i].as_str() {
            "--runs" => o.runs = value.and_then(|v| v.parse().ok()).expect("--runs N"),
            "--threads" => o.threads = value.and_then(|v| v.parse().ok()).expect("--threads 1|2"),
            "--only" => o.only = value,
            "--peak" => o.peak = value.and_then(|v| v.parse().ok()),
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

/// Runs per batch of one engine, and how many of its first are warm-up.
const BATCH: usize = 12;
const WARM: usize = 2;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One core's FMA rate, measured on a register-resident loop.
fn measured_peak() -> f64 {
    mobilenet_runtime::kernels::peak_gfma_per_s()
}

struct Row {
    name: &'static str,
    macs: f64,
    fused: f64,
    unfused: f64,
    /// Median per peer engine (None: not set up).
    peers: Vec<(Engine, Option<f64>)>,
}

fn compare<F: Network, U: Network>(
    o: &Options,
    name: &'static str,
    fixture_dir: &str,
    macs: f64,
    load_fused: impl Fn(&Path) -> F,
    load_unfused: impl Fn(&Path) -> U,
) -> Option<Row> {
    if o.only.as_deref().is_some_and(|only| !name.contains(only)) {
        return None;
    }
    let fixture = repo().join("../shared/fixtures").join(fixture_dir);
    let weights = fixture.join("weights.safetensors");
    if !weights.exists() {
        eprintln!("{name}: {} not found, skipped", weights.display());
        return None;
    }
    eprintln!("{name}:");
    let (fused, unfused) = (load_fused(&weights), load_unfused(&weights));
    let pool = Pool::new(o.threads);
    let x = image(&fixture, F::INPUT_LEN);
    let mut peers: Vec<(Engine, Option<Peer>)> =
        Engine::ALL.iter().map(|&e| (e, Peer::start(e, fixture_dir, &fixture, o.threads, 1))).collect();
    // Warm up, then alternate batches until each has `runs` timings. The
    // first runs of a batch find the caches full of the previous engine's
    // weights and (on two threads) their workers asleep: they are dropped,
    // for every engine alike, so that the medians compare steady states.
    let (mut time_fused, mut time_unfused) = (timer(&fused, &pool, &x), timer(&unfused, &pool, &x));
    time_fused(BATCH);
    time_unfused(BATCH);
    for (_, peer) in peers.iter_mut() {
        if let Some(p) = peer {
            p.run(BATCH);
        }
    }
    let steady = |t: Vec<f64>| t.into_iter().skip(WARM);
    // Between batches, a pause: thread pools (ONNX Runtime's and ours) spin
    // for a while after their last job, and must not steal the cores of
    // the next batch.
    let settle = || std::thread::sleep(std::time::Duration::from_millis(if o.threads > 1 { 20 } else { 1 }));
    let (mut tf, mut tu) = (Vec::new(), Vec::new());
    let mut tp: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
    while tf.len() < o.runs {
        tf.extend(steady(time_fused(BATCH)));
        settle();
        tu.extend(steady(time_unfused(BATCH)));
        settle();
        for ((_, peer), t) in peers.iter_mut().zip(&mut tp) {
            if let Some(p) = peer {
                t.extend(steady(p.run(BATCH)));
                settle();
            }
        }
    }
    let peers = peers.iter().zip(&mut tp).map(|((e, _), t)| (*e, (!t.is_empty()).then(|| median(t)))).collect();
    Some(Row { name, macs, fused: median(&mut tf), unfused: median(&mut tu), peers })
}

fn main() {
    let o = options();
    let isa = mobilenet_runtime::kernels::Isa::detect();
    let peak = o.peak.unwrap_or_else(measured_peak);
    eprintln!("kernels: {isa}, threads: {}, runs: {}, one core's FMA peak: {peak:.1} GFMA/s", o.threads, o.runs);
    let rows: Vec<Row> = [
        compare(
            &o,
            "v1_1.0_224",
            "v1_1.0_224",
            568.7e6,
            |p| MobileNetV1::load(p).unwrap(),
            |p| unfused::MobileNetV1::load(p).unwrap(),
        ),
        compare(
            &o,
            "v2_1.0_224",
            "v2_1.0_224",
            300.8e6,
            |p| MobileNetV2::load(p).unwrap(),
            |p| unfused::MobileNetV2::load(p).unwrap(),
        ),
        compare(
            &o,
            "v3-large_1.0_224",
            "v3large_1.0_224",
            216.6e6,
            |p| MobileNetV3Large::load(p).unwrap(),
            |p| unfused::MobileNetV3Large::load(p).unwrap(),
        ),
        compare(
            &o,
            "v3-small_1.0_224",
            "v3small_1.0_224",
            56.5e6,
            |p| MobileNetV3Small::load(p).unwrap(),
            |p| unfused::MobileNetV3Small::load(p).unwrap(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    println!();
    println!(
        "| model | threads | fused ms | unfused ms | ORT ms | LiteRT ms | fused / best peer | fused / unfused | fused % of FMA peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let ms = |e: usize| r.peers[e].1.map_or("-".into(), |v| format!("{v:.2}"));
        let best = r.peers.iter().filter_map(|p| p.1).min_by(f64::total_cmp);
        let ratio = best.map_or("-".into(), |v| format!("{:.2}", r.fused / v));
        let eff = r.macs / (r.fused * 1e-3) / 1e9 / (peak * o.threads as f64) * 100.0;
        println!(
            "| {} | {} | {:.2} | {:.2} | {} | {} | {ratio} | {:.2} | {eff:.0}% |",
            r.name,
            o.threads,
            r.fused,
            r.unfused,
            ms(0),
            ms(1),
            r.fused / r.unfused
        );
    }
}

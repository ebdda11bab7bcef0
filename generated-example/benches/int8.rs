//! int8 against f32, ours and LiteRT's (XNNPACK), side by side.
//!
//! ```text
//! taskset -c 0 cargo bench -p generated-example --bench int8                 # one core
//! taskset -c 0,1 cargo bench -p generated-example --bench int8 -- --threads 2
//! ```
//!
//! For v1 and v2 (the `../shared/fixtures` Keras networks, quantized here by
//! `mobilenet_compiler::quant` on the fixture's images: speed does not
//! depend on the calibration) and torchvision's trained MobileNetV2
//! (`models/mobilenet_v2_imagenet/int8.safetensors`), in rounds, times our
//! fused f32 `forward`, our int8 `forward` and, where
//! `../shared/peers/litert/setup.sh` has made them, LiteRT's int8 and f32
//! models, a batch of 12 runs each (the first 2 dropped), alternating,
//! until each has `--runs` (default 200) timings. Prints medians and
//! ratios. Options: `--runs N`, `--threads 1|2`, `--only v2`, `--int8-isa
//! avx2` (our int8 kernels of another instruction set).

mod peers;

use std::path::Path;

use generated_example::{MobileNetV1, MobileNetV2, TorchvisionMobileNetV2, TorchvisionMobileNetV2Int8, imagenet, int8};
use mobilenet_compiler::quant::{self, Int8Graph};
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{lower, spec::Spec};
use mobilenet_runtime::exec::Pool;
use mobilenet_runtime::kernels::Isa;
use ndarray::{ArrayD, IxDyn};
use peers::{Engine, Peer, Timer, image, repo, timer};

const BATCH: usize = 12;
const WARM: usize = 2;

struct Options {
    /// The int8 kernels (`--int8-isa avx2` shows what an AVX2-only machine runs).
    qisa: Isa,
    runs: usize,
    threads: usize,
    only: Option<String>,
}

fn options() -> Options {
    let mut o = Options { qisa: Isa::detect(), runs: 200, threads: 1, only: None };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match args[i].as_str() {
            "--runs" => o.runs = value.and_then(|v| v.parse().ok()).expect("--runs N"),
            "--threads" => o.threads = value.and_then(|v| v.parse().ok()).expect("--threads 1|2"),
            "--only" => o.only = value,
            "--int8-isa" => {
                o.qisa = value
                    .and_then(|v| Isa::by_name(&v))
                    .expect("--int8-isa portable|avx2|avx512|avx512vnni (on this CPU)")
            }
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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Alternates batches of every timer until each has `runs` timings; medians.
fn alternate(o: &Options, timers: &mut [(String, Timer<'_>)]) -> Vec<f64> {
    for (_, t) in timers.iter_mut() {
        t(BATCH);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); timers.len()];
    while times[0].len() < o.runs {
        for ((_, t), v) in timers.iter_mut().zip(&mut times) {
            v.extend(t(BATCH).into_iter().skip(WARM));
            std::thread::sleep(std::time::Duration::from_millis(if o.threads > 1 { 20 } else { 1 }));
        }
    }
    times.iter_mut().map(|v| median(v)).collect()
}

/// The fixture's float network quantized on the fixture's own images.
fn quantize_fixture(spec: &str, fixture: &Path) -> std::path::PathBuf {
    let graph = lower(&Spec::from_file(&repo().join(spec)).expect("spec")).expect("lowers");
    let net = Int8Graph::of(&graph).expect("int8");
    let weights = Weights::load(&fixture.join("weights.safetensors"), &graph).expect("weights");
    let x = mobilenet_compiler::npy::read(&fixture.join("input.npy")).expect("input.npy");
    let x = ArrayD::from_shape_vec(IxDyn(&x.shape), x.data).expect("shape");
    let file = quant::quantize(&net, &weights, x.view(), 4).expect("quantizes");
    let out = std::env::temp_dir().join(format!("bench_int8_{}.safetensors", graph.name));
    file.write(&out).expect("written");
    out
}

struct Row {
    name: &'static str,
    /// Multiply-accumulates of one image.
    macs: f64,
    f32_ms: f64,
    int8_ms: f64,
    litert: Option<(f64, f64)>,
}

fn litert_timers(model: &str, fixture: &Path, threads: usize) -> Vec<(String, Timer<'static>)> {
    let mut out: Vec<(String, Timer<'static>)> = Vec::new();
    for m in [format!("{model}_int8"), model.to_string()] {
        if let Some(mut p) = Peer::start(Engine::LiteRt, &m, fixture, threads, 1) {
            out.push((m, Box::new(move |n| p.run(n))));
        }
    }
    out
}

fn main() {
    let o = options();
    let pool = Pool::new(o.threads);
    eprintln!(
        "f32 kernels: {}, int8 kernels: {}, threads: {}, runs: {}",
        mobilenet_runtime::kernels::Isa::detect(),
        o.qisa,
        o.threads,
        o.runs
    );
    let mut rows = Vec::new();
    let fixtures = repo().join("../shared/fixtures");
    let wanted = |name: &str| o.only.as_deref().is_none_or(|only| name.contains(only));
    if wanted("v1_1.0_224") && fixtures.join("v1_1.0_224").exists() {
        let fx = fixtures.join("v1_1.0_224");
        let q = quantize_fixture("specs/v1_1.0_224.yaml", &fx);
        let f = MobileNetV1::load(fx.join("weights.safetensors")).expect("weights");
        let i = int8::MobileNetV1::load_with(&q, o.qisa).expect("int8");
        let x = image(&fx, MobileNetV1::INPUT_LEN);
        let mut t = vec![("f32".to_string(), timer(&f, &pool, &x)), ("int8".into(), timer(&i, &pool, &x))];
        t.extend(litert_timers("v1_1.0_224", &fx, o.threads));
        let m = alternate(&o, &mut t);
        rows.push(Row {
            name: "v1_1.0_224",
            macs: 568.7e6,
            f32_ms: m[0],
            int8_ms: m[1],
            litert: (m.len() == 4).then(|| (m[2], m[3])),
        });
    }
    if wanted("v2_1.0_224") && fixtures.join("v2_1.0_224").exists() {
        let fx = fixtures.join("v2_1.0_224");
        let q = quantize_fixture("specs/v2_1.0_224.yaml", &fx);
        let f = MobileNetV2::load(fx.join("weights.safetensors")).expect("weights");
        let i = int8::MobileNetV2::load_with(&q, o.qisa).expect("int8");
        let x = image(&fx, MobileNetV2::INPUT_LEN);
        let mut t = vec![("f32".to_string(), timer(&f, &pool, &x)), ("int8".into(), timer(&i, &pool, &x))];
        t.extend(litert_timers("v2_1.0_224", &fx, o.threads));
        let m = alternate(&o, &mut t);
        rows.push(Row {
            name: "v2_1.0_224",
            macs: 300.8e6,
            f32_ms: m[0],
            int8_ms: m[1],
            litert: (m.len() == 4).then(|| (m[2], m[3])),
        });
    }
    if wanted("tv_v2") {
        let f = TorchvisionMobileNetV2::load(imagenet::WEIGHTS).expect("weights");
        let i = TorchvisionMobileNetV2Int8::load_with(imagenet::INT8, o.qisa).expect("int8");
        let dir = repo().join("generated-example/models/mobilenet_v2_imagenet/reference");
        let x = image(&dir, TorchvisionMobileNetV2::INPUT_LEN);
        let mut t = vec![("f32".to_string(), timer(&f, &pool, &x)), ("int8".into(), timer(&i, &pool, &x))];
        let m = alternate(&o, &mut t);
        rows.push(Row { name: "tv_v2_1.0_224 (trained)", macs: 300.8e6, f32_ms: m[0], int8_ms: m[1], litert: None });
    }
    println!();
    let peak = mobilenet_runtime::kernels::peak_int8_gmac_per_s(o.qisa);
    eprintln!(
        "one core's int8 peak with the {} kernels' instructions: {}",
        o.qisa,
        peak.map_or("-".into(), |p| format!("{p:.0} GMAC/s"))
    );
    println!(
        "| model | threads | ours f32 ms | ours int8 ms | int8 / f32 | LiteRT int8 ms | LiteRT f32 ms | ours int8 / LiteRT int8 | int8 % of int8 peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (li, lf, ratio) = match r.litert {
            Some((i, f)) => (format!("{i:.2}"), format!("{f:.2}"), format!("{:.2}", r.int8_ms / i)),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let eff = peak.map_or("-".into(), |p| {
            format!("{:.0}%", r.macs / (r.int8_ms * 1e-3) / 1e9 / (p * o.threads as f64) * 100.0)
        });
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {li} | {lf} | {ratio} | {eff} |",
            r.name,
            o.threads,
            r.f32_ms,
            r.int8_ms,
            r.int8_ms / r.f32_ms
        );
    }
}

//! Shared helpers of the cross-crate tests: the Keras fixtures and how to
//! compare against them.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use mobilenet_compiler::npy;
use mobilenet_compiler::spec::{Family, Framework, Spec, StandardOptions, standard_spec};

/// A Keras or torchvision fixture directory (`meta.json`,
/// `weights.safetensors`, `input.npy`, `expected_logits.npy`, optionally
/// `intermediates.safetensors`).
pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
    pub options: StandardOptions,
    pub meta: serde_json::Value,
}

impl Fixture {
    pub fn open(dir: &Path) -> Fixture {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json")).expect("json");
        if let Some(arch) = meta["arch"].as_str() {
            // Made by torchvision (tools/make_torch_fixture.py).
            let family = match arch {
                "mobilenet_v2" => Family::V2,
                "mobilenet_v3_large" => Family::V3Large,
                "mobilenet_v3_small" => Family::V3Small,
                a => panic!("unknown torchvision arch {a}"),
            };
            let mut options = StandardOptions::new(family);
            options.framework = Framework::Torchvision;
            options.alpha = meta["width_mult"].as_f64().expect("width_mult");
            options.height = meta["height"].as_u64().expect("height") as u32;
            options.width = meta["width"].as_u64().expect("width") as u32;
            options.classes = meta["classes"].as_u64().expect("classes") as u32;
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            return Fixture { name, dir: dir.to_path_buf(), options, meta };
        }
        let family = match meta["family"].as_str().expect("family") {
            "v1" => Family::V1,
            "v2" => Family::V2,
            "v3large" | "v3-large" => Family::V3Large,
            "v3small" | "v3-small" => Family::V3Small,
            f => panic!("unknown family {f}"),
        };
        let mut options = StandardOptions::new(family);
        options.alpha = meta["alpha"].as_f64().expect("alpha");
        options.height = meta["height"].as_u64().expect("height") as u32;
        options.width = meta["width"].as_u64().expect("width") as u32;
        options.classes = meta["classes"].as_u64().expect("classes") as u32;
        options.minimalistic = meta["minimalistic"].as_bool().unwrap_or(false);
        options.include_preprocessing = meta["include_preprocessing"].as_bool().unwrap_or(false);
        Fixture { name: dir.file_name().unwrap().to_string_lossy().into_owned(), dir: dir.to_path_buf(), options, meta }
    }

    /// The fixture's `spec.yaml` if it has one (models that are not a standard
    /// variant), else the spec `mobilenetc spec` prints for its configuration.
    pub fn spec(&self) -> Spec {
        let own = self.dir.join("spec.yaml");
        if own.exists() {
            return Spec::from_file(&own).unwrap_or_else(|e| panic!("{e}"));
        }
        Spec::parse(&standard_spec(&self.options), &format!("{}.yaml", self.name)).expect("standard spec parses")
    }

    /// Whether the fixture comes from torchvision (intermediates keyed by
    /// module name, CHW).
    pub fn is_torch(&self) -> bool {
        self.options.framework == Framework::Torchvision
    }

    /// Whether `intermediates.safetensors` holds every Keras operation's
    /// output (fixtures made by `tools/make_keras_fixture.py`) rather than a
    /// selection of block outputs (the fixtures of `../shared`).
    pub fn has_all_intermediates(&self) -> bool {
        self.meta["intermediates"].as_str() == Some("every operation")
    }

    pub fn weights(&self) -> PathBuf {
        self.dir.join("weights.safetensors")
    }

    pub fn input(&self) -> npy::Array {
        npy::read(&self.dir.join("input.npy")).expect("input.npy")
    }

    pub fn expected_logits(&self) -> npy::Array {
        npy::read(&self.dir.join("expected_logits.npy")).expect("expected_logits.npy")
    }

    pub fn intermediates(&self) -> Option<PathBuf> {
        Some(self.dir.join("intermediates.safetensors")).filter(|p| p.exists())
    }
}

/// Records, for the instruction-set check `.ci/run` makes after the tests
/// (`tests/instruction_sets.rs`), that a conformance test compared a whole
/// network run with `isa`'s `precision` kernels against its oracle: a file
/// `<precision>-<kernel set>` in `$MOBILENET_ISA_COVERAGE`, when set.
pub fn ran(precision: mobilenet_runtime::kernels::Precision, isa: mobilenet_runtime::kernels::Isa) {
    if let Some(dir) = std::env::var_os("MOBILENET_ISA_COVERAGE") {
        let name = format!("{}-{}", coverage_name(precision), isa.kernels(precision));
        std::fs::write(Path::new(&dir).join(name), b"").expect("MOBILENET_ISA_COVERAGE is a writable directory");
    }
}

/// `f32` or `int8`.
pub fn coverage_name(precision: mobilenet_runtime::kernels::Precision) -> &'static str {
    match precision {
        mobilenet_runtime::kernels::Precision::F32 => "f32",
        mobilenet_runtime::kernels::Precision::Int8 => "int8",
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The small fixtures committed in `tests/data` (always present).
pub fn small_fixtures() -> Vec<Fixture> {
    fixtures_in(&root().join("tests/data"))
}

/// Says on stderr that `test` checked nothing, and why. Written to the
/// stream itself: the test harness swallows what `eprintln!` prints from a
/// passing test, and a skip must show.
///
/// # Panics
/// With `MOBILENET_REQUIRE_SHARED=1` (what `.ci/run` sets): CI has
/// `../shared` beside the checkout and every input a test may want, so a
/// skip there means a test ran nothing, which must fail the run.
pub fn skipped(test: &str, why: &str) {
    if std::env::var("MOBILENET_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
        panic!("{test} would be SKIPPED ({why}), and MOBILENET_REQUIRE_SHARED=1 makes a skip a failure");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The full-size fixtures in `../shared/fixtures`, or `None` (with a note on
/// stderr) when this checkout has no `../shared`, as a user's clone has not.
pub fn shared_fixtures(test: &str) -> Option<Vec<Fixture>> {
    shared_fixtures_in(test, "fixtures")
}

/// The torchvision fixtures in `../shared/fixtures-torch`, or `None` as for
/// [`shared_fixtures`].
pub fn shared_torch_fixtures(test: &str) -> Option<Vec<Fixture>> {
    shared_fixtures_in(test, "fixtures-torch")
}

fn shared_fixtures_in(test: &str, sub: &str) -> Option<Vec<Fixture>> {
    let dir = root().join("../shared").join(sub);
    if !dir.is_dir() {
        skipped(test, &format!("{} not found (the full-size fixtures live outside the repository)", dir.display()));
        return None;
    }
    Some(fixtures_in(&dir))
}

pub fn fixtures_in(dir: &Path) -> Vec<Fixture> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").exists())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Fixture::open(d)).collect()
}

/// Every image of the fixture through `net`, one after the other.
pub fn run_all<N: mobilenet_runtime::Network>(net: &N, fixture: &Fixture) -> Vec<f32> {
    let input = fixture.input();
    let mut arena = vec![N::Elem::default(); N::ARENA_LEN];
    let mut out = vec![0.0; input.shape[0] * N::OUTPUT_LEN];
    for (x, y) in input.data.chunks(N::INPUT_LEN).zip(out.chunks_mut(N::OUTPUT_LEN)) {
        net.run(x, y, &mut arena);
    }
    out
}

/// Largest absolute difference and the largest magnitude of `expected`.
pub fn max_abs_diff(actual: &[f32], expected: &[f32]) -> (f32, f32) {
    assert_eq!(actual.len(), expected.len(), "element counts differ");
    let diff = actual.iter().zip(expected).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
    let scale = expected.iter().map(|e| e.abs()).fold(0.0f32, f32::max);
    (diff, scale)
}

/// Index of the largest value of each row of a `[n, k]` array.
pub fn argmax_rows(data: &[f32], k: usize) -> Vec<usize> {
    data.chunks(k)
        .map(|row| row.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0)
        .collect()
}

/// Asserts logits within `1e-4 * max|expected|` and the same top-1 class per image.
pub fn assert_logits_match(what: &str, actual: &[f32], expected: &npy::Array) -> f32 {
    let (diff, scale) = max_abs_diff(actual, &expected.data);
    let k = *expected.shape.last().unwrap();
    assert!(
        diff <= 1e-4 * scale,
        "{what}: max |logit - keras| = {diff:e} exceeds 1e-4 * max|keras| = {:e}",
        1e-4 * scale
    );
    assert_eq!(argmax_rows(actual, k), argmax_rows(&expected.data, k), "{what}: top-1 classes differ");
    diff / scale
}

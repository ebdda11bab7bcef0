//! A spec that changes between builds rebuilds the crate that compiles it,
//! for a spec inside the crate and for one outside it (`../shared/*.yaml`:
//! workspaces share specs). `mobilenet!` emits `include_bytes!` of the spec's
//! path, so rustc lists the spec in the crate's dep-info and cargo rebuilds
//! when it changes.
//!
//! The test builds and runs a probe crate with cargo, rewrites a spec with
//! another class count, builds and runs it again. To cost seconds rather
//! than minutes, the probe has no dependencies in its manifest: it gets the
//! `mobilenet_macros` and `mobilenet_runtime` this test was built with
//! (in this test's `deps` directory) by `--extern` in its rustflags. With
//! path dependencies instead, its first build compiles the compiler and its
//! dependencies again in a target directory of its own: two minutes of this
//! 2-core machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const PROBE: &str = r#"
mobilenet_macros::mobilenet!("inside.yaml", name = Inside);
mobilenet_macros::mobilenet!("../shared/outside.yaml", name = Outside);

fn main() {
    println!("{} {}", Inside::OUTPUT_LEN, Outside::OUTPUT_LEN);
}
"#;

/// `specs/tiny.yaml` with `classes` classes.
fn tiny(classes: u32) -> String {
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/tiny.yaml")).unwrap();
    assert_eq!(spec.matches("classes: 10").count(), 1, "specs/tiny.yaml has one `classes: 10`");
    spec.replace("classes: 10", &format!("classes: {classes}"))
}

/// The files in `dir` named `<prefix>*<suffix>`, newest first.
fn newest(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix)))
        .map(|p| (p.metadata().unwrap().modified().unwrap(), p))
        .collect();
    found.sort();
    found.into_iter().rev().map(|(_, p)| p).collect()
}

struct Probe {
    dir: PathBuf,
    target: PathBuf,
    rustflags: String,
}

impl Probe {
    /// `cargo run` of the probe: what it printed, and whether cargo compiled it.
    fn run(&self) -> Result<(String, bool), String> {
        let out = Command::new(env!("CARGO"))
            .args(["run", "--offline"])
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_ENCODED_RUSTFLAGS", &self.rustflags)
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(stderr);
        }
        Ok((String::from_utf8(out.stdout).unwrap().trim().to_string(), stderr.contains("Compiling spec-rebuild-probe")))
    }
}

#[test]
fn a_changed_spec_rebuilds_the_crate() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spec_rebuild");
    let _ = std::fs::remove_dir_all(&work);
    let dir = work.join("probe");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(work.join("shared")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"spec-rebuild-probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), PROBE).unwrap();
    let inside = dir.join("inside.yaml");
    let outside = work.join("shared/outside.yaml");
    std::fs::write(&inside, tiny(10)).unwrap();
    std::fs::write(&outside, tiny(7)).unwrap();

    // The libraries this test links, next to it. Older builds of them may
    // lie there too (other features, other sources): the newest pair that
    // builds the probe is this build's.
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let macros =
        newest(&deps, &format!("{}mobilenet_macros-", std::env::consts::DLL_PREFIX), std::env::consts::DLL_SUFFIX);
    let runtimes = newest(&deps, "libmobilenet_runtime-", ".rlib");
    assert!(
        !macros.is_empty() && !runtimes.is_empty(),
        "no mobilenet_macros or mobilenet_runtime in {}",
        deps.display()
    );
    let mut errors = String::new();
    let mut first = None;
    'found: for m in &macros {
        for r in &runtimes {
            let flags = [
                format!("-Ldependency={}", deps.display()),
                format!("--extern=mobilenet_macros={}", m.display()),
                format!("--extern=mobilenet_runtime={}", r.display()),
            ];
            let probe = Probe { dir: dir.clone(), target: work.join("target"), rustflags: flags.join("\x1f") };
            match probe.run() {
                Ok(run) => {
                    first = Some((probe, run));
                    break 'found;
                }
                Err(e) => errors += &format!("with {} and {}:\n{e}\n", m.display(), r.display()),
            }
        }
    }
    let Some((probe, run)) = first else { panic!("the probe does not build:\n{errors}") };
    assert_eq!(run, ("10 7".to_string(), true));

    // Nothing changed: nothing to rebuild (so the rebuilds below are the specs').
    assert_eq!(probe.run().unwrap(), ("10 7".to_string(), false));
    // The spec outside the crate.
    std::fs::write(&outside, tiny(5)).unwrap();
    assert_eq!(probe.run().unwrap(), ("10 5".to_string(), true));
    // The spec inside.
    std::fs::write(&inside, tiny(3)).unwrap();
    assert_eq!(probe.run().unwrap(), ("3 5".to_string(), true));
}

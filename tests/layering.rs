//! The crate layering ARCHITECTURE.md states, checked against what cargo
//! resolves: the compiler (and so the proc macro) never depends on the
//! runtime, so a kernel edit rebuilds the runtime and the networks only;
//! and the proc macro builds none of the interpreter's, calibration's or
//! the CLI's dependencies.

use std::process::Command;

/// `cargo <args>` in the workspace, offline (dependencies are fetched by
/// the time tests run); its standard output.
fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The packages `package`'s build compiles (normal and build dependencies,
/// with the features that build resolves), one name per line.
fn built_by(package: &str) -> Vec<String> {
    let tree = cargo(&["tree", "-p", package, "-e", "normal,build", "--prefix", "none", "--format", "{p}"]);
    tree.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn the_compiler_and_the_macro_never_build_the_runtime() {
    for package in ["mobilenet-compiler", "mobilenet-macros"] {
        let built = built_by(package);
        assert!(built.iter().any(|p| p == "mobilenet-layout"), "{package} builds the layout crate: {built:?}");
        assert!(!built.iter().any(|p| p == "mobilenet-runtime"), "{package} builds mobilenet-runtime: {built:?}");
    }
}

#[test]
fn the_macro_builds_no_interpreter_calibration_or_cli() {
    let built = built_by("mobilenet-macros");
    for heavy in ["ndarray", "npyz", "clap", "matrixmultiply"] {
        assert!(!built.iter().any(|p| p == heavy), "the proc macro builds {heavy}: {built:?}");
    }
    // The check itself sees those crates where they are built.
    let cli = built_by("mobilenet-compiler");
    assert!(cli.iter().any(|p| p == "ndarray") && cli.iter().any(|p| p == "clap"), "{cli:?}");
}

#[test]
fn the_layout_crate_depends_on_no_workspace_crate() {
    let built = built_by("mobilenet-layout");
    assert!(built.iter().all(|p| p == "mobilenet-layout" || !p.starts_with("mobilenet")), "{built:?}");
}

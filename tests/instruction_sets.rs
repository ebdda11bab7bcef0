//! Says, in every test run's log, which instruction-set paths of the
//! kernels the tests exercised on this machine and which they could not:
//! the conformance tests run every network on each instruction set the CPU
//! has (`Isa::available`), so a path the CPU lacks goes untested here.

use std::io::Write;

use mobilenet_runtime::kernels::Isa;

#[test]
fn report_the_instruction_sets_tested_here() {
    let available: Vec<String> = Isa::available().iter().map(|i| i.name().to_string()).collect();
    let mut untested = Vec::new();
    for (name, why) in [
        ("avx2", "this CPU lacks AVX2 or FMA"),
        ("avx512", "this CPU lacks AVX-512F (run the tests on an AVX-512 machine before changing its kernels)"),
    ] {
        if !available.iter().any(|a| a == name) {
            untested.push(format!("{name} ({why})"));
        }
    }
    assert_eq!(available.first().map(String::as_str), Some("portable"), "the portable kernels always run");
    // Written to the stream itself: the harness swallows a passing test's eprintln!.
    let _ = writeln!(
        std::io::stderr(),
        "INSTRUCTION SETS tested: {}; not tested: {}",
        available.join(", "),
        if untested.is_empty() { "none".to_string() } else { untested.join("; ") }
    );
}

/// Every fixture committed in `tests/data` runs through the generated code
/// (and so through the interpreter, which `interpreter_conformance` runs on
/// all of them).
#[test]
fn every_committed_fixture_is_in_the_generated_conformance_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = std::fs::read_to_string(root.join("tests/generated_conformance.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/data")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("meta.json").exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !listed.contains(&format!("\"{name}\"")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "fixtures not in tests/generated_conformance.rs: {missing:?}");
}

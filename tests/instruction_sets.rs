//! Which kernel sets the tests exercised on this machine, and which they
//! could not. The conformance tests run every network on each kernel set
//! of each precision the CPU has (`Isa::distinct`), so a set the CPU lacks
//! goes untested here; and `.ci/run`, after the tests, fails if one the
//! CPU has was not run (a test that silently stopped running an
//! instruction set would otherwise pass).

mod common;

use std::collections::BTreeSet;
use std::io::Write;

use mobilenet_runtime::kernels::{Isa, Precision};

const PRECISIONS: [Precision; 2] = [Precision::F32, Precision::Int8];

#[test]
fn report_the_instruction_sets_tested_here() {
    let mut lines = Vec::new();
    for p in PRECISIONS {
        let here: Vec<&str> = Isa::distinct(p).iter().map(|i| i.kernels(p)).collect();
        assert_eq!(here.first(), Some(&"portable"), "the portable kernels always run");
        let missing: Vec<&str> = Isa::all_kernels(p).filter(|s| !here.contains(s)).collect();
        lines.push(format!(
            "{}: tested {}; not tested (this CPU lacks them): {}",
            common::coverage_name(p),
            here.join(", "),
            if missing.is_empty() { "none".to_string() } else { missing.join(", ") }
        ));
    }
    // Written to the stream itself: the harness swallows a passing test's eprintln!.
    let _ = writeln!(std::io::stderr(), "INSTRUCTION SETS {}", lines.join("; "));
}

/// Run by `.ci/run` after the whole test suite, with the directory the
/// conformance tests recorded into (`MOBILENET_ISA_COVERAGE`): every kernel
/// set of either precision that this CPU runs was run by a conformance test.
#[test]
#[ignore = "run by .ci/run after the other tests, with MOBILENET_ISA_COVERAGE set"]
fn every_kernel_set_this_cpu_runs_was_tested() {
    let dir = std::env::var_os("MOBILENET_ISA_COVERAGE").expect("MOBILENET_ISA_COVERAGE names the test run's records");
    let seen: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("the records' directory")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut missing = Vec::new();
    for p in PRECISIONS {
        for isa in Isa::distinct(p) {
            let name = format!("{}-{}", common::coverage_name(p), isa.kernels(p));
            if !seen.contains(&name) {
                missing.push(name);
            }
        }
    }
    let _ = writeln!(std::io::stderr(), "INSTRUCTION SETS run by the conformance tests: {seen:?}");
    assert!(missing.is_empty(), "kernel sets this CPU runs that no conformance test ran: {missing:?}");
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

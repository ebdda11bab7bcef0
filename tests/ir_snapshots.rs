//! The IR text of the shipped specs, reviewed as snapshots: any change to
//! lowering shows up as a diff of these files.

use std::path::Path;

use mobilenet_compiler::lower;
use mobilenet_compiler::spec::Spec;
use mobilenet_compiler::summary::Summary;

fn ir(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join(file);
    let spec = Spec::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    lower(&spec).unwrap_or_else(|e| panic!("{e}")).to_string()
}

#[test]
fn tiny() {
    insta::assert_snapshot!(ir("tiny.yaml"));
}

#[test]
fn tiny_summary() {
    let spec = Spec::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/tiny.yaml")).unwrap();
    insta::assert_snapshot!(Summary::of(&lower(&spec).unwrap()).table());
}

#[test]
fn v1_1_0_224() {
    insta::assert_snapshot!(ir("v1_1.0_224.yaml"));
}

#[test]
fn v2_1_0_224() {
    insta::assert_snapshot!(ir("v2_1.0_224.yaml"));
}

#[test]
fn v3_large_1_0_224() {
    insta::assert_snapshot!(ir("v3-large_1.0_224.yaml"));
}

#[test]
fn v3_small_1_0_224() {
    insta::assert_snapshot!(ir("v3-small_1.0_224.yaml"));
}

/// The IR after every pass: what the code generator compiles. Any change to
/// a pass (what is folded, fused, or which blocks are streamed) shows up as
/// a diff of these files.
fn optimized(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join(file);
    let spec = Spec::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    mobilenet_compiler::passes::optimize(&lower(&spec).unwrap_or_else(|e| panic!("{e}"))).to_string()
}

#[test]
fn v1_1_0_224_optimized() {
    insta::assert_snapshot!(optimized("v1_1.0_224.yaml"));
}

#[test]
fn v2_1_0_224_optimized() {
    insta::assert_snapshot!(optimized("v2_1.0_224.yaml"));
}

#[test]
fn v3_large_1_0_224_optimized() {
    insta::assert_snapshot!(optimized("v3-large_1.0_224.yaml"));
}

#[test]
fn v3_small_1_0_224_optimized() {
    insta::assert_snapshot!(optimized("v3-small_1.0_224.yaml"));
}

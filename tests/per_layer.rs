//! Generated code agrees with the reference interpreter after every step,
//! not only on the logits: each step's output (read from the arena through
//! `forward_observed`) against the interpreter's value of the IR node it
//! computes, on every instruction set this CPU has. A fused node computes
//! the value of the last node it absorbed and carries its name.

mod common;

use std::collections::HashMap;

use common::{Fixture, max_abs_diff};
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower};
use mobilenet_runtime::kernels::{Isa, Precision};
use ndarray::{ArrayD, IxDyn};

/// How far (relative to the largest value of the step) a step may be from
/// the interpreter: 1e-5, or three times the distance between the
/// interpreter's logits and the framework's, whichever is larger (as for the
/// logits in `generated_conformance.rs`). Rounding differences compound
/// through a network; random-weight v1 and v2 networks amplify them to a few
/// 1e-5 by their last layers, and their framework's logits are as far from
/// the interpreter's. A wrong tap, bias or lane shows as 1e-3 or more at the
/// step where it happens.
fn step_limit(fixture: &Fixture, values: &HashMap<String, Vec<f32>>, output: &str) -> f32 {
    let expected = fixture.expected_logits();
    let ours = &values[output];
    let (diff, scale) = max_abs_diff(ours, &expected.data[..ours.len()]);
    (3.0 * diff / scale).max(1e-5)
}

/// Every node's value for the fixture's first image, by name.
fn interpreter_values(fixture: &Fixture) -> HashMap<String, Vec<f32>> {
    let graph = lower(&fixture.spec()).unwrap();
    let weights = Weights::load(&fixture.weights(), &graph).unwrap();
    let input = fixture.input();
    let one = input.data.len() / input.shape[0];
    let mut shape = input.shape.clone();
    shape[0] = 1;
    let x = ArrayD::from_shape_vec(IxDyn(&shape), input.data[..one].to_vec()).unwrap();
    let mut values = HashMap::new();
    interp::run_with(&graph, &weights, x.view(), |node, v| {
        values.insert(node.name.clone(), v.iter().copied().collect::<Vec<f32>>());
    })
    .unwrap();
    values
}

/// Runs `$net` (compiled with `profile = true`) on the first image of the
/// fixture in `tests/data/$dir`, and compares every step.
macro_rules! check_steps {
    ($net:ident, $dir:literal) => {{
        let fixture = Fixture::open(&common::root().join("tests/data").join($dir));
        let reference = interpreter_values(&fixture);
        let limit = step_limit(&fixture, &reference, $net::STEP_NAMES[$net::STEP_NAMES.len() - 1]);
        let input = fixture.input();
        let x: &[f32; $net::INPUT_LEN] = input.data[..$net::INPUT_LEN].try_into().unwrap();
        for isa in Isa::distinct(Precision::F32) {
            let net = $net::load_with(fixture.weights(), isa).unwrap();
            let mut arena = vec![0.0f32; $net::ARENA_LEN];
            let arena: &mut [f32; $net::ARENA_LEN] = arena.as_mut_slice().try_into().unwrap();
            let mut y = [0.0f32; $net::OUTPUT_LEN];
            let (mut steps, mut worst) = (0, (0.0f32, String::new()));
            net.forward_observed(x, &mut y, arena, &mut |name, value| {
                let expected = reference.get(name).unwrap_or_else(|| panic!("no interpreter value named {name}"));
                let (diff, scale) = max_abs_diff(value, expected);
                let rel = diff / scale.max(f32::MIN_POSITIVE);
                assert!(
                    rel <= limit,
                    "{} {isa}: step {name} is {rel:e} (relative) from the interpreter, over {limit:e}",
                    $dir
                );
                if rel > worst.0 {
                    worst = (rel, name.to_string());
                }
                steps += 1;
            });
            assert_eq!(steps, $net::STEP_NAMES.len());
            eprintln!("{} {isa}: {steps} steps, worst {:e} at {} (limit {limit:e})", $dir, worst.0, worst.1);
        }
    }};
}

#[test]
fn every_step_of_a_v1_network() {
    mobilenet_macros::mobilenet!("tests/data/v1_0.25_96_c10/spec.yaml", name = V1, fuse = every_block, profile = true);
    check_steps!(V1, "v1_0.25_96_c10");
}

#[test]
fn every_step_of_a_v2_network() {
    mobilenet_macros::mobilenet!("tests/data/v2_0.35_96_c10/spec.yaml", name = V2, fuse = every_block, profile = true);
    check_steps!(V2, "v2_0.35_96_c10");
}

#[test]
fn every_step_of_a_v3_network() {
    mobilenet_macros::mobilenet!(
        "tests/data/v3small_0.5_96x80_c10/spec.yaml",
        name = V3,
        fuse = every_block,
        profile = true
    );
    check_steps!(V3, "v3small_0.5_96x80_c10");
}

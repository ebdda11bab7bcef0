//! The reference interpreter reproduces Keras and torchvision on every
//! fixture: the logits, and every intermediate tensor the framework recorded.

mod common;

use common::{Fixture, assert_logits_match, max_abs_diff, shared_fixtures, small_fixtures};
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower};
use ndarray::{ArrayD, IxDyn};

/// Runs the fixture's input through the interpreter, checking intermediates
/// (when the fixture has them) as they are computed. Returns the relative
/// output error.
fn check(fixture: &Fixture) -> f32 {
    let graph = lower(&fixture.spec()).expect("lowers");
    let weights = Weights::load(&fixture.weights(), &graph).unwrap_or_else(|e| panic!("{e}"));
    let input = fixture.input();
    let x = ArrayD::from_shape_vec(IxDyn(&input.shape), input.data).unwrap();

    let bytes = fixture.intermediates().map(|p| std::fs::read(p).unwrap());
    if fixture.is_torch() {
        return check_torch(fixture, &graph, &weights, x, bytes.as_deref());
    }
    let keras = bytes.as_deref().map(|b| safetensors::SafeTensors::deserialize(b).unwrap());
    let mut checked = 0;
    let mut missing = Vec::new();
    let mut worst = (0.0f32, String::new());
    let out = interp::run_with(&graph, &weights, x.view(), |node, value| {
        let Some(keras) = &keras else { return };
        let Ok(expected) = keras.tensor(&node.name) else {
            if !node.inputs.is_empty() {
                missing.push(node.name.clone());
            }
            return;
        };
        let expected: Vec<f32> =
            expected.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        // Intermediates are of image 0.
        let ours: Vec<f32> = value.index_axis(ndarray::Axis(0), 0).iter().copied().collect();
        let (diff, scale) = max_abs_diff(&ours, &expected);
        let rel = diff / scale.max(f32::MIN_POSITIVE);
        assert!(
            rel <= 1e-4,
            "{}: layer {} differs from Keras: max diff {diff:e}, max |keras| {scale:e}",
            fixture.name,
            node.name
        );
        if rel > worst.0 {
            worst = (rel, node.name.clone());
        }
        checked += 1;
    })
    .expect("runs");
    if let Some(keras) = &keras {
        if fixture.has_all_intermediates() {
            // Every IR node is named after the Keras operation whose value it computes.
            assert!(
                missing.is_empty(),
                "{}: IR nodes without a Keras tensor of the same name: {missing:?}",
                fixture.name
            );
        } else {
            // Every recorded Keras intermediate has an IR node of the same name.
            assert_eq!(checked, keras.len(), "{}: Keras intermediates without an IR node", fixture.name);
        }
        eprintln!("{}: {checked} intermediates match, worst {:e} at {}", fixture.name, worst.0, worst.1);
    }
    let rel = assert_logits_match(&fixture.name, out.as_slice().unwrap(), &fixture.expected_logits());
    eprintln!("{}: max |output - keras| / max|keras| = {rel:e}", fixture.name);
    rel
}

/// [`check`] for a torchvision fixture: its intermediates are module
/// outputs, keyed by module name and laid out CHW. A module's output is the
/// value of the last IR node named after the module or inside it
/// (`features.3` is the last of `features.3.block.0.0`, ...), as
/// `lower::torchvision` names them.
fn check_torch(
    fixture: &Fixture,
    graph: &mobilenet_compiler::ir::Graph,
    weights: &Weights,
    x: ArrayD<f32>,
    intermediates: Option<&[u8]>,
) -> f32 {
    let torch = intermediates.map(|b| safetensors::SafeTensors::deserialize(b).unwrap());
    let mut last: std::collections::HashMap<String, (String, Vec<f32>, Vec<usize>)> = Default::default();
    let out = interp::run_with(graph, weights, x.view(), |node, value| {
        let Some(torch) = &torch else { return };
        let image0 = value.index_axis(ndarray::Axis(0), 0);
        let mut module = node.name.as_str();
        loop {
            if torch.tensor(module).is_ok() {
                let hwc: Vec<f32> = image0.iter().copied().collect();
                last.insert(module.to_string(), (node.name.clone(), hwc, image0.shape().to_vec()));
            }
            match module.rsplit_once('.') {
                Some((parent, _)) => module = parent,
                None => break,
            }
        }
    })
    .expect("runs");
    if let Some(torch) = &torch {
        let mut worst = (0.0f32, String::new());
        for (module, view) in torch.tensors() {
            let (node, hwc, shape) =
                last.get(&module).unwrap_or_else(|| panic!("{}: no IR node computes `{module}`", fixture.name));
            let expected: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            // CHW in the file; ours is HWC (or a vector).
            let ours: Vec<f32> = match (view.shape(), shape.as_slice()) {
                (&[c, h, w], &[h2, w2, c2]) if (c, h, w) == (c2, h2, w2) => {
                    (0..c).flat_map(|ch| (0..h * w).map(move |p| hwc[p * c + ch])).collect()
                }
                _ => hwc.clone(),
            };
            let (diff, scale) = max_abs_diff(&ours, &expected);
            let rel = diff / scale.max(f32::MIN_POSITIVE);
            assert!(
                rel <= 1e-4,
                "{}: module {module} (IR node {node}) differs from torchvision: max diff {diff:e}, max |torch| {scale:e}",
                fixture.name
            );
            if rel > worst.0 {
                worst = (rel, module.clone());
            }
        }
        eprintln!("{}: {} module outputs match, worst {:e} at {}", fixture.name, torch.len(), worst.0, worst.1);
    }
    let rel = assert_logits_match(&fixture.name, out.as_slice().unwrap(), &fixture.expected_logits());
    eprintln!("{}: max |output - torchvision| / max|torchvision| = {rel:e}", fixture.name);
    rel
}

#[test]
fn torchvision_fixtures_match_torchvision() {
    let Some(fixtures) = common::shared_torch_fixtures("torchvision_fixtures_match_torchvision") else {
        return;
    };
    assert!(!fixtures.is_empty());
    for f in &fixtures {
        check(f);
    }
}

#[test]
fn small_fixtures_match_keras() {
    let fixtures = small_fixtures();
    assert!(fixtures.len() >= 4, "tests/data holds at least the four small fixtures of ../shared");
    for f in &fixtures {
        check(f);
    }
}

/// Fixtures in a directory named by `MOBILENET_FIXTURES` (e.g. ones made with
/// `tools/make_keras_fixture.py`), when set.
#[test]
fn extra_fixtures_match_keras() {
    let Some(dir) = std::env::var_os("MOBILENET_FIXTURES") else {
        common::skipped(
            "extra_fixtures_match_keras",
            "MOBILENET_FIXTURES (a directory of your own fixtures) is not set",
        );
        return;
    };
    for f in common::fixtures_in(std::path::Path::new(&dir)) {
        check(&f);
    }
}

#[test]
fn full_size_fixtures_match_keras() {
    let Some(fixtures) = shared_fixtures("full_size_fixtures_match_keras") else {
        return;
    };
    assert!(!fixtures.is_empty());
    for f in &fixtures {
        check(f);
    }
}

/// The `spec.yaml` committed next to each copy of a `../shared` fixture is
/// what `mobilenetc spec` prints for the fixture's configuration.
#[test]
fn committed_specs_of_shared_fixtures_are_standard_specs() {
    for f in small_fixtures().iter().filter(|f| f.meta["generator"] != "tools/make_keras_fixture.py") {
        let committed = std::fs::read_to_string(f.dir.join("spec.yaml")).unwrap();
        assert_eq!(committed, mobilenet_compiler::spec::standard_spec(&f.options), "{}", f.name);
    }
}

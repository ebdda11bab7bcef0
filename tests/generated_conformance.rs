//! Generated code, fused and unfused, reproduces Keras or torchvision on
//! every fixture and agrees with the reference interpreter.

mod common;

use common::{Fixture, assert_logits_match, max_abs_diff, run_all, shared_fixtures};
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower};
use mobilenet_runtime::Network;
use mobilenet_runtime::exec::{Exec, Pool};
use mobilenet_runtime::kernels::{Isa, Precision};
use ndarray::{ArrayD, IxDyn};

fn interpreter(fixture: &Fixture) -> Vec<f32> {
    let graph = lower(&fixture.spec()).unwrap();
    let weights = Weights::load(&fixture.weights(), &graph).unwrap();
    let input = fixture.input();
    let x = ArrayD::from_shape_vec(IxDyn(&input.shape), input.data).unwrap();
    interp::run(&graph, &weights, x.view()).unwrap().iter().copied().collect()
}

/// Every image of the fixture through `net` on the threads of a pool.
fn run_all_on<N: Network>(net: &N, pool: &Pool, fixture: &Fixture) -> Vec<f32> {
    let input = fixture.input();
    let mut arena = vec![N::Elem::default(); N::ARENA_LEN];
    let mut scratch = vec![N::Elem::default(); pool.threads() * N::SCRATCH_LEN];
    let mut out = vec![0.0; input.shape[0] * N::OUTPUT_LEN];
    for (x, y) in input.data.chunks(N::INPUT_LEN).zip(out.chunks_mut(N::OUTPUT_LEN)) {
        net.run_on(pool, x, y, &mut arena, &mut scratch);
    }
    out
}

/// fused == unfused == every block fused == interpreter == the framework (Keras or torchvision), with the
/// kernels of `isa`; and the fused networks on 2, 3 and 4 threads give what they give on one, bit for bit.
fn check<F: Network, U: Network, B: Network>(fixture: &Fixture, isa: Isa, fused: &F, unfused: &U, every: &B) {
    let expected = fixture.expected_logits();
    let reference = interpreter(fixture);
    let (one, all) = (run_all(fused, fixture), run_all(every, fixture));
    for threads in [2, 3, 4] {
        let pool = Pool::new(threads);
        assert_eq!(run_all_on(fused, &pool, fixture), one, "{} on {threads} threads", fixture.name);
        assert_eq!(run_all_on(every, &pool, fixture), all, "{} every block fused, {threads} threads", fixture.name);
    }
    for (what, out) in [("fused", one), ("unfused", run_all(unfused, fixture)), ("every block fused", all)] {
        let what = format!("{} {what} {isa}", fixture.name);
        let rel = assert_logits_match(&what, &out, &expected);
        let (diff, scale) = max_abs_diff(&out, &reference);
        let limit = interpreter_limit(fixture, &reference);
        assert!(diff <= limit * scale, "{what} vs interpreter: {:e} relative, over {limit:e}", diff / scale);
        let framework = if fixture.is_torch() { "torchvision" } else { "Keras" };
        eprintln!("{what}: vs {framework} {rel:e}, vs interpreter {:e} (limit {limit:e})", diff / scale);
    }
    common::ran(Precision::F32, isa);
}

/// How far (relative to the largest logit) generated code may be from the
/// interpreter: 1e-5, or three times the distance between the interpreter and the
/// framework where the fixture's logits amplify f32 rounding more than that.
///
/// Both sides are f32 with different summation orders, so their distance
/// measures how much a fixture's logits amplify rounding; random-weight v1
/// and v2 networks amplify it to a few 1e-5 (their framework's own f32 and
/// f64 logits differ by as much), trained and v3 networks stay near 1e-6. A
/// real bug (a lost bias, a wrong tap, a tail lane) moves logits by 1e-3 or
/// more.
fn interpreter_limit(fixture: &Fixture, reference: &[f32]) -> f32 {
    let (diff, scale) = max_abs_diff(reference, &fixture.expected_logits().data);
    (3.0 * diff / scale).max(1e-5)
}

/// A test of the fixture in `tests/data/<dir>`, whose spec is `$spec`.
macro_rules! small_fixture {
    ($test:ident, $dir:literal, $spec:literal) => {
        #[test]
        fn $test() {
            mobilenet_macros::mobilenet!($spec, name = Fused);
            mobilenet_macros::mobilenet!($spec, name = Unfused, fuse = false);
            mobilenet_macros::mobilenet!($spec, name = EveryBlock, fuse = every_block);
            let fixture = Fixture::open(&common::root().join("tests/data").join($dir));
            // Every instruction set this CPU has: the portable kernels always.
            for isa in Isa::distinct(Precision::F32) {
                let fused = Fused::load_with(fixture.weights(), isa).unwrap();
                let unfused = Unfused::load_with(fixture.weights(), isa).unwrap();
                let every = EveryBlock::load_with(fixture.weights(), isa).unwrap();
                check(&fixture, isa, &fused, &unfused, &every);
            }
        }
    };
}

small_fixture!(v1_0_25_96, "v1_0.25_96_c10", "tests/data/v1_0.25_96_c10/spec.yaml");
small_fixture!(v2_0_35_96, "v2_0.35_96_c10", "tests/data/v2_0.35_96_c10/spec.yaml");
small_fixture!(v3large_0_5_64, "v3large_0.5_64_c10", "tests/data/v3large_0.5_64_c10/spec.yaml");
small_fixture!(v3small_0_5_96x80, "v3small_0.5_96x80_c10", "tests/data/v3small_0.5_96x80_c10/spec.yaml");
small_fixture!(keras_v1_0_1_33, "keras_v1_0.1_33", "tests/data/keras_v1_0.1_33/spec.yaml");
small_fixture!(keras_v1_0_25_custom_max, "keras_v1_0.25_custom_max", "tests/data/keras_v1_0.25_custom_max/spec.yaml");
small_fixture!(keras_v1_0_25_dm2, "keras_v1_0.25_dm2", "tests/data/keras_v1_0.25_dm2/spec.yaml");
small_fixture!(keras_v2_0_1_32, "keras_v2_0.1_32", "tests/data/keras_v2_0.1_32/spec.yaml");
small_fixture!(
    keras_v3large_0_5_custom_flatten,
    "keras_v3large_0.5_custom_flatten",
    "tests/data/keras_v3large_0.5_custom_flatten/spec.yaml"
);
small_fixture!(
    keras_v3small_0_35_prep_softmax,
    "keras_v3small_0.35_prep_softmax",
    "tests/data/keras_v3small_0.35_prep_softmax/spec.yaml"
);
small_fixture!(
    keras_v3small_0_5_feat_max,
    "keras_v3small_0.5_feat_max",
    "tests/data/keras_v3small_0.5_feat_max/spec.yaml"
);
small_fixture!(keras_v3small_min, "keras_v3small_min", "tests/data/keras_v3small_min/spec.yaml");
// Large enough (224x224) for the pipeline to fuse its first blocks.
small_fixture!(keras_v2_0_35_224, "keras_v2_0.35_224", "tests/data/keras_v2_0.35_224/spec.yaml");

// torchvision models (tools/make_torch_fixture.py): symmetric padding,
// torchvision's channel rounding, state_dict names and OIHW layouts.
small_fixture!(tv_v2_0_35_96, "tv_v2_0.35_96_c10", "tests/data/tv_v2_0.35_96_c10/spec.yaml");
small_fixture!(tv_v2_0_75_112x80, "tv_v2_0.75_112x80_c7", "tests/data/tv_v2_0.75_112x80_c7/spec.yaml");
small_fixture!(tv_v3large_0_35_64, "tv_v3large_0.35_64_c10", "tests/data/tv_v3large_0.35_64_c10/spec.yaml");
small_fixture!(tv_v3small_0_5_96x80, "tv_v3small_0.5_96x80_c10", "tests/data/tv_v3small_0.5_96x80_c10/spec.yaml");
small_fixture!(tv_v3small_1_0_64, "tv_v3small_1.0_64_c5", "tests/data/tv_v3small_1.0_64_c5/spec.yaml");

/// A full-size network of `../shared/fixtures/<dir>` (or, with `torch`,
/// `../shared/fixtures-torch/<dir>`), whose spec is `$spec`.
macro_rules! shared_fixture {
    ($test:ident, $dir:literal, $spec:literal) => {
        shared_fixture!($test, $dir, $spec, shared_fixtures);
    };
    ($test:ident, $dir:literal, $spec:literal, torch) => {
        shared_fixture!($test, $dir, $spec, common::shared_torch_fixtures);
    };
    ($test:ident, $dir:literal, $spec:literal, $fixtures:path) => {
        #[test]
        fn $test() {
            mobilenet_macros::mobilenet!($spec, name = Fused);
            mobilenet_macros::mobilenet!($spec, name = Unfused, fuse = false);
            let Some(fixtures) = $fixtures(stringify!($test)) else { return };
            let fixture = fixtures.into_iter().find(|f| f.name == $dir).expect("fixture present");
            for isa in Isa::distinct(Precision::F32) {
                let fused = Fused::load_with(fixture.weights(), isa).unwrap();
                let unfused = Unfused::load_with(fixture.weights(), isa).unwrap();
                // The full-size networks fuse their large blocks already.
                check(&fixture, isa, &fused, &unfused, &fused);
            }
        }
    };
}

shared_fixture!(v1_1_0_224, "v1_1.0_224", "specs/v1_1.0_224.yaml");
shared_fixture!(v2_1_0_224, "v2_1.0_224", "specs/v2_1.0_224.yaml");
shared_fixture!(v3large_1_0_224, "v3large_1.0_224", "specs/v3-large_1.0_224.yaml");
shared_fixture!(v3small_1_0_224, "v3small_1.0_224", "specs/v3-small_1.0_224.yaml");
shared_fixture!(tv_v3small_1_0_224, "tv_mobilenet_v3_small_1.0_224", "specs/tv_v3-small_1.0_224.yaml", torch);

/// `fuse = every_block` really puts the committed fixtures' blocks through
/// the fused-block kernel: v1 blocks (depthwise -> pointwise), inverted
/// residual blocks with their skip connection, squeeze-excite blocks
/// (expand -> depthwise only), which the size threshold leaves unfused in
/// networks this small, and stems that expand the first block.
#[test]
fn every_block_fusion_reaches_every_kind_of_block() {
    use mobilenet_compiler::codegen::{self, Fusion, Options};
    use mobilenet_compiler::ir::Op;
    use mobilenet_compiler::spec::Family;
    let (mut squeeze_excite, mut stem_blocks) = (0, 0);
    for fixture in common::small_fixtures() {
        let spec = fixture.spec();
        let graph = |fusion| {
            let mut options = Options::new("T");
            options.fusion = fusion;
            codegen::generate(&spec, &options).unwrap().graph
        };
        // (expand, project, residual) of each block, and how many blocks the
        // stem (a 3x3 conv, not 1x1) expands.
        let blocks = |g: &mobilenet_compiler::ir::Graph| -> (Vec<_>, usize) {
            let blocks: Vec<_> =
                g.nodes().iter().filter_map(|n| if let Op::Block(b) = &n.op { Some(b) } else { None }).collect();
            let stems = blocks.iter().filter(|b| b.expand.as_ref().is_some_and(|e| e.kernel != [1, 1])).count();
            (blocks.iter().map(|b| (b.expand.is_some(), b.project.is_some(), b.residual())).collect(), stems)
        };
        let ((every, stems), (optimized, _)) = (blocks(&graph(Fusion::EveryBlock)), blocks(&graph(Fusion::Optimized)));
        if spec.model.depth_multiplier() != 1 {
            // The block kernel takes depthwise multiplier 1 only.
            assert!(every.is_empty(), "{}: no block with a depth multiplier is fused", fixture.name);
            continue;
        }
        assert!(
            every.len() > optimized.len(),
            "{}: every_block fuses more blocks than the size threshold",
            fixture.name
        );
        match spec.model.family {
            Family::V1 => assert!(every.contains(&(false, true, false)), "{}: a fused v1 block", fixture.name),
            _ => assert!(every.contains(&(true, true, true)), "{}: a fused residual block", fixture.name),
        }
        squeeze_excite += every.iter().filter(|b| **b == (true, false, false)).count();
        // Where the first block adds the stem's output back (v2 at alpha
        // 0.1: 8 channels in and out), the stem has two readers and stays.
        assert!(stems <= 1, "{}: only the stem expands with a 3x3 conv", fixture.name);
        stem_blocks += stems;
    }
    assert!(squeeze_excite > 0, "some committed fixture has fused squeeze-excite blocks");
    assert!(stem_blocks > 0, "some committed fixture has its stem fused into the first block");
}

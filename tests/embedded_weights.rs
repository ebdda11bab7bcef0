//! Networks with their weights compiled in (`mobilenet!(..., weights =
//! "...")`) give the same bits as the same network loaded from the file, on
//! every instruction set, fused and unfused, and live in a `static`.

mod common;

use common::{Fixture, run_all};
use mobilenet_runtime::kernels::{Isa, Precision};

macro_rules! embedded_equals_loaded {
    ($test:ident, $dir:literal, $spec:literal, $weights:literal) => {
        #[test]
        fn $test() {
            mobilenet_macros::mobilenet!($spec, name = Loaded);
            mobilenet_macros::mobilenet!($spec, name = Embedded, weights = $weights);
            mobilenet_macros::mobilenet!($spec, name = EmbeddedUnfused, fuse = false, weights = $weights);
            static NET: Embedded = Embedded::new();
            let fixture = Fixture::open(&common::root().join("tests/data").join($dir));
            for isa in Isa::distinct(Precision::F32) {
                let loaded = run_all(&Loaded::load_with(fixture.weights(), isa).unwrap(), &fixture);
                let embedded = run_all(&Embedded::with_isa(isa), &fixture);
                assert_eq!(embedded, loaded, "{} {isa}: embedded weights give other bits", fixture.name);
                let unfused = run_all(&EmbeddedUnfused::with_isa(isa), &fixture);
                common::assert_logits_match(
                    &format!("{} unfused {isa}", fixture.name),
                    &unfused,
                    &fixture.expected_logits(),
                );
            }
            // The static picks the fastest instruction set, as `load` does.
            assert_eq!(NET.isa(), Isa::detect());
            let best = run_all(&NET, &fixture);
            let loaded = run_all(&Loaded::load(fixture.weights()).unwrap(), &fixture);
            assert_eq!(best, loaded);
        }
    };
}

embedded_equals_loaded!(
    keras_v2_0_35_96,
    "v2_0.35_96_c10",
    "tests/data/v2_0.35_96_c10/spec.yaml",
    "tests/data/v2_0.35_96_c10/weights.safetensors"
);
embedded_equals_loaded!(
    keras_v3small_0_5_96x80,
    "v3small_0.5_96x80_c10",
    "tests/data/v3small_0.5_96x80_c10/spec.yaml",
    "tests/data/v3small_0.5_96x80_c10/weights.safetensors"
);
embedded_equals_loaded!(
    torchvision_v3small_0_5_96x80,
    "tv_v3small_0.5_96x80_c10",
    "tests/data/tv_v3small_0.5_96x80_c10/spec.yaml",
    "tests/data/tv_v3small_0.5_96x80_c10/weights.safetensors"
);

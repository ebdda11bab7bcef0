//! Inputs that are not finite (NaN, infinities) or that overflow (`f32::MAX`)
//! through generated code, fused and unfused, with every instruction set,
//! on one thread and on two.
//!
//! What the logits are then is unspecified (README.md, "Non-finite inputs"):
//! today a fused ReLU or ReLU6 turns NaN into 0 (`max(x, 0)`, in the
//! portable kernels as in `maxps`), an unfused one keeps it, so MobileNetV2
//! gives finite logits fused and NaN unfused. What is asserted is what the
//! README promises: no panic, the same bits on one thread and on two, and
//! an arena that has held NaN and infinities does not change what a finite
//! image gives next. Run with `--nocapture` to see what each case gives.

mod common;

use common::Fixture;
use mobilenet_runtime::Network;
use mobilenet_runtime::exec::{Exec, Pool};
use mobilenet_runtime::kernels::{Isa, Precision};

/// The image, and variants of it with non-finite or huge values.
fn inputs(image: &[f32]) -> Vec<(&'static str, Vec<f32>)> {
    let len = image.len();
    // The three channels of the middle pixel (NHWC).
    let pixel = len / 2 / 3 * 3..len / 2 / 3 * 3 + 3;
    let with_pixel = |v: f32| {
        let mut x = image.to_vec();
        x[pixel.clone()].fill(v);
        x
    };
    vec![
        ("a finite image", image.to_vec()),
        ("all NaN", vec![f32::NAN; len]),
        ("one NaN pixel", with_pixel(f32::NAN)),
        ("all +inf", vec![f32::INFINITY; len]),
        ("all -inf", vec![f32::NEG_INFINITY; len]),
        ("one +inf pixel", with_pixel(f32::INFINITY)),
        ("one -inf pixel", with_pixel(f32::NEG_INFINITY)),
        ("all f32::MAX", vec![f32::MAX; len]),
        ("all -f32::MAX", vec![-f32::MAX; len]),
        ("one f32::MAX pixel", with_pixel(f32::MAX)),
    ]
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// How many of the outputs are NaN, infinite and finite, for the log.
fn summary(v: &[f32]) -> String {
    let nan = v.iter().filter(|x| x.is_nan()).count();
    let inf = v.iter().filter(|x| x.is_infinite()).count();
    format!("{nan} NaN, {inf} infinite, {} finite", v.len() - nan - inf)
}

/// Every input through `net`, on one thread and on the two of `pool`, with
/// one arena throughout.
fn check<N: Network>(what: &str, net: &N, pool: &Pool, image: &[f32]) {
    let mut arena = vec![N::Elem::default(); N::ARENA_LEN];
    let mut scratch = vec![N::Elem::default(); pool.threads() * N::SCRATCH_LEN];
    let mut one = vec![0.0; N::OUTPUT_LEN];
    let mut two = vec![0.0; N::OUTPUT_LEN];
    net.run(image, &mut one, &mut arena);
    assert!(one.iter().all(|v| v.is_finite()), "{what}: a finite image gives {}", summary(&one));
    let first = bits(&one);
    for (input, x) in inputs(image) {
        net.run(&x, &mut one, &mut arena);
        net.run_on(pool, &x, &mut two, &mut arena, &mut scratch);
        assert_eq!(bits(&one), bits(&two), "{what}, {input}: one thread gives {one:?}, two {two:?}");
        eprintln!("{what}, {input}: {}", summary(&one));
    }
    // The arena has held NaN and infinities since.
    net.run(image, &mut one, &mut arena);
    assert_eq!(bits(&one), first, "{what}: a finite image after non-finite ones");
}

/// A test of the fixture in `tests/data/<dir>`, whose spec is `$spec`.
macro_rules! non_finite {
    ($test:ident, $dir:literal, $spec:literal) => {
        #[test]
        fn $test() {
            mobilenet_macros::mobilenet!($spec, name = Fused);
            mobilenet_macros::mobilenet!($spec, name = Unfused, fuse = false);
            let fixture = Fixture::open(&common::root().join("tests/data").join($dir));
            let input = fixture.input();
            let image = &input.data[..Fused::INPUT_LEN];
            let pool = Pool::new(2);
            for isa in Isa::distinct(Precision::F32) {
                let fused = Fused::load_with(fixture.weights(), isa).unwrap();
                let unfused = Unfused::load_with(fixture.weights(), isa).unwrap();
                check(&format!("{} fused {isa}", $dir), &fused, &pool, image);
                check(&format!("{} unfused {isa}", $dir), &unfused, &pool, image);
            }
        }
    };
}

non_finite!(v2_0_35_96, "v2_0.35_96_c10", "tests/data/v2_0.35_96_c10/spec.yaml");
non_finite!(v3small_0_5_96x80, "v3small_0.5_96x80_c10", "tests/data/v3small_0.5_96x80_c10/spec.yaml");

//! The cost of compiled-in weights at run time: torchvision's MobileNetV2
//! with its weights embedded (static data, 4 KiB pages) against the same
//! network loaded from the file (a heap buffer in 2 MiB pages), one core,
//! alternating batches of 10 runs (the first 2 of each not counted),
//! medians of 200.
//!
//! ```text
//! taskset -c 0 cargo run --release -p generated-example --example embedded_vs_loaded
//! ```

use generated_example::{TorchvisionMobileNetV2 as Loaded, imagenet};
use std::time::Instant;

mobilenet_macros::mobilenet!(
    "../specs/tv_v2_1.0_224.yaml",
    name = Embedded,
    weights = "models/mobilenet_v2_imagenet/weights.safetensors"
);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let loaded = Loaded::load(imagenet::WEIGHTS).unwrap();
    static EMBEDDED: Embedded = Embedded::new();
    let input = [0.5f32; Loaded::INPUT_LEN];
    let mut arena = Loaded::new_arena();
    let (mut a, mut b) = ([0.0f32; 1000], [0.0f32; 1000]);
    let (mut tl, mut te) = (Vec::new(), Vec::new());
    while tl.len() < 200 {
        for i in 0..10 {
            let t = Instant::now();
            loaded.forward(&input, &mut a, &mut arena);
            if i >= 2 {
                tl.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        for i in 0..10 {
            let t = Instant::now();
            EMBEDDED.forward(&input, &mut b, &mut arena);
            if i >= 2 {
                te.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    assert_eq!(a, b, "the same bits");
    let (l, e) = (median(tl), median(te));
    println!("kernels: {}; loaded {l:.2} ms, embedded {e:.2} ms, embedded / loaded {:.2}", EMBEDDED.isa(), e / l);
}

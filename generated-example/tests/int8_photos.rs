//! The int8 torchvision MobileNetV2 (`models/mobilenet_v2_imagenet/int8.safetensors`,
//! quantized by `mobilenetc quantize` on `images/calibration`, none of which
//! is a test photo) classifies the four photos as the float network does:
//! the same top-1 on every photo and at least 4 of the same top-5.

use std::path::Path;

use generated_example::{TorchvisionMobileNetV2, TorchvisionMobileNetV2Int8, imagenet};
use mobilenet_runtime::kernels::{Isa, Precision};

const PHOTOS: [&str; 4] = ["chelsea.png", "coffee.png", "astronaut.png", "china.jpg"];

fn reference_input() -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2_imagenet/reference/input.npy");
    let bytes = std::fs::read(path).unwrap();
    npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap()
}

fn top5(logits: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    idx.truncate(5);
    idx
}

#[test]
fn int8_keeps_the_float_top1_and_top5_on_every_photo() {
    let input = reference_input();
    let float = TorchvisionMobileNetV2::load(imagenet::WEIGHTS).unwrap();
    let labels = std::fs::read_to_string(imagenet::LABELS).unwrap();
    let labels: Vec<&str> = labels.lines().collect();
    let mut arena = TorchvisionMobileNetV2::new_arena();
    for isa in Isa::distinct(Precision::Int8) {
        let int8 = TorchvisionMobileNetV2Int8::load_with(imagenet::INT8, isa).unwrap();
        let mut qarena = TorchvisionMobileNetV2Int8::new_arena();
        for (i, photo) in PHOTOS.iter().enumerate() {
            let x: &[f32; TorchvisionMobileNetV2::INPUT_LEN] =
                input[i * TorchvisionMobileNetV2::INPUT_LEN..][..TorchvisionMobileNetV2::INPUT_LEN].try_into().unwrap();
            let (mut f, mut q) = ([0.0f32; 1000], [0.0f32; 1000]);
            float.forward(x, &mut f, &mut arena);
            int8.forward(x, &mut q, &mut qarena);
            let (tf, tq) = (top5(&f), top5(&q));
            let shared = tq.iter().filter(|c| tf.contains(c)).count();
            let max = f.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let worst = f.iter().zip(&q).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / max;
            let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
            let diff: Vec<f32> = f.iter().zip(&q).map(|(a, b)| a - b).collect();
            eprintln!(
                "{isa} {photo}: top-1 float `{}` int8 `{}`; top-5 shared {shared}/5; logit error {:.3} of max, {:.3} of RMS",
                labels[tf[0]],
                labels[tq[0]],
                worst,
                rms(&diff) / rms(&f)
            );
            assert_eq!(tq[0], tf[0], "{isa} {photo}: int8 top-1 {} vs float {}", labels[tq[0]], labels[tf[0]]);
            assert!(shared >= 4, "{isa} {photo}: top-5 int8 {tq:?} vs float {tf:?}");
        }
    }
}

/// The int8 network with its quantized-model file compiled in (packed at
/// build time for every int8 instruction set) gives the bytes of the one
/// that loads the file, on every instruction set this CPU runs and on 1 and
/// 2 threads.
#[test]
fn embedded_int8_weights_give_the_loaded_networks_bits() {
    use generated_example::TorchvisionMobileNetV2Int8Embedded as Embedded;
    const NET: Embedded = Embedded::new();
    assert_eq!(NET.isa(), Isa::best());
    assert_eq!(Embedded::ARENA_LEN, TorchvisionMobileNetV2Int8::ARENA_LEN);
    let input = reference_input();
    let pool = mobilenet_runtime::exec::Pool::new(2);
    let mut arena = TorchvisionMobileNetV2Int8::new_arena();
    for isa in Isa::distinct(Precision::Int8) {
        let loaded = TorchvisionMobileNetV2Int8::load_with(imagenet::INT8, isa).unwrap();
        let embedded = Embedded::with_isa(isa);
        assert_eq!(embedded.isa(), isa);
        for (i, photo) in PHOTOS.iter().enumerate() {
            let x: &[f32; Embedded::INPUT_LEN] =
                input[i * Embedded::INPUT_LEN..][..Embedded::INPUT_LEN].try_into().unwrap();
            let (mut want, mut got, mut got2) = ([0.0f32; 1000], [0.0f32; 1000], [0.0f32; 1000]);
            loaded.forward(x, &mut want, &mut arena);
            embedded.forward(x, &mut got, &mut arena);
            embedded.forward_on(&pool, x, &mut got2, &mut arena, &mut []);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{isa} {photo}");
            assert_eq!(bits(&got2), bits(&want), "{isa} {photo}, 2 threads");
        }
    }
}

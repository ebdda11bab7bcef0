//! Photos decoded and preprocessed in Rust (`generated_example::preprocess`)
//! against torchvision's own preprocessing of the same photos
//! (`models/mobilenet_v2_imagenet/reference/input.npy`), and the compiled
//! ImageNet MobileNetV2 classifying them as torchvision does.

use std::path::Path;

use generated_example::preprocess::{Preprocess, RgbImage, load_rgb, resize_bilinear, torchvision_imagenet};
use generated_example::{TorchvisionMobileNetV2, imagenet};

const PHOTOS: [&str; 4] = ["chelsea.png", "coffee.png", "astronaut.png", "china.jpg"];

fn reference_input() -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2_imagenet/reference/input.npy");
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[4, 224, 224, 3]);
    npy.into_vec().unwrap()
}

fn photo(name: &str) -> RgbImage {
    load_rgb(&Path::new(imagenet::IMAGES).join(name)).unwrap()
}

/// torchvision normalizes `p / 255` by a standard deviation of about 0.22:
/// one step of 8-bit pixel value is about 0.0175 in the network's input.
const ONE_PIXEL_STEP: f32 = 1.0 / 255.0 / 0.224;

#[test]
fn preprocessing_reproduces_torchvision_transforms() {
    let reference = reference_input();
    for (i, name) in PHOTOS.iter().enumerate() {
        let ours = torchvision_imagenet(&photo(name), 224, 224);
        let theirs = &reference[i * 224 * 224 * 3..(i + 1) * 224 * 224 * 3];
        let worst = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let off = ours.iter().zip(theirs).filter(|(a, b)| (*a - *b).abs() > 1e-5).count();
        eprintln!(
            "{name}: largest difference to torchvision's input {worst:.2e} ({:.2} pixel steps), {off} of {} values differ",
            worst / ONE_PIXEL_STEP,
            ours.len()
        );
        if name.ends_with(".png") {
            // Lossless photos: the same pixels, the same resampling, the same bits.
            assert_eq!(off, 0, "{name}: {off} values differ, the largest by {worst}");
        } else {
            // JPEG decoders (ours: zune-jpeg; torchvision's: libjpeg-turbo
            // through Pillow) may round a pixel differently: at most one step.
            assert!(worst <= 1.01 * ONE_PIXEL_STEP, "{name}: {worst}");
        }
    }
}

#[test]
fn keras_preprocessing_is_x_over_127_5_minus_1_at_the_network_size() {
    let img = photo("chelsea.png");
    let x = Preprocess::Keras.apply(&img, 96, 128);
    assert_eq!(x.len(), 96 * 128 * 3);
    let resized = resize_bilinear(&img, 128, 96);
    assert_eq!(x[(5 * 128 + 7) * 3 + 2], f32::from(resized.pixel(7, 5)[2]) / 127.5 - 1.0);
    assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
}

/// Index of the top-5 classes of `logits`, most probable first, with their probabilities.
fn top5(logits: &[f32]) -> Vec<(usize, f32)> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f32 = logits.iter().map(|v| (v - max).exp()).sum();
    let mut idx: Vec<(usize, f32)> = logits.iter().map(|v| (v - max).exp() / sum).enumerate().collect();
    idx.sort_by(|a, b| b.1.total_cmp(&a.1));
    idx.truncate(5);
    idx
}

#[test]
fn decoded_photos_get_torchvisions_classes() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2_imagenet/reference/meta.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let net = TorchvisionMobileNetV2::load(imagenet::WEIGHTS).unwrap();
    let mut arena = TorchvisionMobileNetV2::new_arena();
    let mut logits = [0.0f32; TorchvisionMobileNetV2::OUTPUT_LEN];
    for (name, img) in PHOTOS.iter().zip(meta["images"].as_array().unwrap()) {
        assert_eq!(img["file"].as_str().unwrap(), format!("images/{name}"));
        let theirs: Vec<(usize, f64)> = img["top5"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["class"].as_u64().unwrap() as usize, c["prob"].as_f64().unwrap()))
            .collect();
        let x = torchvision_imagenet(&photo(name), 224, 224);
        net.forward(x.as_slice().try_into().unwrap(), &mut logits, &mut arena);
        let ours = top5(&logits);
        eprintln!("{name}: ours {ours:?}\n  torchvision {theirs:?}");
        assert_eq!(ours[0].0, theirs[0].0, "{name}: top-1");
        let mut a: Vec<usize> = ours.iter().map(|c| c.0).collect();
        let mut b: Vec<usize> = theirs.iter().map(|c| c.0).collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{name}: top-5 sets");
        for ((_, p), (_, q)) in ours.iter().zip(&theirs) {
            assert!((f64::from(*p) - q).abs() < 0.01, "{name}: probabilities {ours:?} vs {theirs:?}");
        }
    }
}

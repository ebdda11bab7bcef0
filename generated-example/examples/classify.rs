//! Classifies images with a compiled MobileNet and prints the top 5 classes.
//!
//! ```text
//! cargo run --release -p generated-example --example top5 -- \
//!     v2 ../shared/fixtures/v2_1.0_224/weights.safetensors photo.jpg [more images or .npy] [--labels labels.txt]
//! ```
//!
//! Images (PNG, JPEG) are resized to the network's input with bilinear
//! filtering and scaled to [-1, 1] (`pixel / 127.5 - 1`, Keras'
//! `preprocess_input` for MobileNets). A `.npy` file holds already
//! preprocessed float images, `[H, W, 3]` or `[N, H, W, 3]`. `--labels` names
//! the classes, one per line.

use std::error::Error;
use std::path::Path;

use generated_example::{MobileNetV1, MobileNetV2, MobileNetV3Large, MobileNetV3Small};
use mobilenet_runtime::Network;
use mobilenet_runtime::weights::WeightError;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let labels = match args.iter().position(|a| a == "--labels") {
        Some(i) if i + 1 < args.len() => {
            let path = args.remove(i + 1);
            args.remove(i);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            Some(text.lines().map(String::from).collect::<Vec<_>>())
        }
        Some(_) => return Err("--labels needs a file".into()),
        None => None,
    };
    let [model, weights, inputs @ ..] = args.as_slice() else {
        return Err(
            "usage: top5 <v1|v2|v3-large|v3-small> <weights.safetensors> <image or .npy>... [--labels FILE]".into()
        );
    };
    if inputs.is_empty() {
        return Err("give at least one image or .npy file".into());
    }
    let weights = Path::new(weights);
    match model.as_str() {
        "v1" => classify(MobileNetV1::load(weights), inputs, labels.as_deref()),
        "v2" => classify(MobileNetV2::load(weights), inputs, labels.as_deref()),
        "v3-large" => classify(MobileNetV3Large::load(weights), inputs, labels.as_deref()),
        "v3-small" => classify(MobileNetV3Small::load(weights), inputs, labels.as_deref()),
        other => Err(format!("unknown model `{other}`; expected v1, v2, v3-large or v3-small").into()),
    }
}

fn classify<N: Network>(
    net: Result<N, WeightError>,
    inputs: &[String],
    labels: Option<&[String]>,
) -> Result<(), Box<dyn Error>> {
    let net = net?;
    let (h, w) = (N::INPUT_SHAPE[0], N::INPUT_SHAPE[1]);
    // The only allocations: the arena and output, once.
    let mut arena = mobilenet_runtime::buffer::Buffer::zeroed(N::ARENA_LEN);
    let mut logits = vec![0.0f32; N::OUTPUT_LEN];
    for input in inputs {
        for (i, image) in load(Path::new(input), h, w)?.iter().enumerate() {
            let started = std::time::Instant::now();
            net.run(image, &mut logits, &mut arena);
            let elapsed = started.elapsed();
            println!(
                "{input}{}: ({:.2} ms)",
                if i > 0 { format!("[{i}]") } else { String::new() },
                elapsed.as_secs_f64() * 1e3
            );
            for (class, p) in top5(&logits) {
                let name = labels.and_then(|l| l.get(class)).map_or(String::new(), |l| format!(" {l}"));
                println!("  {class:>5}{name}  {:.4}", p);
            }
        }
    }
    Ok(())
}

/// The five most probable classes, by softmax of the logits.
fn top5(logits: &[f32]) -> Vec<(usize, f32)> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let exp: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    let mut ranked: Vec<(usize, f32)> = exp.iter().map(|e| e / sum).enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(5);
    ranked
}

/// One or more preprocessed `h x w x 3` images.
fn load(path: &Path, h: usize, w: usize) -> Result<Vec<Vec<f32>>, Box<dyn Error>> {
    let shown = path.display();
    if path.extension().is_some_and(|e| e == "npy") {
        let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| format!("{shown}: {e}"))?;
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let data: Vec<f32> = npy.into_vec().map_err(|e| format!("{shown}: expected float32 data: {e}"))?;
        let per_image = h * w * 3;
        if shape.len() < 3 || shape[shape.len() - 3..] != [h, w, 3] {
            return Err(format!("{shown}: shape {shape:?}, the network takes [N, {h}, {w}, 3]").into());
        }
        return Ok(data.chunks(per_image).map(<[f32]>::to_vec).collect());
    }
    let img = image::open(path).map_err(|e| format!("{shown}: {e}"))?.to_rgb8();
    let img = image::imageops::resize(&img, w as u32, h as u32, image::imageops::FilterType::Triangle);
    Ok(vec![img.as_raw().iter().map(|&p| p as f32 / 127.5 - 1.0).collect()])
}

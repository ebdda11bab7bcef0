//! Classifies photos with a compiled MobileNet and prints the top 5 classes.
//!
//! ```text
//! cargo run --release -p generated-example --bin classify -- generated-example/images/chelsea.png
//! cargo run --release -p generated-example --bin classify -- --model v2 \
//!     --weights ../shared/fixtures/v2_1.0_224/weights.safetensors ../shared/fixtures/v2_1.0_224/input.npy
//! ```
//!
//! By default the network is torchvision's MobileNetV2 with its trained
//! ImageNet weights (committed in `generated-example/models`), photos are
//! preprocessed as torchvision did for training (resize the shorter side to
//! 256, center crop 224, normalize), and classes are named from ImageNet's
//! labels. `--model v1|v2|v3-large|v3-small` takes one of the Keras networks
//! of the library instead, with `--weights` (Keras-named) and Keras'
//! preprocessing (`x / 127.5 - 1` at the network's size); `--labels FILE`
//! names the classes, one per line. A `.npy` file holds images already
//! preprocessed, `[H, W, 3]` or `[N, H, W, 3]`.
//!
//! A binary rather than an example: examples build every dev-dependency of
//! the package (criterion, the compiler at full optimization for the
//! benchmarks), which more than doubled the first build of this command.

use std::error::Error;
use std::path::Path;

use generated_example::preprocess::{Preprocess, load_rgb};
use generated_example::{
    MobileNetV1, MobileNetV2, MobileNetV3Large, MobileNetV3Small, TorchvisionMobileNetV2, imagenet,
};
use mobilenet_runtime::Network;
use mobilenet_runtime::weights::WeightError;

const USAGE: &str = "usage: classify [--model imagenet|v1|v2|v3-large|v3-small] [--weights FILE] \
                     [--labels FILE] IMAGE_OR_NPY...";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The command line.
struct Args {
    model: String,
    weights: Option<String>,
    labels: Option<String>,
    inputs: Vec<String>,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args { model: "imagenet".into(), weights: None, labels: None, inputs: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| it.next().ok_or_else(|| format!("{arg} needs {what}\n{USAGE}"));
        match arg.as_str() {
            "--model" => a.model = value("a model")?,
            "--weights" => a.weights = Some(value("a file")?),
            "--labels" => a.labels = Some(value("a file")?),
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}\n{USAGE}").into()),
            _ => a.inputs.push(arg),
        }
    }
    if a.inputs.is_empty() {
        return Err(format!("give at least one image or .npy file\n{USAGE}").into());
    }
    Ok(a)
}

fn run() -> Result<(), Box<dyn Error>> {
    let a = args()?;
    let labels = match (&a.labels, a.model.as_str()) {
        (Some(path), _) => Some(read_labels(path)?),
        (None, "imagenet") => Some(read_labels(imagenet::LABELS)?),
        (None, _) => None,
    };
    let keras_weights = || a.weights.clone().ok_or_else(|| format!("--model {} needs --weights FILE", a.model));
    let keras = Preprocess::Keras;
    match a.model.as_str() {
        "imagenet" => {
            let weights = a.weights.clone().unwrap_or_else(|| imagenet::WEIGHTS.to_string());
            let net = TorchvisionMobileNetV2::load(&weights);
            classify(net, &weights, Preprocess::TorchvisionImagenet, &a.inputs, labels.as_deref())
        }
        "v1" => classify(MobileNetV1::load(keras_weights()?), "", keras, &a.inputs, labels.as_deref()),
        "v2" => classify(MobileNetV2::load(keras_weights()?), "", keras, &a.inputs, labels.as_deref()),
        "v3-large" => classify(MobileNetV3Large::load(keras_weights()?), "", keras, &a.inputs, labels.as_deref()),
        "v3-small" => classify(MobileNetV3Small::load(keras_weights()?), "", keras, &a.inputs, labels.as_deref()),
        other => Err(format!("unknown model `{other}`\n{USAGE}").into()),
    }
}

fn read_labels(path: &str) -> Result<Vec<String>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text.lines().map(String::from).collect())
}

fn classify<N: Network>(
    net: Result<N, WeightError>,
    weights: &str,
    preprocess: Preprocess,
    inputs: &[String],
    labels: Option<&[String]>,
) -> Result<(), Box<dyn Error>> {
    let net = net?;
    if !weights.is_empty() {
        println!("weights: {weights}");
    }
    let (h, w) = (N::INPUT_SHAPE[0], N::INPUT_SHAPE[1]);
    // The only allocations: the arena and output, once.
    let mut arena = mobilenet_runtime::buffer::Buffer::zeroed(N::ARENA_LEN);
    let mut logits = vec![0.0f32; N::OUTPUT_LEN];
    for input in inputs {
        for (i, image) in load(Path::new(input), h, w, preprocess)?.iter().enumerate() {
            let started = std::time::Instant::now();
            net.run(image, &mut logits, &mut arena);
            let elapsed = started.elapsed();
            println!(
                "{input}{}: ({:.2} ms)",
                if i > 0 { format!("[{i}]") } else { String::new() },
                elapsed.as_secs_f64() * 1e3
            );
            for (class, p) in top5(&logits) {
                let name = labels.and_then(|l| l.get(class)).map_or(String::new(), |l| format!("  {l}"));
                println!("  {p:.4}  {class:>5}{name}");
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
fn load(path: &Path, h: usize, w: usize, preprocess: Preprocess) -> Result<Vec<Vec<f32>>, Box<dyn Error>> {
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
    let img = load_rgb(path)?;
    Ok(vec![preprocess.apply(&img, h as u32, w as u32)])
}

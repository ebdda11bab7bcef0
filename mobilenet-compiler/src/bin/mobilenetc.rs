//! `mobilenetc`: the compiler's command line.
//!
//! ```text
//! mobilenetc spec v2 --alpha 1.0 --resolution 224x224 --classes 1000 > v2.yaml
//! mobilenetc spec v3-small --framework torchvision --alpha 0.75 > tv_v3s.yaml
//! mobilenetc summary v2.yaml [--json]
//! mobilenetc ir v2.yaml
//! mobilenetc run v2.yaml --weights w.safetensors --input in.npy --output out.npy
//! mobilenetc quantize v2.yaml --weights w.safetensors --calibrate images.npy --out v2_int8.safetensors
//! mobilenetc run v2.yaml --quantized v2_int8.safetensors --input in.npy --output out.npy
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mobilenet_compiler::ir::Graph;
use mobilenet_compiler::spec::{ClassifierActivation, Family, Framework, Spec, StandardOptions, standard_spec};
use mobilenet_compiler::summary::Summary;
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{codegen, interp, lower, npy, passes, quant};
use mobilenet_layout::q8file::QFile;
use ndarray::{ArrayD, IxDyn};

#[derive(Parser)]
#[command(name = "mobilenetc", version, about = "Ahead-of-time compiler for MobileNet v1/v2/v3")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the spec of a standard keras.applications (or torchvision.models) variant.
    Spec {
        /// v1, v2, v3-large or v3-small.
        #[arg(value_parser = parse_family)]
        family: Family,
        /// Whose model: keras (keras.applications) or torchvision (torchvision.models).
        #[arg(long, value_enum, default_value_t = FrameworkArg::Keras)]
        framework: FrameworkArg,
        /// Width multiplier (torchvision's width_mult).
        // Negative numbers are values here, so that `--alpha -1` reaches the
        // "alpha must be > 0" check instead of reading as an unknown flag.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        alpha: f64,
        /// Input resolution, `HxW` or `S` for square.
        #[arg(long, default_value = "224x224", value_parser = parse_resolution)]
        resolution: (u32, u32),
        /// Number of classes.
        #[arg(long, default_value_t = 1000)]
        classes: u32,
        /// v3 only: no squeeze-excite, no hard-swish, 3x3 kernels.
        #[arg(long)]
        minimalistic: bool,
        /// v3 only: include Keras' Rescaling layer (inputs in [0, 255]).
        #[arg(long)]
        include_preprocessing: bool,
        /// Activation of the classifier: `linear` gives logits (Keras `classifier_activation=None`).
        #[arg(long, value_enum, default_value_t = Activation::Linear)]
        classifier_activation: Activation,
    },
    /// Print a per-layer table of output shapes, parameters and MACs.
    Summary {
        spec: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the IR of a spec (unoptimized, or after the optimization passes).
    Ir {
        spec: PathBuf,
        /// Print the IR after this pass of the pipeline (or `all`): fold_padding,
        /// fold_batch_norm, fuse_activation, fuse_residual, fuse_block, remove_dead.
        #[arg(long)]
        after: Option<String>,
    },
    /// Print the Rust code `mobilenet!` generates for a spec.
    Rust {
        spec: PathBuf,
        /// Name of the generated type.
        #[arg(long, default_value = "MobileNet")]
        name: String,
        /// The unfused program (one kernel per IR node).
        #[arg(long)]
        unfused: bool,
        /// The int8 program (`precision = int8`).
        #[arg(long, conflicts_with = "unfused")]
        int8: bool,
    },
    /// Run the reference interpreter on a batch of images (the integer one with `--quantized`).
    Run {
        spec: PathBuf,
        /// safetensors file with the weights, named as the spec's framework names them.
        #[arg(long, required_unless_present = "quantized", conflicts_with = "quantized")]
        weights: Option<PathBuf>,
        /// An int8 model made by `mobilenetc quantize`: run the integer reference interpreter.
        #[arg(long)]
        quantized: Option<PathBuf>,
        /// `.npy` input, `[N, H, W, C]` (or one image `[H, W, C]`), float32 or float64.
        #[arg(long)]
        input: PathBuf,
        /// `.npy` output, `[N, classes]` for a classifier.
        #[arg(long)]
        output: PathBuf,
    },
    /// Post-training int8 quantization: calibrate activation ranges on
    /// images, quantize the weights, write the int8 model file that
    /// `mobilenet!(.., precision = int8)` networks load (or compile in with `weights = "file"`).
    Quantize {
        spec: PathBuf,
        /// safetensors file with the float weights, named as the spec's framework names them.
        #[arg(long)]
        weights: PathBuf,
        /// `.npy` calibration images, `[N, H, W, C]` float32, preprocessed as the
        /// network expects (several files are concatenated). Use images that are
        /// not your test images.
        #[arg(long, required = true, num_args = 1..)]
        calibrate: Vec<PathBuf>,
        /// Where to write the int8 model (safetensors).
        #[arg(long)]
        out: PathBuf,
        /// Images per interpreter batch (memory use grows with it).
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// How activation ranges are chosen: `mse` (least squared error, clips rare
        /// outliers) or `minmax` (the smallest and largest value seen).
        #[arg(long, value_enum, default_value_t = RangesArg::Mse)]
        ranges: RangesArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FrameworkArg {
    Keras,
    Torchvision,
}

#[derive(Clone, Copy, ValueEnum)]
enum RangesArg {
    Mse,
    Minmax,
}

#[derive(Clone, Copy, ValueEnum)]
enum Activation {
    Linear,
    Softmax,
}

fn parse_family(s: &str) -> Result<Family, String> {
    match s {
        "v1" => Ok(Family::V1),
        "v2" => Ok(Family::V2),
        "v3-large" | "v3large" => Ok(Family::V3Large),
        "v3-small" | "v3small" => Ok(Family::V3Small),
        _ => Err(format!("unknown family `{s}`; expected one of v1, v2, v3-large, v3-small")),
    }
}

fn parse_resolution(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("invalid resolution `{s}`; expected HxW (e.g. 224x224) or a single size");
    match s.split_once(['x', 'X']) {
        Some((h, w)) => Ok((h.trim().parse().map_err(|_| bad())?, w.trim().parse().map_err(|_| bad())?)),
        None => {
            let v = s.trim().parse().map_err(|_| bad())?;
            Ok((v, v))
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_graph(path: &Path) -> Result<Graph, String> {
    let spec = Spec::from_file(path).map_err(|e| e.to_string())?;
    lower(&spec).map_err(|e| e.to_string())
}

/// An `.npy` batch `[N, ...]` (or one image, given a batch axis).
fn read_images(path: &Path, graph: &Graph) -> Result<ArrayD<f32>, String> {
    let x = npy::read(path).map_err(|e| e.to_string())?;
    let mut shape = x.shape.clone();
    if shape.len() == graph.input_shape().dims().len() {
        shape.insert(0, 1);
    }
    ArrayD::from_shape_vec(IxDyn(&shape), x.data).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Spec {
            family,
            framework,
            alpha,
            resolution,
            classes,
            minimalistic,
            include_preprocessing,
            classifier_activation,
        } => {
            let options = StandardOptions {
                family,
                framework: match framework {
                    FrameworkArg::Keras => Framework::Keras,
                    FrameworkArg::Torchvision => Framework::Torchvision,
                },
                alpha,
                height: resolution.0,
                width: resolution.1,
                classes,
                minimalistic,
                include_preprocessing,
                classifier_activation: match classifier_activation {
                    Activation::Linear => ClassifierActivation::Linear,
                    Activation::Softmax => ClassifierActivation::Softmax,
                },
            };
            options.validate()?;
            print!("{}", standard_spec(&options));
        }
        Command::Summary { spec, json } => {
            let summary = Summary::of(&load_graph(&spec)?);
            if json {
                println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
            } else {
                print!("{}", summary.table());
            }
        }
        Command::Ir { spec, after } => {
            let graph = load_graph(&spec)?;
            match after.as_deref() {
                None => print!("{graph}"),
                Some("all") => print!("{}", passes::optimize(&graph)),
                Some(pass) => print!("{}", passes::optimize_until(&graph, pass)?),
            }
        }
        Command::Rust { spec, name, unfused, int8 } => {
            if syn::parse_str::<syn::Ident>(&name).is_err() {
                return Err(format!("--name `{name}` is not a Rust identifier (a type name such as MobileNetV2)"));
            }
            let spec = Spec::from_file(&spec).map_err(|e| e.to_string())?;
            let mut options = codegen::Options::new(name);
            if unfused {
                options.fusion = codegen::Fusion::Off;
            }
            if int8 {
                options.precision = codegen::Precision::Int8;
            }
            print!("{}", codegen::generate(&spec, &options).map_err(|e| e.to_string())?.pretty());
        }
        Command::Run { spec, weights, quantized, input, output } => {
            let graph = load_graph(&spec)?;
            let x = read_images(&input, &graph)?;
            let y = match (weights, quantized) {
                (Some(weights), _) => {
                    let weights = Weights::load(&weights, &graph).map_err(|e| e.to_string())?;
                    interp::run(&graph, &weights, x.view()).map_err(|e| format!("{}: {e}", input.display()))?
                }
                (None, Some(q)) => {
                    let net = quant::Int8Graph::of(&graph).map_err(|e| e.to_string())?;
                    let file = QFile::read(&q).map_err(|e| e.to_string())?;
                    let model =
                        quant::QModel::from_file(net, &q.display().to_string(), &file).map_err(|e| e.to_string())?;
                    let expected = graph.input_shape().dims();
                    if x.shape()[1..] != expected[..] {
                        return Err(format!(
                            "{}: images have shape {:?}, the network takes [N, {}]",
                            input.display(),
                            x.shape(),
                            graph.input_shape()
                        ));
                    }
                    quant::reference::run(&model, x.view())
                }
                (None, None) => unreachable!("clap requires one"),
            };
            let y = npy::Array { shape: y.shape().to_vec(), data: y.iter().copied().collect() };
            npy::write(&output, &y).map_err(|e| e.to_string())?;
        }
        Command::Quantize { spec, weights, calibrate, out, batch, ranges } => {
            let graph = load_graph(&spec)?;
            let net = quant::Int8Graph::of(&graph).map_err(|e| e.to_string())?;
            let weights = Weights::load(&weights, &graph).map_err(|e| e.to_string())?;
            let mut images: Option<ArrayD<f32>> = None;
            for path in &calibrate {
                let x = read_images(path, &graph)?;
                images = Some(match images {
                    None => x,
                    Some(all) => ndarray::concatenate(ndarray::Axis(0), &[all.view(), x.view()]).map_err(|_| {
                        format!(
                            "{}: images of shape {:?} do not match the other calibration files",
                            path.display(),
                            x.shape()
                        )
                    })?,
                });
            }
            let images = images.expect("clap requires at least one file");
            let ranges = match ranges {
                RangesArg::Mse => quant::Ranges::Mse,
                RangesArg::Minmax => quant::Ranges::MinMax,
            };
            let file = quant::quantize_with(&net, &weights, images.view(), batch, ranges).map_err(|e| e.to_string())?;
            file.write(&out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            eprintln!(
                "quantized {} on {} calibration images: {} tensors -> {}",
                graph.name,
                images.shape()[0],
                file.tensors.len(),
                out.display()
            );
        }
    }
    Ok(())
}

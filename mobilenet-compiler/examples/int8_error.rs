//! Where an int8 model loses accuracy: for each quantized tensor, the
//! error of its dequantized values against the float network's, relative
//! to the float tensor's RMS, over a batch of images.
//!
//! `cargo run --release -p mobilenet-compiler --example int8_error -- SPEC WEIGHTS INT8 IMAGES.npy`

use std::collections::HashMap;
use std::path::Path;

use mobilenet_compiler::quant::{Int8Graph, QModel, reference};
use mobilenet_compiler::weights::Weights;
use mobilenet_compiler::{interp, lower, npy, spec::Spec};
use mobilenet_layout::q8file::QFile;
use ndarray::{ArrayD, IxDyn};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [spec, weights, int8, images] = &args[..] else {
        return Err("usage: int8_error SPEC WEIGHTS INT8 IMAGES.npy".into());
    };
    let graph = lower(&Spec::from_file(Path::new(spec))?)?;
    let net = Int8Graph::of(&graph)?;
    let float = net.graph.clone();
    let w = Weights::load(Path::new(weights), &graph)?;
    let model = QModel::from_file(net, int8, &QFile::read(Path::new(int8))?)?;
    let x = npy::read(Path::new(images))?;
    let x = ArrayD::from_shape_vec(IxDyn(&x.shape), x.data)?;
    // Float values per node name and image.
    let mut want: HashMap<String, Vec<f32>> = HashMap::new();
    let logits = interp::run_with(&float, &w, x.view(), |node, v| {
        want.entry(node.name.clone()).or_default().extend(v.iter().copied());
    })?;
    let mut got: HashMap<String, Vec<f32>> = HashMap::new();
    let mut order = Vec::new();
    let q_logits = reference::run_with(&model, x.view(), |node, t| {
        let id = model.net.graph.find(&node.name).expect("a node");
        let q = model.act(id);
        if !got.contains_key(&node.name) {
            order.push(node.name.clone());
        }
        got.entry(node.name.clone()).or_default().extend(t.iter().map(|&b| q.dequantize(b)));
    });
    println!("{:40} {:>10} {:>10} {:>10}", "tensor", "scale", "rms", "err/rms");
    for name in &order {
        let (g, f) = (&got[name], &want[name]);
        let rms = (f.iter().map(|v| v * v).sum::<f32>() / f.len() as f32).sqrt();
        let err = (g.iter().zip(f).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / f.len() as f32).sqrt();
        let id = model.net.graph.find(name).expect("a node");
        println!("{name:40} {:10.5} {rms:10.4} {:10.4}", model.act(id).scale, err / rms);
    }
    let (l, q) = (logits.as_slice().expect("contiguous"), q_logits.as_slice().expect("contiguous"));
    let rms = (l.iter().map(|v| v * v).sum::<f32>() / l.len() as f32).sqrt();
    let err = (l.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / l.len() as f32).sqrt();
    println!("{:40} {:>10} {rms:10.4} {:10.4}", "logits", "", err / rms);
    Ok(())
}

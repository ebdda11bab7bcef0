//! Calibration inputs for int8 post-training quantization of torchvision's
//! MobileNetV2 (`models/mobilenet_v2_imagenet`): the views
//! [`generated_example::calibration`] makes of every photo of a directory,
//! written as one NHWC float32 `.npy`, `[N, 224, 224, 3]`:
//!
//! ```text
//! cargo run --release -p generated-example --example calibration_set -- \
//!     [DIR (generated-example/images/calibration)] [OUT (target/calibration.npy)]
//! ```
//!
//! Six views of each photo (torchvision's evaluation transform, the same of
//! the mirrored photo, two other scales, two corner crops); a photo whose
//! bytes equal one of the test photos (`generated-example/images/*`) is an
//! error. See the module docs of `generated_example::calibration`.

use std::error::Error;
use std::path::{Path, PathBuf};

use generated_example::calibration::{VIEWS, calibration_set};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir =
        args.next().map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("images/calibration"), PathBuf::from);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/calibration.npy".into()));
    if args.next().is_some() {
        return Err("usage: calibration_set [DIR] [OUT.npy]".into());
    }

    let set = calibration_set(&dir)?;
    println!("views of each photo: {}", VIEWS.map(|v| v.name).join(", "));
    for photo in &set.photos {
        println!("  {} ({}x{}): {} views", photo.path.display(), photo.width, photo.height, VIEWS.len());
    }

    let data = &set.data;
    let shape = set.shape().map(|d| d as u64);
    write_npy(&out, &shape, data)?;
    println!(
        "{} photos x {} views = {} images, shape {shape:?}, float32 NHWC",
        set.photos.len(),
        VIEWS.len(),
        set.images
    );
    for c in 0..3 {
        let (mut lo, mut hi, mut sum) = (f32::INFINITY, f32::NEG_INFINITY, 0f64);
        for &v in data.iter().skip(c).step_by(3) {
            lo = lo.min(v);
            hi = hi.max(v);
            sum += f64::from(v);
        }
        let mean = sum / (data.len() / 3) as f64;
        println!("  channel {}: min {lo:.4} max {hi:.4} mean {mean:.4}", ["R", "G", "B"][c]);
    }
    let size = std::fs::metadata(&out)?.len();
    println!("wrote {} ({size} bytes)", out.display());
    Ok(())
}

/// `data` as a C-order float32 `.npy` of `shape`.
fn write_npy(path: &Path, shape: &[u64], data: &[f32]) -> Result<(), Box<dyn Error>> {
    use npyz::WriterBuilder;
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| format!("{shown}: {e}"))?);
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(file).begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish()?;
    Ok(())
}

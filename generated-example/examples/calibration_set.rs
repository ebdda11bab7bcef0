//! Calibration inputs for int8 post-training quantization of torchvision's
//! MobileNetV2 (`models/mobilenet_v2_imagenet`): every photo of a directory,
//! preprocessed as `MobileNet_V2_Weights.IMAGENET1K_V1.transforms()` does,
//! plus deterministic augmented views, written as one NHWC float32 `.npy`,
//! `[N, 224, 224, 3]`:
//!
//! ```text
//! cargo run --release -p generated-example --example calibration_set -- \
//!     [DIR (generated-example/images/calibration)] [OUT (target/calibration.npy)]
//! ```
//!
//! Six views of each photo (files in name order, views in this order):
//!
//! * `resize256-center`: torchvision's evaluation transform itself (resize the
//!   shorter side to 256, center-crop 224, normalize), by
//!   [`Preprocess::TorchvisionImagenet`], exactly what the `classify` binary
//!   feeds the network;
//! * `resize256-center-flip`: the same transform of the mirrored photo;
//! * `resize224-center`, `resize288-center`: shorter side resized to 224
//!   (the whole short side in view) or 288 (a closer view), center crop;
//! * `resize256-topleft`, `resize256-bottomright`: two corner 224 crops of the
//!   256 resize.
//!
//! Every view uses the crate's resize (Pillow's antialiased bilinear, as
//! torchvision's), torchvision's output size and center-crop rounding and
//! ImageNet's normalization; the program checks, on every photo, that its
//! own resize-and-crop at 256/center gives the bits of
//! [`Preprocess::TorchvisionImagenet`].
//!
//! The photos must not be the ones accuracy is measured on: a file whose
//! bytes equal one of `generated-example/images/*` (chelsea, coffee,
//! astronaut, china) is an error.

use std::error::Error;
use std::path::{Path, PathBuf};

use generated_example::preprocess::{IMAGENET_MEAN, IMAGENET_STD, Preprocess, RgbImage, load_rgb, resize_bilinear};

/// The network's input side.
const SIDE: u32 = 224;

/// Where the crop is taken from the resized photo.
#[derive(Clone, Copy)]
enum Crop {
    Center,
    TopLeft,
    BottomRight,
}

/// One view of a photo: shorter side resized to `short`, a `SIDE` crop,
/// the photo mirrored first or not.
struct View {
    name: &'static str,
    short: u32,
    crop: Crop,
    flip: bool,
}

const VIEWS: [View; 6] = [
    View { name: "resize256-center", short: 256, crop: Crop::Center, flip: false },
    View { name: "resize256-center-flip", short: 256, crop: Crop::Center, flip: true },
    View { name: "resize224-center", short: 224, crop: Crop::Center, flip: false },
    View { name: "resize288-center", short: 288, crop: Crop::Center, flip: false },
    View { name: "resize256-topleft", short: 256, crop: Crop::TopLeft, flip: false },
    View { name: "resize256-bottomright", short: 256, crop: Crop::BottomRight, flip: false },
];

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

    let photos = photos_in(&dir)?;
    if photos.is_empty() {
        return Err(format!("no PNG or JPEG file in {}", dir.display()).into());
    }
    let held_out = test_photos()?;
    let per_image = (SIDE * SIDE * 3) as usize;
    let mut data: Vec<f32> = Vec::with_capacity(photos.len() * VIEWS.len() * per_image);
    println!("views of each photo: {}", VIEWS.map(|v| v.name).join(", "));
    for path in &photos {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(test) = held_out.iter().find(|(_, b)| *b == bytes) {
            return Err(format!("{} is the test photo {}: accuracy is measured on it", path.display(), test.0).into());
        }
        let img = load_rgb(path)?;
        let flipped = mirror(&img);
        // The reference: torchvision's transform, as `classify` applies it.
        let reference = Preprocess::TorchvisionImagenet.apply(&img, SIDE, SIDE);
        for view in &VIEWS {
            let x = view_of(if view.flip { &flipped } else { &img }, view.short, view.crop);
            if view.short == 256 && matches!(view.crop, Crop::Center) && !view.flip && x != reference {
                return Err(
                    format!("{}: resize 256 + center crop differs from torchvision_imagenet", path.display()).into()
                );
            }
            data.extend_from_slice(&x);
        }
        let (w, h) = img.dimensions();
        println!("  {} ({w}x{h}): {} views", path.display(), VIEWS.len());
    }

    let n = data.len() / per_image;
    let shape = [n as u64, u64::from(SIDE), u64::from(SIDE), 3];
    write_npy(&out, &shape, &data)?;
    println!("{} photos x {} views = {n} images, shape {shape:?}, float32 NHWC", photos.len(), VIEWS.len());
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

/// The PNG and JPEG files of `dir`, by name.
fn photos_in(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut photos = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
            photos.push(path);
        }
    }
    photos.sort();
    Ok(photos)
}

/// A file's name and bytes.
type Photo = (String, Vec<u8>);

/// The photos accuracy is measured on (`generated-example/images/*`).
fn test_photos() -> Result<Vec<Photo>, Box<dyn Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("images");
    let mut photos = Vec::new();
    for path in photos_in(&dir)? {
        photos.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), std::fs::read(&path)?));
    }
    Ok(photos)
}

/// `img` mirrored left to right.
fn mirror(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let row = w as usize * 3;
    let data = img
        .as_raw()
        .chunks_exact(row)
        .flat_map(|r| r.chunks_exact(3).rev().flatten().copied().collect::<Vec<u8>>())
        .collect();
    RgbImage::from_raw(w, h, data).expect("same size")
}

/// `img` with its shorter side resized to `short` (the longer one as
/// torchvision computes it: truncated), a `SIDE x SIDE` crop, scaled to
/// [0, 1] and normalized with ImageNet's mean and standard deviation;
/// channels last.
fn view_of(img: &RgbImage, short: u32, crop: Crop) -> Vec<f32> {
    let (iw, ih) = img.dimensions();
    let (rw, rh) = if iw <= ih {
        (short, (u64::from(short) * u64::from(ih) / u64::from(iw)) as u32)
    } else {
        ((u64::from(short) * u64::from(iw) / u64::from(ih)) as u32, short)
    };
    let resized = resize_bilinear(img, rw, rh);
    let (left, top) = match crop {
        // F.center_crop: int(round((size - crop) / 2.0)), half to even.
        Crop::Center => (round_half_even(f64::from(rw - SIDE) / 2.0), round_half_even(f64::from(rh - SIDE) / 2.0)),
        Crop::TopLeft => (0, 0),
        Crop::BottomRight => (rw - SIDE, rh - SIDE),
    };
    let mut out = Vec::with_capacity((SIDE * SIDE * 3) as usize);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let p = resized.pixel(left + x, top + y);
            for c in 0..3 {
                out.push((f32::from(p[c]) / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
            }
        }
    }
    out
}

/// Python's `round` of a non-negative value.
fn round_half_even(v: f64) -> u32 {
    let r = v.round();
    let r = if v.fract() == 0.5 && r % 2.0 != 0.0 { r - 1.0 } else { r };
    r as u32
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

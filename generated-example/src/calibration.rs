//! Calibration inputs for int8 post-training quantization of torchvision's
//! MobileNetV2 (`models/mobilenet_v2_imagenet`): every photo of a directory,
//! preprocessed as `MobileNet_V2_Weights.IMAGENET1K_V1.transforms()` does,
//! plus deterministic augmented views, as one NHWC float32 batch
//! `[N, 224, 224, 3]` ([`calibration_set`]; the `calibration_set` example
//! writes it to a `.npy` file, `tests/int8_photos.rs` quantizes with it).
//!
//! Six views of each photo ([`VIEWS`]; files in name order, views in this
//! order):
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
//! ImageNet's normalization; [`calibration_set`] checks, on every photo,
//! that its own resize-and-crop at 256/center gives the bits of
//! [`Preprocess::TorchvisionImagenet`].
//!
//! The photos must not be the ones accuracy is measured on: a file whose
//! bytes equal one of `images/*` ([`crate::imagenet::IMAGES`]: chelsea,
//! coffee, astronaut, china) is an error.

use std::error::Error;
use std::path::{Path, PathBuf};

use crate::preprocess::{IMAGENET_MEAN, IMAGENET_STD, Preprocess, RgbImage, Window, load_rgb, resize_window};

/// The network's input side.
pub const SIDE: u32 = 224;

/// A photo's longer side may be at most this many times its shorter one
/// (resizing the shorter side to 288 must not make an image of gigabytes).
const MAX_ASPECT: u32 = 16;

/// Where the crop is taken from the resized photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crop {
    Center,
    TopLeft,
    BottomRight,
}

/// One view of a photo: shorter side resized to `short`, a `SIDE` crop,
/// the photo mirrored first or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub name: &'static str,
    pub short: u32,
    pub crop: Crop,
    pub flip: bool,
}

/// The views of every photo, in the order they follow each other in a
/// [`CalibrationSet`].
pub const VIEWS: [View; 6] = [
    View { name: "resize256-center", short: 256, crop: Crop::Center, flip: false },
    View { name: "resize256-center-flip", short: 256, crop: Crop::Center, flip: true },
    View { name: "resize224-center", short: 224, crop: Crop::Center, flip: false },
    View { name: "resize288-center", short: 288, crop: Crop::Center, flip: false },
    View { name: "resize256-topleft", short: 256, crop: Crop::TopLeft, flip: false },
    View { name: "resize256-bottomright", short: 256, crop: Crop::BottomRight, flip: false },
];

/// One photo of a [`CalibrationSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalibrationPhoto {
    /// The file, as found in the directory given to [`calibration_set`].
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    pub width: u32,
    pub height: u32,
}

/// The calibration images of a directory of photos.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSet {
    /// `[images, SIDE, SIDE, 3]`, C order: the [`VIEWS`] of `photos[0]`,
    /// then those of `photos[1]`, ...
    pub data: Vec<f32>,
    /// `photos.len() * VIEWS.len()`.
    pub images: usize,
    /// The photos, in name order.
    pub photos: Vec<CalibrationPhoto>,
}

impl CalibrationSet {
    /// `[images, SIDE, SIDE, 3]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.images, SIDE as usize, SIDE as usize, 3]
    }
}

/// The [`VIEWS`] of every PNG and JPEG file of `dir` (see the module docs).
///
/// Errors: `dir` unreadable or without a PNG or JPEG file, a file that is
/// one of the test photos, cannot be decoded, is empty or more than 16
/// times longer than wide (or wide than long), or (a bug) a photo whose
/// 256/center view differs from [`Preprocess::TorchvisionImagenet`].
pub fn calibration_set(dir: &Path) -> Result<CalibrationSet, Box<dyn Error>> {
    let paths = photos_in(dir)?;
    if paths.is_empty() {
        return Err(format!("no PNG or JPEG file in {}", dir.display()).into());
    }
    let held_out = test_photos()?;
    let per_image = (SIDE * SIDE * 3) as usize;
    let mut data: Vec<f32> = Vec::with_capacity(paths.len() * VIEWS.len() * per_image);
    let mut photos = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(test) = held_out.iter().find(|(_, b)| *b == bytes) {
            return Err(format!("{} is the test photo {}: accuracy is measured on it", path.display(), test.0).into());
        }
        let img = load_rgb(&path)?;
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 || u64::from(w.max(h)) > u64::from(MAX_ASPECT) * u64::from(w.min(h)) {
            return Err(format!(
                "{}: {w}x{h} pixels; a calibration photo needs both sides, the longer at most {MAX_ASPECT} times the shorter",
                path.display()
            )
            .into());
        }
        let flipped = mirror(&img);
        // The reference: torchvision's transform, as `classify` applies it.
        let reference = Preprocess::TorchvisionImagenet.apply(&img, SIDE, SIDE);
        for view in &VIEWS {
            let x = view_of(if view.flip { &flipped } else { &img }, view.short, view.crop)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if view.short == 256 && view.crop == Crop::Center && !view.flip && x != reference {
                return Err(
                    format!("{}: resize 256 + center crop differs from torchvision_imagenet", path.display()).into()
                );
            }
            data.extend_from_slice(&x);
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        photos.push(CalibrationPhoto { path, name, width: w, height: h });
    }
    let images = data.len() / per_image;
    Ok(CalibrationSet { data, images, photos })
}

/// The PNG and JPEG files of `dir`, by name.
fn photos_in(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut photos = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
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

/// The photos accuracy is measured on (`images/*`).
fn test_photos() -> Result<Vec<Photo>, Box<dyn Error>> {
    let mut photos = Vec::new();
    for path in photos_in(Path::new(crate::imagenet::IMAGES))? {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        photos.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), bytes));
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

/// `img` (neither side 0) with its shorter side resized to `short` (at
/// least `SIDE`; the longer one as torchvision computes it: truncated), a
/// `SIDE x SIDE` crop, scaled to [0, 1] and normalized with ImageNet's mean
/// and standard deviation; channels last.
fn view_of(img: &RgbImage, short: u32, crop: Crop) -> Result<Vec<f32>, mobilenet_runtime::preprocess::PreprocessError> {
    let (iw, ih) = img.dimensions();
    let (rw, rh) = if iw <= ih {
        (short, (u64::from(short) * u64::from(ih) / u64::from(iw)) as u32)
    } else {
        ((u64::from(short) * u64::from(iw) / u64::from(ih)) as u32, short)
    };
    let (left, top) = match crop {
        // F.center_crop: int(round((size - crop) / 2.0)), half to even.
        Crop::Center => (round_half_even(f64::from(rw - SIDE) / 2.0), round_half_even(f64::from(rh - SIDE) / 2.0)),
        Crop::TopLeft => (0, 0),
        Crop::BottomRight => (rw - SIDE, rh - SIDE),
    };
    let side = SIDE as usize;
    let win = Window {
        resized: (rw as usize, rh as usize),
        left: left as usize,
        top: top as usize,
        width: side,
        height: side,
    };
    let cropped = resize_window(img, win)?;
    let mut out = Vec::with_capacity((SIDE * SIDE * 3) as usize);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let p = cropped.pixel(x, y);
            for c in 0..3 {
                out.push((f32::from(p[c]) / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
            }
        }
    }
    Ok(out)
}

/// Python's `round` of a non-negative value.
fn round_half_even(v: f64) -> u32 {
    mobilenet_runtime::preprocess::round_half_even(v) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_rounding_is_half_to_even() {
        assert_eq!([0.5, 1.5, 2.5, 16.0, 2.4, 2.6].map(round_half_even), [0, 2, 2, 16, 2, 3]);
    }

    #[test]
    fn a_directory_without_photos_or_with_a_test_photo_is_an_error() {
        let e = calibration_set(Path::new("/no/such/dir")).unwrap_err().to_string();
        assert!(e.starts_with("/no/such/dir: "), "{e}");
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let e = calibration_set(&models).unwrap_err().to_string();
        assert!(e.starts_with("no PNG or JPEG file in "), "{e}");
        let e = calibration_set(Path::new(crate::imagenet::IMAGES)).unwrap_err().to_string();
        assert!(e.contains("is the test photo astronaut.png: accuracy is measured on it"), "{e}");
    }

    #[test]
    fn mirroring_reverses_every_row() {
        let img = RgbImage::from_raw(3, 2, (0..18).collect()).unwrap();
        let m = mirror(&img);
        assert_eq!(m.as_raw(), &[6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11]);
        assert_eq!(mirror(&m), img);
    }
}

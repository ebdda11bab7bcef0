//! Photos in, network input out, prepared the way the weights' framework
//! prepared the images they were trained on.
//!
//! * [`torchvision_imagenet`]: torchvision's `ImageClassification` transform
//!   (what `MobileNet_V2_Weights.IMAGENET1K_V1.transforms()` is): resize the
//!   shorter side to 256 with antialiased bilinear filtering, center-crop
//!   224x224, scale to [0, 1], normalize with ImageNet's mean and standard
//!   deviation. For other input sizes the resize keeps the same 256/224 ratio.
//! * [`keras`]: Keras' MobileNet `preprocess_input` (`x / 127.5 - 1`) after
//!   resizing the photo to the network's input with the same antialiased
//!   bilinear filter (what `keras.utils.load_img(..., interpolation="bilinear")`
//!   does through Pillow).
//!
//! The resize is Pillow's `BILINEAR` resampling, the algorithm torchvision's
//! antialiased resize of `uint8` images reproduces: a triangle filter
//! stretched by the scale factor when shrinking, weights normalized per
//! output pixel and rounded to 22-bit fixed point, a horizontal then a
//! vertical pass, each rounded to 8 bits.
//!
//! Photos are decoded by [`load_rgb`] with the `png` and `zune-jpeg`
//! crates directly (the decoders the `image` crate uses, without its colour
//! management dependencies, which took a third of the first build).

use std::fmt;
use std::path::Path;

/// An 8-bit RGB image, rows top to bottom, pixels `[r, g, b]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl RgbImage {
    /// An image from its pixels, or `None` if `data` does not hold `width * height * 3` bytes.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Option<RgbImage> {
        (data.len() as u64 == u64::from(width) * u64::from(height) * 3).then_some(RgbImage { width, height, data })
    }

    /// `(width, height)`.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, row by row.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    /// The pixel at column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Why a photo could not be read.
#[derive(Debug)]
pub enum ImageError {
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Not a PNG or JPEG file (by its first bytes).
    Unsupported {
        path: String,
    },
    /// A PNG or JPEG the decoder rejects.
    Decode {
        path: String,
        reason: String,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io { path, source } => write!(f, "cannot read {path}: {source}"),
            ImageError::Unsupported { path } => write!(f, "{path} is neither a PNG nor a JPEG file"),
            ImageError::Decode { path, reason } => write!(f, "{path}: {reason}"),
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Decodes a PNG or JPEG file (told apart by their signatures) to 8-bit
/// RGB: grey is replicated, alpha dropped, palettes expanded, 16-bit
/// samples cut to their high byte, as Pillow's `convert("RGB")` does.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io { path: shown.clone(), source })?;
    let fail = |reason: String| ImageError::Decode { path: shown.clone(), reason };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes[..]));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| fail(e.to_string()))?;
        let size = reader.output_buffer_size().ok_or_else(|| fail("image too large".into()))?;
        let mut buf = vec![0; size];
        let info = reader.next_frame(&mut buf).map_err(|e| fail(e.to_string()))?;
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => return Err(fail("palette not expanded".into())),
        };
        let (w, h) = (info.width as usize, info.height as usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in buf.chunks(info.line_size).take(h) {
            for px in row[..w * channels].chunks_exact(channels) {
                match channels {
                    1 | 2 => rgb.extend_from_slice(&[px[0]; 3]),
                    _ => rgb.extend_from_slice(&px[..3]),
                }
            }
        }
        return RgbImage::from_raw(info.width, info.height, rgb).ok_or_else(|| fail("truncated image".into()));
    }
    if bytes.starts_with(&[0xff, 0xd8]) {
        use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&bytes[..]), options);
        let rgb = decoder.decode().map_err(|e| fail(format!("{e:?}")))?;
        let info = decoder.info().ok_or_else(|| fail("no image header".into()))?;
        return RgbImage::from_raw(u32::from(info.width), u32::from(info.height), rgb)
            .ok_or_else(|| fail("the decoder returned a buffer of the wrong size".into()));
    }
    Err(ImageError::Unsupported { path: shown })
}

/// ImageNet's per-channel mean and standard deviation (RGB), as torchvision
/// normalizes with them.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How images become network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preprocess {
    /// torchvision's ImageNet evaluation transform ([`torchvision_imagenet`]).
    TorchvisionImagenet,
    /// Keras' MobileNet `preprocess_input` ([`keras`]).
    Keras,
}

impl Preprocess {
    /// `img` as an `h x w x 3` channels-last input.
    pub fn apply(self, img: &RgbImage, h: u32, w: u32) -> Vec<f32> {
        match self {
            Preprocess::TorchvisionImagenet => torchvision_imagenet(img, h, w),
            Preprocess::Keras => keras(img, h, w),
        }
    }
}

/// torchvision's `Resize(256) -> CenterCrop(224) -> ToTensor ->
/// Normalize(mean, std)` for a network input of `h x w` (`256` scales with
/// the crop: `round(min(h, w) * 256 / 224)`).
pub fn torchvision_imagenet(img: &RgbImage, h: u32, w: u32) -> Vec<f32> {
    let short_target = (f64::from(h.min(w)) * 256.0 / 224.0).round() as u32;
    let (iw, ih) = img.dimensions();
    // torchvision's _compute_resized_output_size: the long side is truncated.
    let (rw, rh) = if iw <= ih {
        (short_target, (u64::from(short_target) * u64::from(ih) / u64::from(iw)) as u32)
    } else {
        ((u64::from(short_target) * u64::from(iw) / u64::from(ih)) as u32, short_target)
    };
    let resized = resize_bilinear(img, rw, rh);
    // F.center_crop: int(round((size - crop) / 2.0)), Python rounding (half to even).
    let top = round_half_even(f64::from(rh.saturating_sub(h)) / 2.0);
    let left = round_half_even(f64::from(rw.saturating_sub(w)) / 2.0);
    let mut out = Vec::with_capacity((h * w * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let p = resized.pixel(left + x, top + y);
            for c in 0..3 {
                out.push((f32::from(p[c]) / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
            }
        }
    }
    out
}

/// Keras' `preprocess_input` for MobileNets (`x / 127.5 - 1`) of the photo
/// resized to `h x w`.
pub fn keras(img: &RgbImage, h: u32, w: u32) -> Vec<f32> {
    let resized = resize_bilinear(img, w, h);
    resized.as_raw().iter().map(|&p| f32::from(p) / 127.5 - 1.0).collect()
}

fn round_half_even(v: f64) -> u32 {
    let r = v.round();
    let r = if (v - v.trunc()).abs() == 0.5 && r % 2.0 != 0.0 { r - 1.0 } else { r };
    r.max(0.0) as u32
}

/// Bits of the fixed-point filter weights (Pillow's `PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// One output pixel's input range and fixed-point weights.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` for the bilinear (triangle) filter.
fn taps(in_size: usize, out_size: usize) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) truncates toward zero.
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let last = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (first..last)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                    if t < 1.0 { 1.0 - t } else { 0.0 }
                })
                .collect();
            let total: f64 = w.iter().sum();
            let weights = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { v };
                    let fixed = v * f64::from(1u32 << PRECISION_BITS);
                    (if fixed < 0.0 { fixed - 0.5 } else { fixed + 0.5 }) as i32
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

/// Pillow's `clip8`: a fixed-point sum back to 8 bits.
fn clip8(v: i64) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes with Pillow's antialiased `BILINEAR` filter (see the module docs).
pub fn resize_bilinear(img: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (out_w as usize, out_h as usize);
    let src = img.as_raw();
    let half = 1i64 << (PRECISION_BITS - 1);
    // Horizontal pass: ih rows of ow pixels.
    let horizontal = if ow == iw {
        src.to_vec()
    } else {
        let tx = taps(iw, ow);
        let mut out = vec![0u8; ih * ow * 3];
        for y in 0..ih {
            for (x, t) in tx.iter().enumerate() {
                for c in 0..3 {
                    let mut acc = half;
                    for (i, &k) in t.weights.iter().enumerate() {
                        acc += i64::from(src[(y * iw + t.first + i) * 3 + c]) * i64::from(k);
                    }
                    out[(y * ow + x) * 3 + c] = clip8(acc);
                }
            }
        }
        out
    };
    // Vertical pass.
    let data = if oh == ih {
        horizontal
    } else {
        let ty = taps(ih, oh);
        let mut out = vec![0u8; oh * ow * 3];
        for (y, t) in ty.iter().enumerate() {
            for x in 0..ow * 3 {
                let mut acc = half;
                for (i, &k) in t.weights.iter().enumerate() {
                    acc += i64::from(horizontal[(t.first + i) * ow * 3 + x]) * i64::from(k);
                }
                out[y * ow * 3 + x] = clip8(acc);
            }
        }
        out
    };
    RgbImage::from_raw(out_w, out_h, data).expect("the buffer has out_w * out_h pixels")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_rounding_is_half_to_even() {
        assert_eq!([0.5, 1.5, 2.5, 58.5, 16.0, 2.4, 2.6].map(round_half_even), [0, 2, 2, 58, 16, 2, 3]);
    }

    fn from_fn(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        let f = &f;
        let data = (0..h).flat_map(|y| (0..w).flat_map(move |x| f(x, y))).collect();
        RgbImage::from_raw(w, h, data).unwrap()
    }

    #[test]
    fn same_size_is_the_identity_and_a_flat_image_stays_flat() {
        let img = from_fn(7, 5, |x, y| [x as u8 * 30, y as u8 * 40, 200]);
        assert_eq!(resize_bilinear(&img, 7, 5), img);
        let flat = from_fn(33, 21, |_, _| [17, 128, 255]);
        let small = resize_bilinear(&flat, 8, 13);
        assert!(small.as_raw().chunks(3).all(|p| p == [17, 128, 255]));
    }

    #[test]
    fn halving_weighs_by_the_stretched_triangle() {
        // Shrinking 4 -> 2 stretches the triangle filter to a support of 2
        // input pixels: output 0 (center 1.0) weighs inputs 0, 1, 2 by
        // 0.75, 0.75, 0.25; output 1 (center 3.0) inputs 1, 2, 3 by 0.25,
        // 0.75, 0.75; then normalized by their sum, 1.75.
        let img = from_fn(4, 1, |x, _| [[0, 100, 200, 40][x as usize]; 3]);
        let out = resize_bilinear(&img, 2, 1);
        // (0 * .75 + 100 * .75 + 200 * .25) / 1.75 = 71.4; (100 * .25 + 200 * .75 + 40 * .75) / 1.75 = 117.1
        assert_eq!(out.pixel(0, 0)[0], 71);
        assert_eq!(out.pixel(1, 0)[0], 117);
    }

    #[test]
    fn unreadable_and_foreign_files_are_errors() {
        let err = load_rgb(Path::new("/no/such/photo.png")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read /no/such/photo.png"), "{err}");
        let err = load_rgb(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))).unwrap_err();
        assert!(err.to_string().ends_with("is neither a PNG nor a JPEG file"), "{err}");
    }
}

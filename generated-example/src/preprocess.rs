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
//! Both are `mobilenet_runtime::preprocess` (Pillow's `BILINEAR`
//! resampling, bit for bit, in caller buffers: the browser build runs the
//! same code); this module gives them owned images and vectors.
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

use mobilenet_runtime::preprocess::{self as pp, Image, Scratch};
pub use mobilenet_runtime::preprocess::{IMAGENET_MEAN, IMAGENET_STD, Window};

impl RgbImage {
    /// The image as the runtime's preprocessing reads it.
    pub fn view(&self) -> Image<'_> {
        Image { pixels: &self.data, width: self.width as usize, height: self.height as usize, channels: 3 }
    }
}

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
/// Normalize(mean, std)` for a network input of `h x w`
/// ([`mobilenet_runtime::preprocess::torchvision_imagenet`]).
///
/// # Panics
/// If the image is larger than the runtime's preprocessing takes
/// (`preprocess::MAX_SIDE` a side).
pub fn torchvision_imagenet(img: &RgbImage, h: u32, w: u32) -> Vec<f32> {
    let mut out = vec![0.0; (h * w * 3) as usize];
    pp::torchvision_imagenet(&img.view(), (h as usize, w as usize), &mut out, &mut Scratch::boxed())
        .unwrap_or_else(|e| panic!("{}x{}: {e}", img.width, img.height));
    out
}

/// Keras' `preprocess_input` for MobileNets (`x / 127.5 - 1`) of the photo
/// resized to `h x w` ([`mobilenet_runtime::preprocess::keras`]).
///
/// # Panics
/// As [`torchvision_imagenet`].
pub fn keras(img: &RgbImage, h: u32, w: u32) -> Vec<f32> {
    let mut out = vec![0.0; (h * w * 3) as usize];
    pp::keras(&img.view(), (h as usize, w as usize), &mut out, &mut Scratch::boxed())
        .unwrap_or_else(|e| panic!("{}x{}: {e}", img.width, img.height));
    out
}

/// The window `win` of `img` resized with Pillow's `BILINEAR` filter
/// ([`mobilenet_runtime::preprocess::resize_window`]).
pub fn resize_window(img: &RgbImage, win: Window) -> Result<RgbImage, pp::PreprocessError> {
    let mut data = vec![0u8; win.width * win.height * 3];
    pp::resize_window(&img.view(), win, &mut Scratch::boxed(), |y, row| {
        data[y * row.len()..(y + 1) * row.len()].copy_from_slice(row)
    })?;
    Ok(RgbImage { width: win.width as u32, height: win.height as u32, data })
}

/// `img` resized to `out_w x out_h` with Pillow's `BILINEAR` filter.
///
/// # Panics
/// If `out_w` is wider than the runtime's preprocessing window (512).
pub fn resize_bilinear(img: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (w, h) = (out_w as usize, out_h as usize);
    let win = Window { resized: (w, h), left: 0, top: 0, width: w, height: h };
    resize_window(img, win).unwrap_or_else(|e| panic!("{}x{} to {out_w}x{out_h}: {e}", img.width, img.height))
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Photos to network input, prepared the way the weights' framework
//! prepared the images they were trained on, in caller buffers: `core`
//! only, no allocation (the browser build classifies with it, as the
//! `classify` binary does).
//!
//! * [`torchvision_imagenet`]: torchvision's `ImageClassification`
//!   transform (`MobileNet_V2_Weights.IMAGENET1K_V1.transforms()`): resize
//!   the shorter side to 256 with antialiased bilinear filtering,
//!   center-crop 224x224, scale to [0, 1], normalize with ImageNet's mean
//!   and standard deviation. Other input sizes keep the 256/224 ratio.
//! * [`keras`]: Keras' MobileNet `preprocess_input` (`x / 127.5 - 1`) after
//!   resizing the photo to the network's input with the same filter (what
//!   `keras.utils.load_img(..., interpolation="bilinear")` does through
//!   Pillow).
//!
//! The resize ([`resize_window`]) is Pillow's `BILINEAR` resampling, which
//! torchvision's antialiased resize of `uint8` images reproduces: a triangle
//! filter stretched by the scale factor when shrinking, weights normalized
//! per output pixel and rounded to 22-bit fixed point, a horizontal then a
//! vertical pass, each rounded to 8 bits. It computes only the window that
//! is kept and streams the horizontal pass through a ring of rows, so its
//! memory does not grow with the photo.

/// An 8-bit photo: rows top to bottom, `channels` bytes a pixel: 3 (RGB)
/// or 4 (RGBA, as a browser's canvas gives it; alpha is ignored).
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    pub pixels: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

/// Why a photo could not be prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreprocessError {
    /// `pixels` is not `width * height * channels` bytes, or `channels` is not 3 or 4.
    Shape,
    /// A side is 0.
    Empty,
    /// The photo is larger than [`MAX_SIDE`] on a side, or so much larger
    /// than the network's input that the filter's window does not fit the
    /// scratch ([`Scratch`]).
    TooLarge,
}

impl core::fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PreprocessError::Shape => "the pixel buffer does not match the image's size and channels",
            PreprocessError::Empty => "the image has no pixels",
            PreprocessError::TooLarge => "the image is too large (at most 16384 pixels a side)",
        })
    }
}

/// Longest side accepted.
pub const MAX_SIDE: usize = 16384;

/// Most output pixels of a resized window row.
const MAX_WINDOW_WIDTH: usize = 512;

/// Most taps of one output pixel's filter: a triangle filter's support is
/// two inputs per unit of scale, so this covers shrinking by up to 79x
/// ([`MAX_SIDE`] to 208).
const MAX_TAPS: usize = 160;

/// Rows of horizontally resized pixels the vertical pass reads at once.
const RING_ROWS: usize = MAX_TAPS;

/// What [`resize_window`] works in (about 600 KB): the horizontal filter of
/// each window column, and a ring of horizontally resized rows. Make one and
/// keep it (`Scratch::boxed` with `std`, or a `static`).
pub struct Scratch {
    columns: [Taps; MAX_WINDOW_WIDTH],
    ring: [[u8; 3 * MAX_WINDOW_WIDTH]; RING_ROWS],
    /// Which input row each ring slot holds.
    held: [usize; RING_ROWS],
}

impl Scratch {
    pub const fn new() -> Scratch {
        Scratch {
            columns: [const { Taps { first: 0, len: 0, weights: [0; MAX_TAPS] } }; MAX_WINDOW_WIDTH],
            ring: [[0; 3 * MAX_WINDOW_WIDTH]; RING_ROWS],
            held: [usize::MAX; RING_ROWS],
        }
    }

    /// A scratch on the heap (it is too large for some threads' stacks).
    /// (`Scratch::new()` is for statics.)
    #[cfg(feature = "std")]
    pub fn boxed() -> std::boxed::Box<Scratch> {
        let mut b = std::boxed::Box::<Scratch>::new_uninit();
        // SAFETY: `Scratch` is plain integers; `write` initializes every field.
        unsafe {
            let p = b.as_mut_ptr();
            core::ptr::write_bytes(p, 0, 1);
            (*p).held = [usize::MAX; RING_ROWS];
            b.assume_init()
        }
    }
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::new()
    }
}

/// ImageNet's per-channel mean and standard deviation (RGB), as torchvision
/// normalizes with them.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A `width x height` window at `(left, top)` of an image resized to
/// `resized` (width, height).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub resized: (usize, usize),
    pub left: usize,
    pub top: usize,
    pub width: usize,
    pub height: usize,
}

/// torchvision's `Resize(256) -> CenterCrop(224) -> ToTensor ->
/// Normalize(mean, std)` for a network input of `h x w` (`256` scales with
/// the crop: `round(min(h, w) * 256 / 224)`), channels last into `out`
/// (`h * w * 3` floats).
pub fn torchvision_imagenet(
    img: &Image<'_>,
    (h, w): (usize, usize),
    out: &mut [f32],
    scratch: &mut Scratch,
) -> Result<(), PreprocessError> {
    check(img)?;
    let short = round_half_even(h.min(w) as f64 * 256.0 / 224.0);
    let (iw, ih) = (img.width, img.height);
    // torchvision's _compute_resized_output_size: the long side is truncated.
    let (rw, rh) = if iw <= ih { (short, short * ih / iw) } else { (short * iw / ih, short) };
    if rh < h || rw < w {
        // torchvision pads a crop larger than the image; no MobileNet input is.
        return Err(PreprocessError::TooLarge);
    }
    // F.center_crop: int(round((size - crop) / 2.0)), Python rounding (half to even).
    let top = round_half_even((rh - h) as f64 / 2.0);
    let left = round_half_even((rw - w) as f64 / 2.0);
    let window = Window { resized: (rw, rh), left, top, width: w, height: h };
    let out = &mut out[..h * w * 3];
    resize_window(img, window, scratch, |y, row| {
        for (i, (o, &b)) in out[y * w * 3..(y + 1) * w * 3].iter_mut().zip(row).enumerate() {
            *o = (f32::from(b) / 255.0 - IMAGENET_MEAN[i % 3]) / IMAGENET_STD[i % 3];
        }
    })
}

/// Keras' `preprocess_input` for MobileNets (`x / 127.5 - 1`) of the photo
/// resized to `h x w`, channels last into `out` (`h * w * 3` floats).
pub fn keras(
    img: &Image<'_>,
    (h, w): (usize, usize),
    out: &mut [f32],
    scratch: &mut Scratch,
) -> Result<(), PreprocessError> {
    let window = Window { resized: (w, h), left: 0, top: 0, width: w, height: h };
    let out = &mut out[..h * w * 3];
    resize_window(img, window, scratch, |y, row| {
        for (o, &b) in out[y * w * 3..(y + 1) * w * 3].iter_mut().zip(row) {
            *o = f32::from(b) / 127.5 - 1.0;
        }
    })
}

fn check(img: &Image<'_>) -> Result<(), PreprocessError> {
    let bytes = img.width.checked_mul(img.height).and_then(|p| p.checked_mul(img.channels));
    if !matches!(img.channels, 3 | 4) || bytes != Some(img.pixels.len()) {
        return Err(PreprocessError::Shape);
    }
    if img.width == 0 || img.height == 0 {
        return Err(PreprocessError::Empty);
    }
    if img.width > MAX_SIDE || img.height > MAX_SIDE {
        return Err(PreprocessError::TooLarge);
    }
    Ok(())
}

/// Python's `round` (half to even) of a non-negative value: how
/// torchvision's `CenterCrop` places its window.
pub fn round_half_even(v: f64) -> usize {
    let floor = v as usize;
    let frac = v - floor as f64;
    if frac > 0.5 || (frac == 0.5 && floor % 2 == 1) { floor + 1 } else { floor }
}

/// Bits of the fixed-point filter weights (Pillow's `PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// One output pixel's filter: its first input and fixed-point weights.
#[derive(Clone, Copy)]
struct Taps {
    first: usize,
    len: usize,
    weights: [i32; MAX_TAPS],
}

impl Taps {
    /// Pillow's `precompute_coeffs` for the bilinear (triangle) filter:
    /// output pixel `xx` of `out_size` from `in_size`.
    fn of(in_size: usize, out_size: usize, xx: usize) -> Result<Taps, PreprocessError> {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = if scale > 1.0 { scale } else { 1.0 };
        let support = filter_scale;
        let center = (xx as f64 + 0.5) * scale;
        // C's (int) truncates toward zero.
        let first = ((center - support + 0.5) as i64).max(0) as usize;
        let last = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let len = last.saturating_sub(first);
        if len > MAX_TAPS {
            return Err(PreprocessError::TooLarge);
        }
        let mut w = [0f64; MAX_TAPS];
        let mut total = 0.0;
        for (i, v) in w.iter_mut().enumerate().take(len) {
            let t = ((first + i) as f64 - center + 0.5) / filter_scale;
            let t = if t < 0.0 { -t } else { t };
            *v = if t < 1.0 { 1.0 - t } else { 0.0 };
            total += *v;
        }
        let mut weights = [0i32; MAX_TAPS];
        for (k, &v) in weights.iter_mut().zip(&w).take(len) {
            let v = if total != 0.0 { v / total } else { v };
            let fixed = v * f64::from(1u32 << PRECISION_BITS);
            *k = (if fixed < 0.0 { fixed - 0.5 } else { fixed + 0.5 }) as i32;
        }
        Ok(Taps { first, len, weights })
    }

    /// The filtered value of `at(first + i)` over the taps, back to 8 bits
    /// (Pillow's `clip8` of the fixed-point sum, rounded).
    #[inline(always)]
    fn apply(&self, at: impl Fn(usize) -> u8) -> u8 {
        let mut acc = 1i64 << (PRECISION_BITS - 1);
        for (i, &k) in self.weights[..self.len].iter().enumerate() {
            acc += i64::from(at(self.first + i)) * i64::from(k);
        }
        (acc >> PRECISION_BITS).clamp(0, 255) as u8
    }
}

/// The window `win` of `img` resized to `win.resized` with Pillow's
/// antialiased `BILINEAR` filter (see the module docs), handed to `row`
/// one RGB row at a time, top to bottom: `row(y, bytes)` with `win.width *
/// 3` bytes. Only the window's columns are computed, and each input row
/// passes the horizontal filter once, into a ring of rows.
pub fn resize_window(
    img: &Image<'_>,
    win: Window,
    scratch: &mut Scratch,
    mut row: impl FnMut(usize, &[u8]),
) -> Result<(), PreprocessError> {
    check(img)?;
    let (rw, rh) = win.resized;
    if rw == 0 || rh == 0 || win.left + win.width > rw || win.top + win.height > rh {
        return Err(PreprocessError::Shape);
    }
    if win.width > MAX_WINDOW_WIDTH {
        return Err(PreprocessError::TooLarge);
    }
    let (iw, ih, ch) = (img.width, img.height, img.channels);
    let Scratch { columns, ring, held } = scratch;
    held.fill(usize::MAX);
    for (x, t) in columns.iter_mut().enumerate().take(win.width) {
        *t = Taps::of(iw, rw, win.left + x)?;
    }
    let line = win.width * 3;
    let horizontal = |y: usize, out: &mut [u8; 3 * MAX_WINDOW_WIDTH]| {
        let src = &img.pixels[y * iw * ch..(y + 1) * iw * ch];
        for (x, t) in columns.iter().enumerate().take(win.width) {
            for c in 0..3 {
                out[x * 3 + c] = if rw == iw { src[(win.left + x) * ch + c] } else { t.apply(|i| src[i * ch + c]) };
            }
        }
    };
    let mut out = [0u8; 3 * MAX_WINDOW_WIDTH];
    for y in 0..win.height {
        let yy = win.top + y;
        let t = Taps::of(ih, rh, yy)?;
        let (first, len) = if rh == ih { (yy, 1) } else { (t.first, t.len) };
        for iy in first..first + len {
            let slot = iy % RING_ROWS;
            if held[slot] != iy {
                horizontal(iy, &mut ring[slot]);
                held[slot] = iy;
            }
        }
        if rh == ih {
            row(y, &ring[yy % RING_ROWS][..line]);
            continue;
        }
        for (x, o) in out[..line].iter_mut().enumerate() {
            *o = t.apply(|i| ring[i % RING_ROWS][x]);
        }
        row(y, &out[..line]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, f: impl Fn(usize, usize) -> [u8; 3]) -> std::vec::Vec<u8> {
        let f = &f;
        (0..h).flat_map(|y| (0..w).flat_map(move |x| f(x, y))).collect()
    }

    fn resize(pixels: &[u8], (w, h): (usize, usize), (ow, oh): (usize, usize)) -> std::vec::Vec<u8> {
        let img = Image { pixels, width: w, height: h, channels: 3 };
        let mut out = std::vec![0u8; ow * oh * 3];
        let win = Window { resized: (ow, oh), left: 0, top: 0, width: ow, height: oh };
        resize_window(&img, win, &mut Scratch::boxed(), |y, row| {
            out[y * ow * 3..(y + 1) * ow * 3].copy_from_slice(row)
        })
        .unwrap();
        out
    }

    #[test]
    fn python_rounding_is_half_to_even() {
        assert_eq!([0.5, 1.5, 2.5, 58.5, 16.0, 2.4, 2.6].map(round_half_even), [0, 2, 2, 58, 16, 2, 3]);
    }

    #[test]
    fn same_size_is_the_identity_and_a_flat_image_stays_flat() {
        let img = image(7, 5, |x, y| [x as u8 * 30, y as u8 * 40, 200]);
        assert_eq!(resize(&img, (7, 5), (7, 5)), img);
        let flat = image(33, 21, |_, _| [17, 128, 255]);
        assert!(resize(&flat, (33, 21), (8, 13)).chunks(3).all(|p| p == [17, 128, 255]));
    }

    #[test]
    fn halving_weighs_by_the_stretched_triangle() {
        // Shrinking 4 -> 2 stretches the triangle filter to a support of 2
        // input pixels: output 0 (center 1.0) weighs inputs 0, 1, 2 by
        // 0.75, 0.75, 0.25; output 1 (center 3.0) inputs 1, 2, 3 by 0.25,
        // 0.75, 0.75; then normalized by their sum, 1.75.
        let img = image(4, 1, |x, _| [[0, 100, 200, 40][x]; 3]);
        // (0 * .75 + 100 * .75 + 200 * .25) / 1.75 = 71.4; (100 * .25 + 200 * .75 + 40 * .75) / 1.75 = 117.1
        assert_eq!(resize(&img, (4, 1), (2, 1)), [71, 71, 71, 117, 117, 117]);
    }

    #[test]
    fn a_window_is_the_same_pixels_as_the_whole_resize() {
        let img = image(61, 47, |x, y| [(x * 7 + y * 3) as u8, (x * y) as u8, ((x ^ y) * 5) as u8]);
        let whole = resize(&img, (61, 47), (29, 37));
        let view = Image { pixels: &img, width: 61, height: 47, channels: 3 };
        let win = Window { resized: (29, 37), left: 5, top: 9, width: 13, height: 17 };
        let mut rows = std::vec::Vec::new();
        resize_window(&view, win, &mut Scratch::boxed(), |y, row| rows.push((y, row.to_vec()))).unwrap();
        assert_eq!(rows.len(), 17);
        for (y, row) in rows {
            assert_eq!(row[..], whole[((9 + y) * 29 + 5) * 3..((9 + y) * 29 + 5 + 13) * 3], "row {y}");
        }
        // RGBA gives the RGB of its pixels (alpha ignored).
        let rgba: std::vec::Vec<u8> = img.chunks(3).flat_map(|p| [p[0], p[1], p[2], 9]).collect();
        let view = Image { pixels: &rgba, width: 61, height: 47, channels: 4 };
        let mut n = 0;
        resize_window(
            &view,
            Window { resized: (29, 37), left: 0, top: 0, width: 29, height: 37 },
            &mut Scratch::boxed(),
            |y, row| {
                assert_eq!(row, &whole[y * 87..(y + 1) * 87]);
                n += 1;
            },
        )
        .unwrap();
        assert_eq!(n, 37);
    }

    #[test]
    fn bad_images_are_errors() {
        let px = [0u8; 12];
        let img = |w, h, c, p: &[u8]| Image { pixels: &px[..p.len()], width: w, height: h, channels: c };
        let mut s = Scratch::boxed();
        let mut out = [0.0f32; 224 * 224 * 3];
        assert_eq!(torchvision_imagenet(&img(2, 2, 3, &px), (224, 224), &mut out, &mut s), Ok(()));
        assert_eq!(
            torchvision_imagenet(&img(2, 2, 4, &px[..11]), (224, 224), &mut out, &mut s),
            Err(PreprocessError::Shape)
        );
        assert_eq!(torchvision_imagenet(&img(0, 4, 3, &[]), (224, 224), &mut out, &mut s), Err(PreprocessError::Empty));
        assert_eq!(
            torchvision_imagenet(&img(2, 2, 5, &px[..0]), (224, 224), &mut out, &mut s),
            Err(PreprocessError::Shape)
        );
        let huge = Image { pixels: &[], width: MAX_SIDE + 1, height: 0, channels: 3 };
        assert!(torchvision_imagenet(&huge, (224, 224), &mut out, &mut s).is_err());
        // A 1 x 20000 strip: its filter's window over the long side is wider than the scratch's.
        let strip = std::vec![7u8; 20000 * 3];
        let tall = Image { pixels: &strip, width: 1, height: 20000, channels: 3 };
        assert_eq!(torchvision_imagenet(&tall, (224, 224), &mut out, &mut s), Err(PreprocessError::TooLarge));
    }
}

//! The page's classifier: torchvision's trained MobileNetV2, f32 or (with
//! feature `int8`) int8, its weights compiled in.

use mobilenet_runtime::kernels::softmax_in_place;
use mobilenet_runtime::preprocess::{Image, PreprocessError, Scratch, torchvision_imagenet};

use crate::{Local, fail};

#[cfg(not(feature = "int8"))]
mobilenet_macros::mobilenet!(
    "../specs/tv_v2_1.0_224.yaml",
    name = Net,
    weights = "../generated-example/models/mobilenet_v2_imagenet/weights.safetensors"
);

#[cfg(feature = "int8")]
mobilenet_macros::mobilenet!(
    "../specs/tv_v2_1.0_224.yaml",
    name = Net,
    precision = int8,
    weights = "../generated-example/models/mobilenet_v2_imagenet/int8.safetensors"
);

/// Largest image accepted, in pixels (4096 x 4096): its RGBA bytes are a
/// static buffer of the module (64 MiB of memory, none of the download).
pub const MAX_PIXELS: usize = 4096 * 4096;

static NET: Net = Net::new();
static PIXELS: Local<[u8; 4 * MAX_PIXELS]> = Local::new([0; 4 * MAX_PIXELS]);
static SCRATCH: Local<Scratch> = Local::new(Scratch::new());
static INPUT: Local<[f32; Net::INPUT_LEN]> = Local::new([0.0; Net::INPUT_LEN]);
// SAFETY: all-zero bytes are zero floats or bytes.
static ARENA: Local<[<Net as mobilenet_runtime::Network>::Elem; Net::ARENA_LEN]> =
    Local::new(unsafe { core::mem::zeroed() });
/// Probabilities, then the top 5.
static PROBS: Local<[f32; Net::OUTPUT_LEN]> = Local::new([0.0; Net::OUTPUT_LEN]);
static TOP: Local<[(u32, f32); 5]> = Local::new([(0, 0.0); 5]);

/// The RGBA buffer for an image of `len` bytes, or null if it is too large.
#[unsafe(no_mangle)]
pub extern "C" fn mn_pixels(len: usize) -> *mut u8 {
    if len > 4 * MAX_PIXELS {
        return core::ptr::null_mut();
    }
    // SAFETY: the only reference to PIXELS this export takes; the page writes through the pointer before the
    // next export runs.
    unsafe { PIXELS.get().as_mut_ptr() }
}

/// Classifies the `width x height` RGBA image in the [`mn_pixels`] buffer:
/// 0, or a negative code with a message in `mn_error()`.
#[unsafe(no_mangle)]
pub extern "C" fn mn_classify(width: u32, height: u32) -> i32 {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 {
        return fail(-1, "the image has no pixels");
    }
    if w.saturating_mul(h) > MAX_PIXELS {
        return fail(-2, "the image is too large: at most 4096 x 4096 pixels (16.7 megapixels)");
    }
    // SAFETY: each static is taken once by this export, which runs alone.
    let (pixels, scratch, input, arena, probs, top) =
        unsafe { (PIXELS.get(), SCRATCH.get(), INPUT.get(), ARENA.get(), PROBS.get(), TOP.get()) };
    let img = Image { pixels: &pixels[..w * h * 4], width: w, height: h, channels: 4 };
    if let Err(e) = torchvision_imagenet(&img, (224, 224), input, scratch) {
        return match e {
            PreprocessError::TooLarge => fail(-2, "the image is too large for the resize filter"),
            PreprocessError::Empty => fail(-1, "the image has no pixels"),
            PreprocessError::Shape => fail(-3, "the pixel buffer does not match the image's size"),
        };
    }
    NET.forward(input, probs, arena);
    softmax_in_place(probs);
    // The top 5, best first (ties: the smaller class).
    *top = [(0, f32::NEG_INFINITY); 5];
    for (c, &p) in probs.iter().enumerate() {
        if p > top[4].1 {
            let mut i = 4;
            while i > 0 && p > top[i - 1].1 {
                top[i] = top[i - 1];
                i -= 1;
            }
            top[i] = (c as u32, p);
        }
    }
    0
}

/// The class of the `i`-th best (0..5) of the last image.
#[unsafe(no_mangle)]
pub extern "C" fn mn_top_class(i: usize) -> u32 {
    // SAFETY: this export's only reference to TOP.
    unsafe { TOP.get().get(i).map_or(u32::MAX, |t| t.0) }
}

/// The probability of the `i`-th best (0..5) of the last image.
#[unsafe(no_mangle)]
pub extern "C" fn mn_top_prob(i: usize) -> f32 {
    // SAFETY: this export's only reference to TOP.
    unsafe { TOP.get().get(i).map_or(f32::NAN, |t| t.1) }
}

/// Bytes of the compiled-in weights the network reads.
#[unsafe(no_mangle)]
pub extern "C" fn mn_weights_bytes() -> usize {
    Net::WEIGHTS_LEN * core::mem::size_of::<<Net as mobilenet_runtime::Network>::Elem>()
}

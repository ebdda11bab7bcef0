//! A program that classifies images with a network whose weights are
//! compiled in performs no heap allocation from the first line of `main` to
//! its end: the global allocator below refuses every allocation once
//! `main` starts (the process aborts on the first), and the network, its
//! input, its output and its arena live in statics and on the stack.
//!
//! The network is torchvision's trained MobileNetV2; the images are the
//! real photos as torchvision preprocessed them, embedded with
//! `include_bytes!`, and each must get torchvision's class.
//! (`harness = false`: the test harness itself allocates.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

/// Allocates through `System` until armed, then refuses.
struct Refusing;

static ARMED: AtomicBool = AtomicBool::new(false);

// SAFETY: delegates to `System`, or returns null, which `GlobalAlloc` allows
// (the caller then reports an allocation error).
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::SeqCst) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Refusing = Refusing;

mobilenet_macros::mobilenet!(
    "specs/tv_v2_1.0_224.yaml",
    name = ImagenetV2,
    weights = "generated-example/models/mobilenet_v2_imagenet/weights.safetensors"
);

static NET: ImagenetV2 = ImagenetV2::new();

static INPUT: &[u8] = include_bytes!("../generated-example/models/mobilenet_v2_imagenet/reference/input.npy");
static EXPECTED: &[u8] =
    include_bytes!("../generated-example/models/mobilenet_v2_imagenet/reference/expected_logits.npy");

/// The `i`th little-endian f32 of the data of an `.npy` file (version 1:
/// a 10-byte preamble, then the header, whose length is at bytes 8..10).
fn npy_f32(npy: &[u8], i: usize) -> f32 {
    let data = 10 + usize::from(u16::from_le_bytes([npy[8], npy[9]]));
    let b = &npy[data + 4 * i..data + 4 * i + 4];
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn argmax(v: impl Iterator<Item = f32>) -> usize {
    v.enumerate().fold((0, f32::NEG_INFINITY), |best, (i, x)| if x > best.1 { (i, x) } else { best }).0
}

fn main() {
    ARMED.store(true, Ordering::SeqCst);
    let mut arena = [0.0f32; ImagenetV2::ARENA_LEN];
    let mut image = [0.0f32; ImagenetV2::INPUT_LEN];
    let mut logits = [0.0f32; ImagenetV2::OUTPUT_LEN];
    let mut classes = [0usize; 4];
    let mut expected = [0usize; 4];
    for (n, (class, want)) in classes.iter_mut().zip(&mut expected).enumerate() {
        for (i, x) in image.iter_mut().enumerate() {
            *x = npy_f32(INPUT, n * ImagenetV2::INPUT_LEN + i);
        }
        NET.forward(&image, &mut logits, &mut arena);
        *class = argmax(logits.iter().copied());
        *want = argmax((0..1000).map(|k| npy_f32(EXPECTED, n * 1000 + k)));
    }
    ARMED.store(false, Ordering::SeqCst);
    println!("no_heap: 4 photos classified with no allocation; classes {classes:?}, torchvision's {expected:?}");
    assert_eq!(classes, expected, "the embedded network's classes differ from torchvision's");
    println!("no_heap: 1 passed, 0 failed");
}

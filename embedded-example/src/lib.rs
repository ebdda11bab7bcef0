//! A `#![no_std]` library: MobileNetV2 0.35 at 96x96 (10 classes), its
//! weights folded, packed and compiled into the binary, run with `core`
//! alone on a caller's arena. No heap, no file, no load step.
//!
//! For a microcontroller or WebAssembly, build this crate for the target
//! (`cargo build -p embedded-example --target thumbv7em-none-eabihf` after
//! `rustup target add thumbv7em-none-eabihf`; the kernels are the portable
//! ones there, and only the narrow weight layout is compiled in off
//! x86-64). Weights and code go to flash; `Classifier::ARENA_LEN` floats of
//! RAM hold every activation.

#![no_std]

mobilenet_macros::mobilenet!(
    "../tests/data/v2_0.35_96_c10/spec.yaml",
    name = Classifier,
    weights = "../tests/data/v2_0.35_96_c10/weights.safetensors"
);

/// The network: a `static`, usable from anywhere, from the first instruction.
pub static NET: Classifier = Classifier::new();

/// The class of `image` (`96 x 96 x 3`, channels last, scaled to `[-1, 1]`),
/// computed in `arena`.
pub fn classify(image: &[f32; Classifier::INPUT_LEN], arena: &mut [f32; Classifier::ARENA_LEN]) -> usize {
    let mut logits = [0.0f32; Classifier::OUTPUT_LEN];
    NET.forward(image, &mut logits, arena);
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// The fixture's images get Keras' classes (from its expected logits).
    #[test]
    fn classifies_the_fixture_images_as_keras_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/v2_0.35_96_c10");
        let read = |name: &str| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let data = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
            bytes[data..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect::<std::vec::Vec<_>>()
        };
        let (input, expected) = (read("input.npy"), read("expected_logits.npy"));
        let mut arena = std::vec![0.0f32; Classifier::ARENA_LEN];
        for (image, logits) in input.chunks(Classifier::INPUT_LEN).zip(expected.chunks(10)) {
            let want = (0..10).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
            let class = classify(image.try_into().unwrap(), (&mut arena[..]).try_into().unwrap());
            assert_eq!(class, want);
        }
    }
}

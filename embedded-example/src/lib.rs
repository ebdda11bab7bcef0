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
//!
//! [`Int8Classifier`] is the same network in int8, its quantized-model file
//! (`data/v2_0.35_96_c10_int8.safetensors`, see `data/README.md`) packed at
//! build time for every int8 instruction set: a quarter of the weight bytes,
//! `Int8Classifier::ARENA_LEN` bytes of RAM.

#![no_std]

mobilenet_macros::mobilenet!(
    "../tests/data/v2_0.35_96_c10/spec.yaml",
    name = Classifier,
    weights = "../tests/data/v2_0.35_96_c10/weights.safetensors"
);

mobilenet_macros::mobilenet!(
    "../tests/data/v2_0.35_96_c10/spec.yaml",
    name = Int8Classifier,
    precision = int8,
    weights = "data/v2_0.35_96_c10_int8.safetensors"
);

/// The network: a `static`, usable from anywhere, from the first instruction.
pub static NET: Classifier = Classifier::new();

/// The int8 network, as a `static` too.
pub static NET_INT8: Int8Classifier = Int8Classifier::new();

/// The index of the largest logit.
fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best
}

/// [`classify`] with the int8 network; `arena` holds its activations.
pub fn classify_int8(image: &[f32; Int8Classifier::INPUT_LEN], arena: &mut [u8; Int8Classifier::ARENA_LEN]) -> usize {
    let mut logits = [0.0f32; Int8Classifier::OUTPUT_LEN];
    NET_INT8.forward(image, &mut logits, arena);
    argmax(&logits)
}

/// The class of `image` (`96 x 96 x 3`, channels last, scaled to `[-1, 1]`),
/// computed in `arena`.
pub fn classify(image: &[f32; Classifier::INPUT_LEN], arena: &mut [f32; Classifier::ARENA_LEN]) -> usize {
    let mut logits = [0.0f32; Classifier::OUTPUT_LEN];
    NET.forward(image, &mut logits, arena);
    argmax(&logits)
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
        let mut qarena = std::vec![0u8; Int8Classifier::ARENA_LEN];
        for (image, logits) in input.chunks(Classifier::INPUT_LEN).zip(expected.chunks(10)) {
            let want = (0..10).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
            let class = classify(image.try_into().unwrap(), (&mut arena[..]).try_into().unwrap());
            assert_eq!(class, want);
            // int8: the weights packed for the fastest kernels give the bits of
            // the portable ones (`tests/int8_conformance.rs` checks this file's
            // network against the integer reference interpreter; a random-weight
            // network's int8 logits are too noisy to keep Keras' classes).
            let (mut best, mut portable) = ([0.0f32; 10], [0.0f32; 10]);
            NET_INT8.forward(image.try_into().unwrap(), &mut best, (&mut qarena[..]).try_into().unwrap());
            Int8Classifier::with_isa(mobilenet_runtime::kernels::Isa::portable()).forward(
                image.try_into().unwrap(),
                &mut portable,
                (&mut qarena[..]).try_into().unwrap(),
            );
            assert_eq!(best.map(f32::to_bits), portable.map(f32::to_bits), "int8 on {}", NET_INT8.isa());
            assert_eq!(classify_int8(image.try_into().unwrap(), (&mut qarena[..]).try_into().unwrap()), argmax(&best));
        }
    }
}

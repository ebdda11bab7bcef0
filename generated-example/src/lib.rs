//! The four standard MobileNets, compiled at build time by `mobilenet!`
//! from the specs in `../specs`, fused (the product) and, in [`unfused`],
//! one kernel per IR node (the baseline the benchmarks compare with); and
//! torchvision's MobileNetV2, whose trained ImageNet weights are in
//! `models/mobilenet_v2_imagenet` ([`TorchvisionMobileNetV2`]), also in int8
//! ([`TorchvisionMobileNetV2Int8`], which loads its quantized-model file,
//! and [`TorchvisionMobileNetV2Int8Embedded`], which has it compiled in;
//! v1/v2 in [`int8`]). [`calibration`] makes the images that network is
//! quantized on (`images/calibration`), [`preprocess`] a photo's input.

use mobilenet_macros::mobilenet;

pub mod calibration;
pub mod preprocess;

mobilenet!("../specs/tv_v2_1.0_224.yaml", name = TorchvisionMobileNetV2);
mobilenet!("../specs/tv_v2_1.0_224.yaml", name = TorchvisionMobileNetV2Int8, precision = int8);
mobilenet!(
    "../specs/tv_v2_1.0_224.yaml",
    name = TorchvisionMobileNetV2Int8Embedded,
    precision = int8,
    weights = "models/mobilenet_v2_imagenet/int8.safetensors"
);

/// The trained weights of [`TorchvisionMobileNetV2`] and their class names,
/// committed with the crate.
pub mod imagenet {
    /// torchvision's `IMAGENET1K_V1` MobileNetV2 weights (a state_dict).
    pub const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mobilenet_v2_imagenet/weights.safetensors");
    /// The 1000 ImageNet class names, one per line.
    /// The same weights quantized to int8 by `mobilenetc quantize`, calibrated
    /// on `images/calibration` (see `models/mobilenet_v2_imagenet/README.md`).
    pub const INT8: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mobilenet_v2_imagenet/int8.safetensors");
    pub const LABELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mobilenet_v2_imagenet/categories.txt");
    /// Real photos (see `images/README.md` for their licences).
    pub const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/images");
}

mobilenet!("../specs/v1_1.0_224.yaml");
mobilenet!("../specs/v2_1.0_224.yaml");
mobilenet!("../specs/v3-large_1.0_224.yaml");
mobilenet!("../specs/v3-small_1.0_224.yaml");

/// The v1 and v2 networks in int8 (`precision = int8`): they load a
/// quantized-model file made by `mobilenetc quantize`.
pub mod int8 {
    use mobilenet_macros::mobilenet;

    mobilenet!("../specs/v1_1.0_224.yaml", precision = int8);
    mobilenet!("../specs/v2_1.0_224.yaml", precision = int8);
}

/// The same networks without the optimization passes.
pub mod unfused {
    use mobilenet_macros::mobilenet;

    mobilenet!("../specs/v1_1.0_224.yaml", fuse = false);
    mobilenet!("../specs/v2_1.0_224.yaml", fuse = false);
    mobilenet!("../specs/v3-large_1.0_224.yaml", fuse = false);
    mobilenet!("../specs/v3-small_1.0_224.yaml", fuse = false);
}

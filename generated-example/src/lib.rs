//! The four standard MobileNets, compiled at build time by `mobilenet!`
//! from the specs in `../specs`, fused (the product) and, in [`unfused`],
//! one kernel per IR node (the baseline the benchmarks compare with).

use mobilenet_macros::mobilenet;

mobilenet!("../specs/v1_1.0_224.yaml");
mobilenet!("../specs/v2_1.0_224.yaml");
mobilenet!("../specs/v3-large_1.0_224.yaml");
mobilenet!("../specs/v3-small_1.0_224.yaml");

/// The same networks without the optimization passes.
pub mod unfused {
    use mobilenet_macros::mobilenet;

    mobilenet!("../specs/v1_1.0_224.yaml", fuse = false);
    mobilenet!("../specs/v2_1.0_224.yaml", fuse = false);
    mobilenet!("../specs/v3-large_1.0_224.yaml", fuse = false);
    mobilenet!("../specs/v3-small_1.0_224.yaml", fuse = false);
}

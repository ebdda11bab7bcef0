//! The four standard Keras networks of `../shared/fixtures` (1.0, 224),
//! f32 and int8, their weights compiled in, for `web/bench.sh`: the same
//! exports as the conformance module (`mn_run`), timed by
//! `web/tests/bench.mjs` against onnxruntime-web on the same networks.

use crate::Local;
use crate::conformance::{Entry, nets};
use mobilenet_runtime::Network;

nets! {
    "v1_1.0_224" => V1 ("../specs/v1_1.0_224.yaml", weights = "../../shared/fixtures/v1_1.0_224/weights.safetensors");
    "v2_1.0_224" => V2 ("../specs/v2_1.0_224.yaml", weights = "../../shared/fixtures/v2_1.0_224/weights.safetensors");
    "v3large_1.0_224" => V3Large ("../specs/v3-large_1.0_224.yaml", weights = "../../shared/fixtures/v3large_1.0_224/weights.safetensors");
    "v3small_1.0_224" => V3Small ("../specs/v3-small_1.0_224.yaml", weights = "../../shared/fixtures/v3small_1.0_224/weights.safetensors");
    "v1_1.0_224 int8" => V1Int8 ("../specs/v1_1.0_224.yaml", precision = int8, weights = "../target/wasm/bench/v1_1.0_224_int8.safetensors");
    "v2_1.0_224 int8" => V2Int8 ("../specs/v2_1.0_224.yaml", precision = int8, weights = "../target/wasm/bench/v2_1.0_224_int8.safetensors");
}

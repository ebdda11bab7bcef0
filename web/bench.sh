#!/usr/bin/env bash
# Times the WebAssembly build against onnxruntime-web in node (one core):
# quantizes the v1 and v2 fixtures of ../shared for the int8 rows (on their
# own images: speed does not depend on calibration), builds the `bench`
# module, the page's modules (for their sizes) and runs web/tests/bench.mjs.
#
#   web/bench.sh [RUNS (default 50)]
#
# Needs ../shared and `tools/toolchains.sh wasm web`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/wasm/bench
for net in v1_1.0_224 v2_1.0_224; do
    out=target/wasm/bench/${net}_int8.safetensors
    [[ -f $out ]] || cargo run --quiet --release --bin mobilenetc -- quantize "specs/$net.yaml" \
        --weights "../shared/fixtures/$net/weights.safetensors" --calibrate "../shared/fixtures/$net/input.npy" --out "$out"
done
web/build.sh page
web/build.sh bench
taskset -c 0 node web/tests/bench.mjs target/wasm/bench-simd128.wasm "${1:-50}"

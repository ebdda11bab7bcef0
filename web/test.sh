#!/usr/bin/env bash
# The WebAssembly lane of CI (.ci/run calls it): builds the modules, runs
# the node conformance tests on the SIMD128 and the portable builds, and the
# page in headless Chromium.
#
#   web/test.sh
#
# Needs `tools/toolchains.sh wasm web`.
set -euo pipefail
cd "$(dirname "$0")/.."
expected=target/wasm/expected
mkdir -p "$expected"
# The int8 networks' expected logits: the integer reference interpreter's.
mobilenetc() { cargo run --quiet --release --bin mobilenetc -- "$@"; }
mobilenetc run tests/data/v2_0.35_96_c10/spec.yaml --quantized embedded-example/data/v2_0.35_96_c10_int8.safetensors \
    --input tests/data/v2_0.35_96_c10/input.npy --output "$expected/v2_0.35_96_c10_int8.npy"
mobilenetc run specs/tv_v2_1.0_224.yaml --quantized generated-example/models/mobilenet_v2_imagenet/int8.safetensors \
    --input generated-example/models/mobilenet_v2_imagenet/reference/input.npy --output "$expected/tv_v2_int8.npy"

web/build.sh all
node web/tests/conformance.mjs target/wasm/conformance-simd128.wasm "$expected"
node web/tests/conformance.mjs target/wasm/conformance-portable.wasm "$expected"
node web/tests/page.mjs "$expected"

#!/usr/bin/env bash
# Builds the WebAssembly modules with Debian's rustc (rustup cannot add the
# target here; with rustup, `rustup target add wasm32-unknown-unknown` and
# plain `cargo build --target wasm32-unknown-unknown` work the same way):
# `core` from source, SIMD128 on, the weights compiled in.
#
#   web/build.sh [page | conformance | all | bench]   (default: page)
#
# page:        web/www/mobilenet-f32.wasm and web/www/mobilenet-int8.wasm
#              (torchvision's trained MobileNetV2), what the page loads;
# conformance: target/wasm/conformance-simd128.wasm and
#              target/wasm/conformance-portable.wasm (built without SIMD128:
#              the portable kernels must build for WebAssembly too).
#
# Needs `tools/toolchains.sh wasm` (rustc-web, rust-web-src, lld).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-page}
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
# Size over build time for the modules people download.
export CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort

# build FEATURES SIMD(yes|no) OUT
build() {
    local flags="-C linker=wasm-ld" dir=target/wasm/portable
    if [[ $2 == yes ]]; then
        flags="-C target-feature=+simd128 $flags"
        dir=target/wasm/simd128
    fi
    RUSTFLAGS="$flags" CARGO_TARGET_DIR=$dir cargo build --quiet --release -Zbuild-std=core \
        --target wasm32-unknown-unknown -p mobilenet-web --features "$1"
    cp "$dir/wasm32-unknown-unknown/release/mobilenet_web.wasm" "$3"
    echo "$3: $(stat -c %s "$3") bytes"
}

mkdir -p target/wasm
if [[ $what == page || $what == all ]]; then
    cp generated-example/models/mobilenet_v2_imagenet/categories.txt web/www/categories.txt
    build f32 yes web/www/mobilenet-f32.wasm
    build int8 yes web/www/mobilenet-int8.wasm
fi
if [[ $what == bench ]]; then
    build bench yes target/wasm/bench-simd128.wasm
fi
if [[ $what == conformance || $what == all ]]; then
    build conformance yes target/wasm/conformance-simd128.wasm
    build conformance no target/wasm/conformance-portable.wasm
fi

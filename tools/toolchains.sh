#!/usr/bin/env bash
# Install the toolchains for the cross, wasm, browser and bare-metal work, by
# "lane", from Debian's packages and the npm registry (rustup cannot download
# targets on these machines). Only what is missing is installed: a second run
# installs nothing. Non-interactive; run as root (or with sudo available).
#
#   tools/toolchains.sh [--node-dir DIR] LANE...
#   LANE: arm64 armhf wasm web cortex-m all
#
# What each lane gives, and how to use it (rustup's rustc stays first on PATH;
# Debian's rustc 1.96 is /usr/bin/rustc, with /usr/bin/rustdoc for doctests,
# and is picked with RUSTC= / RUSTDOC=):
#
#   arm64     Debian's std for aarch64-unknown-linux-gnu (it brings the arm64
#             libc6 to /lib/aarch64-linux-gnu), the aarch64 cross gcc (linker)
#             and qemu-user (runner):
#               RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
#               CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
#               CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64 \
#               cargo test --target aarch64-unknown-linux-gnu -p CRATE
#             QEMU_CPU=cortex-a72 (no dotprod) / neoverse-n1 (dotprod) picks the CPU.
#             Do not give the runner `-L /usr/aarch64-linux-gnu`: that loads the
#             cross ld.so (glibc 2.36-8) with the multiarch libc.so.6 (2.36-9),
#             and the first thread spawn (every test harness) spins forever.
#   armhf     The same for armv7-unknown-linux-gnueabihf (Debian armhf: ARMv7,
#             VFPv3, no NEON), the std target without NEON:
#               CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
#               CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER=qemu-arm \
#               (+ RUSTC/RUSTDOC as above) cargo test --target armv7-unknown-linux-gnueabihf
#   wasm      Debian's rustc + its library source (for -Zbuild-std) + wasm-ld:
#               RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
#               RUSTFLAGS="-C target-feature=+simd128 -C linker=wasm-ld" \
#               cargo build --release -Zbuild-std=core --target wasm32-unknown-unknown -p CRATE
#   web       Debian's Chromium (/usr/bin/chromium) and, under --node-dir
#             (default target/node), the npm packages pinned by
#             tools/node/package.json + tools/node/package-lock.json
#             (playwright-core, onnxruntime-web), installed with `npm ci`.
#   cortex-m  Debian's rustc + library source + ld.lld + qemu-system-arm:
#               RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
#               RUSTFLAGS="-C linker=ld.lld -C link-arg=-Tlink.x" \
#               cargo build --release -Zbuild-std=core --target thumbv7em-none-eabihf
#               qemu-system-arm -M mps2-an500 -nographic \
#                 -semihosting-config enable=on,target=native -kernel ELF
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MANIFEST_DIR="$ROOT/tools/node"   # package.json + package-lock.json, committed
NODE_DIR="$ROOT/target/node"      # node_modules go here (ignored by git)

# Pins for the first `npm install` only; afterwards package-lock.json rules.
PLAYWRIGHT_CORE_VERSION=1.65.2
ONNXRUNTIME_WEB_VERSION=1.30.0
# The project's rust-version; Debian's rustc-web must be at least this.
MIN_RUSTC_MINOR=89

usage() {
    [ "${1:-0}" -eq 0 ] || exec >&2
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

lanes=()
while [ $# -gt 0 ]; do
    case "$1" in
        --node-dir) [ $# -ge 2 ] || usage 2; NODE_DIR="$2"; shift 2 ;;
        --node-dir=*) NODE_DIR="${1#--node-dir=}"; shift ;;
        -h|--help) usage 0 ;;
        all) lanes+=(arm64 armhf wasm web cortex-m); shift ;;
        arm64|armhf|wasm|web|cortex-m) lanes+=("$1"); shift ;;
        *) echo "toolchains.sh: unknown lane or option: $1" >&2; usage 2 ;;
    esac
done
[ ${#lanes[@]} -gt 0 ] || usage 2
case "$NODE_DIR" in /*) ;; *) NODE_DIR="$PWD/$NODE_DIR" ;; esac

has_lane() { local l; for l in "${lanes[@]}"; do [ "$l" = "$1" ] && return 0; done; return 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "toolchains.sh: needs root (or sudo)" >&2; exit 1; }
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

say() { printf '[toolchains] %s\n' "$*"; }

# --- Debian packages --------------------------------------------------------

installed() {  # installed PKG[:ARCH]
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

# rustc-web older than the project's rust-version (bookworm's main archive has
# 1.85; bookworm-security has 1.96) counts as missing, so apt upgrades it.
rustc_web_ok() {
    installed rustc-web || return 1
    local v; v="$(dpkg-query -W -f='${Version}' rustc-web)"
    local minor; minor="$(printf '%s' "$v" | sed -E 's/^([0-9]+:)?1\.([0-9]+)\..*/\2/')"
    [ "$minor" -ge "$MIN_RUSTC_MINOR" ] 2>/dev/null
}

apt_updated=0
apt_update() {
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt_updated=1
    fi
}

apt_install() {  # apt_install LANE PKG...
    local lane="$1"; shift
    local missing=() p
    for p in "$@"; do
        if [ "$p" = rustc-web ]; then rustc_web_ok || missing+=("$p")
        elif ! installed "$p"; then missing+=("$p"); fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "$lane: present: $*"
        return
    fi
    apt_update
    say "$lane: installing: ${missing[*]}"
    local t0=$SECONDS
    # No recommends: rustc-web's would pull cargo-web and all of LLVM 22,
    # qemu-system-arm's some 150 GUI/audio libraries; none is needed here.
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "$lane: installed in $((SECONDS - t0)) s"
}

ensure_arch() {  # ensure_arch ARCH
    if [ "$(dpkg --print-architecture)" = "$1" ] \
        || dpkg --print-foreign-architectures | grep -qx "$1"; then
        return
    fi
    say "dpkg --add-architecture $1"
    "${SUDO[@]}" dpkg --add-architecture "$1"
    apt_updated=0  # the new architecture's package lists are needed
}

# --- npm packages -----------------------------------------------------------

npm_lane() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "toolchains.sh: web lane needs node (>= 20) and npm on PATH" >&2
        exit 1
    fi
    local node_major; node_major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$node_major" -lt 20 ]; then
        echo "toolchains.sh: web lane needs node >= 20 (playwright-core), found $(node --version)" >&2
        exit 1
    fi
    mkdir -p "$NODE_DIR"
    if [ -f "$MANIFEST_DIR/package-lock.json" ]; then
        if cmp -s "$MANIFEST_DIR/package.json" "$NODE_DIR/package.json" \
            && cmp -s "$MANIFEST_DIR/package-lock.json" "$NODE_DIR/package-lock.json" \
            && [ -f "$NODE_DIR/node_modules/.package-lock.json" ] \
            && (cd "$NODE_DIR" && npm ls --depth=0 >/dev/null 2>&1); then
            say "web: present: npm packages in $NODE_DIR"
            return
        fi
        say "web: npm ci in $NODE_DIR (from tools/node/package-lock.json)"
        local t0=$SECONDS
        cp "$MANIFEST_DIR/package.json" "$MANIFEST_DIR/package-lock.json" "$NODE_DIR/"
        (cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
            npm ci --no-audit --no-fund --loglevel=error)
        say "web: npm ci took $((SECONDS - t0)) s"
    else
        # First run anywhere: make the manifest and lock, then keep them in
        # tools/node/ (commit them) so every later install is `npm ci`.
        say "web: npm install playwright-core@$PLAYWRIGHT_CORE_VERSION onnxruntime-web@$ONNXRUNTIME_WEB_VERSION in $NODE_DIR"
        local t0=$SECONDS
        [ -f "$NODE_DIR/package.json" ] || cat >"$NODE_DIR/package.json" <<'EOF'
{
  "name": "mobilenet-rs-node-tools",
  "private": true,
  "description": "Node packages for mobilenet-rs's browser and onnxruntime-web checks; installed by tools/toolchains.sh web"
}
EOF
        (cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
            npm install --save-exact --no-audit --no-fund --loglevel=error \
            "playwright-core@$PLAYWRIGHT_CORE_VERSION" "onnxruntime-web@$ONNXRUNTIME_WEB_VERSION")
        mkdir -p "$MANIFEST_DIR"
        cp "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json" "$MANIFEST_DIR/"
        say "web: npm install took $((SECONDS - t0)) s; wrote tools/node/package.json and package-lock.json (commit them)"
    fi
}

# --- lanes ------------------------------------------------------------------

if has_lane arm64; then
    ensure_arch arm64
    apt_install arm64 rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu \
        libc6-dev-arm64-cross qemu-user
fi
if has_lane armhf; then
    ensure_arch armhf
    apt_install armhf rustc-web libstd-rust-web-dev:armhf gcc-arm-linux-gnueabihf \
        libc6-dev-armhf-cross qemu-user
fi
if has_lane wasm; then
    apt_install wasm rustc-web rust-web-src lld
fi
if has_lane cortex-m; then
    apt_install cortex-m rustc-web rust-web-src lld qemu-system-arm
fi
if has_lane web; then
    apt_install web chromium
    npm_lane
fi

# --- versions ---------------------------------------------------------------

first_line() { "$@" 2>/dev/null | head -n 1; }
say "versions:"
if has_lane arm64 || has_lane armhf || has_lane wasm || has_lane cortex-m; then
    echo "  /usr/bin/rustc: $(first_line /usr/bin/rustc --version)"
fi
if has_lane arm64; then
    echo "  std aarch64:    $(ls -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib 2>/dev/null || echo missing)"
    echo "  aarch64 gcc:    $(first_line aarch64-linux-gnu-gcc --version)"
    echo "  qemu-aarch64:   $(first_line qemu-aarch64 --version)"
fi
if has_lane armhf; then
    echo "  std armv7:      $(ls -d /usr/lib/rustlib/armv7-unknown-linux-gnueabihf/lib 2>/dev/null || echo missing)"
    echo "  armhf gcc:      $(first_line arm-linux-gnueabihf-gcc --version)"
    echo "  qemu-arm:       $(first_line qemu-arm --version)"
fi
if has_lane wasm || has_lane cortex-m; then
    echo "  rust-src:       $(ls -d /usr/lib/rustlib/src/rust/library 2>/dev/null || echo missing)"
fi
if has_lane wasm; then
    echo "  wasm-ld:        $(first_line wasm-ld --version)"
fi
if has_lane cortex-m; then
    echo "  ld.lld:         $(first_line ld.lld --version)"
    echo "  qemu-system-arm: $(first_line qemu-system-arm --version)"
fi
if has_lane web; then
    echo "  chromium:       $(first_line chromium --version)"
    echo "  node:           $(node --version)"
    (cd "$NODE_DIR" && npm ls --depth=0 2>/dev/null | tail -n +2 | sed '/^\s*$/d; s/^/  /')
fi

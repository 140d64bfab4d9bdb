#!/usr/bin/env bash
# Builds the glassbox wasm package into www/pkg/ (wasm-bindgen --target web), optimised with wasm-opt,
# and prints its raw and gzip sizes. `scripts/build-wasm.sh clippy` instead runs clippy (-D warnings) on
# exactly that build (the wasm32 target, the web features, the patched wgpu).
#
# The wasm32 standard library comes from, in this order:
#   1. rustup's wasm32-unknown-unknown target (the normal case, e.g. in the Pages workflow);
#   2. the std *sources* of the active toolchain (rustup's rust-src component, or Debian's rust-src of the
#      same version linked in by scripts/install-web-deps.sh), rebuilt with -Zbuild-std. This is how
#      machines without rustup downloads build the site.
# WebGPU in web-sys is behind --cfg=web_sys_unstable_apis (wgpu 0.16 needs it); see scripts/README.md for
# why wgpu 0.16 (via wonnx 0.5.1) pins web-sys to 0.3.72.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE="${GLASSBOX_WASM_PROFILE:-release}"
MODE="${1:-build}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# simd128: tract-linalg's wasm matrix kernels exist only with it (without, tract runs its scalar fallback);
# every current browser has WebAssembly SIMD (Chrome 91, Firefox 89, Safari 16.4 and later).
export RUSTFLAGS="${RUSTFLAGS:-} --cfg=web_sys_unstable_apis -C target-feature=+simd128"
TARGET=wasm32-unknown-unknown
OUT="$ROOT/www/pkg"

build_std=()
if rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    echo "build-wasm: using the installed rustup target $TARGET"
else
    sysroot="$(rustc --print sysroot)"
    if [ -f "$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml" ]; then
        echo "build-wasm: no $TARGET std installed; rebuilding std from $sysroot/lib/rustlib/src/rust ($(rustc --version))"
        export RUSTC_BOOTSTRAP=1
        build_std=(-Zbuild-std=std,panic_abort)
    else
        echo "build-wasm: no $TARGET standard library and no std sources for $(rustc --version)." >&2
        echo "  Run scripts/install-web-deps.sh (rustup target add $TARGET, or Debian's rust-src of this version)." >&2
        exit 1
    fi
fi

cd "$ROOT"

# wonnx 0.5.1 needs wgpu 0.16, whose WebGPU backend predates the web-sys it now resolves to (0.3.72, the
# last web-sys with the feature names wgpu 0.16 asks for). scripts/wgpu-0.16.3-web-sys-0.3.72.patch adapts
# it (see scripts/README.md). The patched copy lives in the target folder and is used through a
# `[patch]` given on the command line, so native builds and the committed Cargo.lock are untouched.
WGPU=wgpu-0.16.3
PATCH="$ROOT/scripts/$WGPU-web-sys-0.3.72.patch"
cargo fetch --target "$TARGET" >/dev/null
registry_copy="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$WGPU" 2>/dev/null | head -1)"
[ -n "$registry_copy" ] || { echo "build-wasm: $WGPU is not in the cargo registry cache" >&2; exit 1; }
patched="$CARGO_TARGET_DIR/glassbox-patched/$WGPU"
stamp="$(sha256sum "$PATCH" | cut -d' ' -f1)"
if [ "$(cat "$patched/.glassbox-patch" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$patched"
    mkdir -p "$(dirname "$patched")"
    cp -r "$registry_copy" "$patched"
    patch -s -p1 -d "$patched" < "$PATCH"
    echo "$stamp" > "$patched/.glassbox-patch"
fi
cp Cargo.lock "$CARGO_TARGET_DIR/Cargo.lock.before-wasm"
trap 'cp "$CARGO_TARGET_DIR/Cargo.lock.before-wasm" "$ROOT/Cargo.lock"' EXIT
# With -Zbuild-std cargo also resolves the standard library's own workspace with this [patch] and warns
# that it "was not used in the crate graph" there; the glassbox graph does use it.
web_build=(--target "$TARGET" "${build_std[@]}" -p glassbox --no-default-features --features webgpu
    --config "patch.crates-io.wgpu.path='$patched'")
if [ "$MODE" = clippy ]; then
    cargo clippy "${web_build[@]}" -- -D warnings
    exit
fi
cargo build --profile "$PROFILE" "${web_build[@]}"
wasm="$CARGO_TARGET_DIR/$TARGET/$PROFILE/glassbox.wasm"

lock_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
cli_version="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
if [ "$cli_version" != "$lock_version" ]; then
    echo "build-wasm: wasm-bindgen CLI is '${cli_version:-missing}' but Cargo.lock has $lock_version;" >&2
    echo "  run: cargo install wasm-bindgen-cli --version =$lock_version" >&2
    exit 1
fi
rm -rf "$OUT"
# The published build drops the function-name section (2.4 of its 21.7 MB, 0.6 MB gzip; only panic stack traces
# read it); the test build keeps it, so a failing browser test names the function.
strip_names=()
[ "$PROFILE" = release ] && strip_names=(--remove-name-section --remove-producers-section)
wasm-bindgen --target web --no-typescript "${strip_names[@]}" --out-dir "$OUT" --out-name glassbox "$wasm"

# wasm-opt only when asked for (GLASSBOX_WASM_OPT=1), from npm's binaryen (scripts/wasm-tools, installed here on
# demand; Debian bookworm's binaryen 108 emits a module Chromium rejects). Measured on the release module
# (tests/e2e/speed.test.mjs, batch-8 MobileNet v2 in Chromium): -O1 takes 21.7 MB to 17.7 MB (4.9 MB gzip) and
# -O3 to 17.2 MB (5.1 MB gzip), both valid, but the page's forward pass gets slower (230-259 ms unoptimised,
# 304-331 ms after -O1, 330-354 ms after -O3), so the published build only drops the name section (above).
if [ "${GLASSBOX_WASM_OPT:-0}" = 1 ]; then
    tools="$ROOT/scripts/wasm-tools"
    [ -x "$tools/node_modules/.bin/wasm-opt" ] || (cd "$tools" && npm ci --no-audit --no-fund)
    level="${GLASSBOX_WASM_OPT_LEVEL:--O1}"
    before=$(stat -c %s "$OUT/glassbox_bg.wasm")
    started=$SECONDS
    # The features rustc's wasm32 target emits (its defaults, and simd128 above), so binaryen accepts them.
    "$tools/node_modules/.bin/wasm-opt" "$level" --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-reference-types --enable-multivalue --enable-mutable-globals --enable-simd \
        "$OUT/glassbox_bg.wasm" -o "$OUT/glassbox_bg.wasm.opt"
    mv "$OUT/glassbox_bg.wasm.opt" "$OUT/glassbox_bg.wasm"
    echo "build-wasm: wasm-opt $level: $before -> $(stat -c %s "$OUT/glassbox_bg.wasm") bytes in $((SECONDS - started)) s"
fi
raw=$(stat -c %s "$OUT/glassbox_bg.wasm")
gz=$(gzip -9 -c "$OUT/glassbox_bg.wasm" | wc -c)
echo "build-wasm: www/pkg/glassbox_bg.wasm: $raw bytes raw, $gz bytes gzip"
printf '{"raw_bytes": %d, "gzip_bytes": %d}\n' "$raw" "$gz" > "$OUT/size.json"

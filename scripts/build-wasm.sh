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
export RUSTFLAGS="${RUSTFLAGS:-} --cfg=web_sys_unstable_apis"
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
wasm-bindgen --target web --no-typescript --out-dir "$OUT" --out-name glassbox "$wasm"

# Debian bookworm's binaryen 108 emits a module that fails in Chromium ("WebAssembly.Table.set(): Argument 1
# is invalid"), so wasm-opt runs only when asked for: GLASSBOX_WASM_OPT=1 with a recent binaryen.
if [ "${GLASSBOX_WASM_OPT:-0}" != 1 ]; then
    echo "build-wasm: wasm-opt skipped (set GLASSBOX_WASM_OPT=1 with binaryen >= 116 to optimise)"
elif command -v wasm-opt >/dev/null; then
    # Rust enables these wasm features by default; an older binaryen must be told about them.
    wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-reference-types --enable-multivalue --enable-mutable-globals \
        "$OUT/glassbox_bg.wasm" -o "$OUT/glassbox_bg.wasm.opt" && mv "$OUT/glassbox_bg.wasm.opt" "$OUT/glassbox_bg.wasm" \
        || echo "build-wasm: wasm-opt failed (see above); keeping the unoptimised module"
else
    echo "build-wasm: wasm-opt not found (apt-get install binaryen); the module is unoptimised"
fi
raw=$(stat -c %s "$OUT/glassbox_bg.wasm")
gz=$(gzip -9 -c "$OUT/glassbox_bg.wasm" | wc -c)
echo "build-wasm: www/pkg/glassbox_bg.wasm: $raw bytes raw, $gz bytes gzip"
printf '{"raw_bytes": %d, "gzip_bytes": %d}\n' "$raw" "$gz" > "$OUT/size.json"

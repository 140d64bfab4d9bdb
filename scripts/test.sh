#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find:
#   formatting and lints, the fuzz targets (bounded), the Rust unit and integration tests (real MobileNets from shared/data, both
#   engines: tract, and wonnx on lavapipe), the YAML lint of the Pages workflow, then the wasm build and the
#   browser end-to-end tests in headless Debian Chromium (WebGPU on SwiftShader, and the CPU fallback), then the
#   one-command real run proved offline on a test mirror (scripts/test-reproduce.sh).
# Expects shared/ next to the repository (or GLASSBOX_SHARED) and the tools .ci/run installs
# (scripts/install-web-deps.sh for the browser part). GLASSBOX_E2E=0 skips the browser part,
# GLASSBOX_REPRODUCE=0 the reproduce part (it installs the export environment: torch, ~6 GB, ~6 min once; the
# tests keep PyPI's torch, whose random exports the fixtures were checked on; GLASSBOX_TORCH=cpu for the CPU wheels).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Mesa's Vulkan driver (lavapipe, the wonnx tests' adapter) prints an error at every adapter probe without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo clippy -D warnings, the wasm32 web build"
scripts/build-wasm.sh clippy
echo "== cargo clippy -D warnings --no-default-features (the library alone: no CLI, no WebGPU)"
cargo clippy -p glassbox --no-default-features -- -D warnings
echo "== cargo doc, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
if [ "${GLASSBOX_REPRODUCE:-1}" = 1 ] && [ -z "${GLASSBOX_RANDOM_MODELS:-}" ]; then
    # The CAM parity tests on the ResNet-18/50 topologies read the seeded random exports their fixtures were
    # made from (export.py's seeded init and float64 BatchNorm fold give the same bits on every CPU; the tests
    # check the sha256).
    # The export venv also carries the onnxruntime wheel, whose library the onnxruntime engine's tests load
    # (engine::onnxruntime finds it there; under CI=true they fail without it).
    echo "== random-weight ResNet-18 and ResNet-50 for the CAM parity tests (models/export.py --random-weights --seed 0)"
    PY="$(scripts/reproduce.sh --print-python --torch "${GLASSBOX_TORCH:-pypi}")"
    RANDOM_MODELS="${CARGO_TARGET_DIR:-$ROOT/target}/random-models"
    if [ ! -f "$RANDOM_MODELS/resnet18_imagenet1k_v1_b1.onnx" ] || [ ! -f "$RANDOM_MODELS/resnet50_imagenet1k_v2_b1.onnx" ]; then
        "$PY" -W ignore models/export.py --random-weights --seed 0 \
            --models resnet18_imagenet1k_v1 resnet50_imagenet1k_v2 --batch 1 --out "$RANDOM_MODELS"
    fi
    export GLASSBOX_RANDOM_MODELS="$RANDOM_MODELS"
fi
echo "== fuzz targets (crate/tests/fuzz: ${GLASSBOX_FUZZ_SECONDS:-3} s each, seeded) and the replay of tests/fixtures/fuzz-found"
cargo test -p glassbox --test fuzz
echo "== cargo test"
# The fuzz binary ran above: here it only replays the kept inputs.
GLASSBOX_FUZZ_SECONDS=0 cargo test --workspace
echo "== yamllint"
yamllint -d relaxed .github/workflows/pages.yml
if [ "${GLASSBOX_E2E:-1}" = 1 ]; then
    echo "== wasm build + browser e2e"
    # The browser tests check numbers, not speed: a quicker-to-compile wasm profile (see Cargo.toml).
    GLASSBOX_WASM_PROFILE="${GLASSBOX_WASM_PROFILE:-wasm-test}" scripts/site.sh test
else
    echo "== wasm build + browser e2e: skipped (GLASSBOX_E2E=0)"
fi
if [ "${GLASSBOX_REPRODUCE:-1}" = 1 ]; then
    echo "== reproduce on a test mirror (scripts/test-reproduce.sh)"
    GLASSBOX_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/glassbox" scripts/test-reproduce.sh
else
    echo "== reproduce on a test mirror: skipped (GLASSBOX_REPRODUCE=0)"
fi

#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find:
#   formatting and lints, the Rust unit and integration tests (real MobileNets from shared/data, both
#   engines: tract, and wonnx on lavapipe), the YAML lint of the Pages workflow, then the wasm build
#   and the browser end-to-end tests in headless Debian Chromium (WebGPU and the CPU fallback).
# Expects shared/ next to the repository (or GLASSBOX_SHARED) and the tools .ci/run installs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace -- --test-threads 1
echo "== yamllint"
yamllint -d relaxed .github/workflows/pages.yml
echo "== wasm build + browser e2e"
scripts/site.sh test

#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find:
#   formatting, the Rust unit and integration tests (real MobileNets from shared/data, both
#   engines: tract, and wonnx on lavapipe), the YAML lint of the Pages workflow, then the wasm build
#   and, with GLASSBOX_E2E=1, the browser end-to-end tests in headless Debian Chromium (WebGPU and the CPU fallback).
# Expects shared/ next to the repository (or GLASSBOX_SHARED) and the tools .ci/run installs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo test"
cargo test --workspace
echo "== yamllint"
yamllint -d relaxed .github/workflows/pages.yml
if [ "${GLASSBOX_E2E:-0}" = 1 ]; then
    echo "== wasm build + browser e2e"
    scripts/site.sh test
else
    # The wasm build and the browser suite are not yet verified end to end (see the open site issue);
    # run them with GLASSBOX_E2E=1 after scripts/install-web-deps.sh.
    echo "== wasm build + browser e2e: skipped (GLASSBOX_E2E=1 runs them)"
fi

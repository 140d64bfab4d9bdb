#!/usr/bin/env bash
# One-shot GPU measurement, for a machine with a real GPU and its Vulkan driver:
#   1. natively: the ResNet-50 forward pass at batch 1 and 8 on the webgpu engine (wonnx over wgpu's Vulkan
#      backend) beside tract and onnxruntime on the CPU, and MobileNet v2 at batch 1 and 8, all in one
#      `glassbox bench` run (interleaved rounds, per image);
#   2. in the page: headless Chromium with WebGPU on Vulkan (tests/e2e/gpu-page-bench.mjs) loads ResNet-50 at batch
#      1 and 8 on the WebGPU and CPU engines, times their passes, and runs a full 1000-sample LIME on WebGPU, so
#      the page's batch and buffer reuse can be chosen from one run (a software adapter is refused).
#
#   scripts/gpu-bench.sh [OUT_DIR]        (default out/gpu-bench; writes bench.md, bench.json, page.md, page.json)
#
# The ResNet-50 graphs are the seeded random-weight exports (models/export.py --random-weights --seed 0):
# weights do not change the speed, and they need no download. Its export venv (scripts/reproduce.sh
# --print-python --torch pypi: PyPI's torch, ~6 GB) also carries the onnxruntime library the onnxruntime engine
# loads. Already exported graphs in $GLASSBOX_RANDOM_MODELS (b1) and $GLASSBOX_RANDOM_MODELS_B8 are used as they are.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p "${1:-out/gpu-bench}"
OUT="$(cd "${1:-out/gpu-bench}" && pwd)"
B1="${GLASSBOX_RANDOM_MODELS:-$ROOT/target/random-models}"
B8="${GLASSBOX_RANDOM_MODELS_B8:-$ROOT/target/random-models-b8}"

command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverName" || true
PY="$(scripts/reproduce.sh --print-python --torch pypi)"
for batch_dir in "1 $B1" "8 $B8"; do
    set -- $batch_dir
    if [ ! -f "$2/resnet50_imagenet1k_v2_b$1.json" ]; then
        "$PY" -W ignore models/export.py --random-weights --seed 0 --models resnet50_imagenet1k_v2 --batch "$1" --out "$2"
    fi
done
cargo build --release --bin glassbox
# The yardstick: onnxruntime's own Python API on the same graphs and threads.
target/release/glassbox bench --engines cpu,onnxruntime,webgpu --ort-python "$PY" --methods "" --rounds 3 --passes 5 \
    --models "$B1/resnet50_imagenet1k_v2_b1.json" "$B8/resnet50_imagenet1k_v2_b8.json" \
    models/mobilenet_v2_1.0_224.json models/mobilenet_v2_1.0_224_b8.json \
    --json "$OUT/bench.json" | tee "$OUT/bench.md"
# The page: the wasm package (release profile, as published) and Chromium driven by playwright-core.
scripts/install-web-deps.sh
scripts/build-wasm.sh
(cd tests/e2e && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; } &&
  node gpu-page-bench.mjs --lime-samples "${GLASSBOX_GPU_BENCH_LIME:-1000}" --out "$OUT/page.json" \
    "$B1/resnet50_imagenet1k_v2_b1.json" "$B8/resnet50_imagenet1k_v2_b8.json") | tee "$OUT/page.md"
echo "gpu-bench: wrote $OUT/bench.md, bench.json, page.md and page.json (random-weight ResNet-50: speed only)"

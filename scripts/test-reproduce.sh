#!/usr/bin/env bash
# The one-command real run, proved offline: a TEST MIRROR of every download (seeded random weights in the
# official formats, data from shared/), then `scripts/reproduce.sh --quick --mirror … --test-mirror` end to end,
# then the tests of its pieces and of what it made:
#   tests/reproduce/test_fetch.py             pins, mirror, cache and error messages (standard library)
#   tests/reproduce/test_official_formats.py  the loaders of the official weight files (export environment)
#   tests/reproduce/test_probe_order.py       the probe order equals torchvision ImageFolder's (export environment)
#   tests/e2e/reproduced.test.mjs             the outputs, TEST MIRROR everywhere, the site in Chromium
# Uses the CLI and wasm package already built when given (GLASSBOX_BIN, www/pkg), else builds them.
# Output: $GLASSBOX_REPRODUCE_OUT (default target/reproduce-test); nothing of it may be committed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${GLASSBOX_REPRODUCE_OUT:-$ROOT/target/reproduce-test}"
MIRROR="$OUT.mirror"

echo "== reproduce: fetch tests"
python3 -m unittest discover -s tests/reproduce -p 'test_fetch.py'

echo "== reproduce: the export environment"
PY="$(scripts/reproduce.sh --print-python)"
echo "python: $PY"

echo "== reproduce: the official formats' loaders"
"$PY" -W ignore::FutureWarning -m unittest discover -s tests/reproduce -p 'test_official_formats.py'

echo "== reproduce: a test mirror"
[ -f "$MIRROR/MIRROR.md" ] || "$PY" -W ignore::FutureWarning models/make_test_mirror.py --out "$MIRROR"

extra=()
if [ -n "${GLASSBOX_BIN:-}" ]; then extra+=(--glassbox "$GLASSBOX_BIN"); fi
if [ -f www/pkg/glassbox_bg.wasm ]; then extra+=(--wasm-pkg www/pkg); fi
echo "== reproduce: scripts/reproduce.sh --quick --test-mirror"
scripts/reproduce.sh --out "$OUT" --quick --mirror "$MIRROR" --test-mirror --python "$PY" "${extra[@]}"

echo "== reproduce: the probe order is torchvision ImageFolder's"
GLASSBOX_BIN="${GLASSBOX_BIN:-$ROOT/target/release/glassbox}" GLASSBOX_REPRODUCE_OUT="$OUT" \
    "$PY" -W ignore::FutureWarning -m unittest discover -s tests/reproduce -p 'test_probe_order.py'

echo "== reproduce: its outputs and the site in Chromium"
cd tests/e2e
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
GLASSBOX_REPRODUCE_OUT="$OUT" node --test --test-concurrency=1 reproduced.test.mjs

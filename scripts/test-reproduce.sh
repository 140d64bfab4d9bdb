#!/usr/bin/env bash
# The one-command real run, proved offline: a TEST MIRROR of every download (seeded random weights in the
# official formats, data and images in GitHub-style archives, from shared/), served by a local faulty server
# (tests/reproduce/faulty_server.py: every file answers 429 first, the CLIP file drops mid-way), then
# `scripts/reproduce.sh --quick --mirror URL --test-mirror` end to end, the fetch stage again from the mirror
# folder (--mirror DIR, same hashes), then the tests of its pieces and of what it made:
#   tests/reproduce/test_fetch.py             pins, mirror, cache, archives, retries, resumes, fallbacks and
#                                             error messages, against a local faulty server (standard library)
#   tests/reproduce/test_fetch_fuzz.py        the fetcher fuzzed: seeded broken answers from a raw-socket server,
#                                             damaged archives, mutated pins.json (standard library, ~20 s)
#   tests/reproduce/test_official_formats.py  the loaders of the official weight files (export environment)
#   tests/reproduce/test_probe_order.py       the probe order equals torchvision ImageFolder's (export environment)
#   tests/e2e/reproduced.test.mjs             the outputs, TEST MIRROR everywhere, the site in Chromium
# Uses the CLI and wasm package already built when given (GLASSBOX_BIN, www/pkg), else builds them.
# The export environment takes PyPI's torch like the other tests (GLASSBOX_TORCH=cpu: PyTorch's CPU wheels, the
# real run's default on Linux x86_64).
# Output: $GLASSBOX_REPRODUCE_OUT (default target/reproduce-test); nothing of it may be committed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${GLASSBOX_REPRODUCE_OUT:-$ROOT/target/reproduce-test}"
MIRROR="$OUT.mirror"

echo "== reproduce: fetch tests and the fetch stage's fuzzing"
python3 -m unittest discover -s tests/reproduce -p 'test_fetch*.py'

echo "== reproduce: the export environment"
PY="$(scripts/reproduce.sh --print-python --torch "${GLASSBOX_TORCH:-pypi}")"
echo "python: $PY"

echo "== reproduce: the official formats' loaders"
"$PY" -W ignore::FutureWarning -m unittest discover -s tests/reproduce -p 'test_official_formats.py'

echo "== reproduce: a test mirror"
# Made again when its maker or the pins changed (a mirror of an older layout would not serve this run).
if ! { [ "$MIRROR/MIRROR.md" -nt models/make_test_mirror.py ] && [ "$MIRROR/MIRROR.md" -nt models/pins.json ]; }; then
  rm -rf "$MIRROR"
  "$PY" -W ignore::FutureWarning models/make_test_mirror.py --out "$MIRROR"
fi

echo "== reproduce: the mirror behind a faulty server on 127.0.0.1"
python3 tests/reproduce/faulty_server.py --root "$MIRROR" --rate-limit-first --retry-after 1 \
  --drop ViT-B-16.pt=50000000 --lifetime 3000 > "$OUT.server" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$OUT.server" ] && break; sleep 0.2; done
URL="$(head -1 "$OUT.server")"
echo "mirror: $URL"

extra=()
if [ -n "${GLASSBOX_BIN:-}" ]; then extra+=(--glassbox "$GLASSBOX_BIN"); fi
if [ -f www/pkg/glassbox_bg.wasm ]; then extra+=(--wasm-pkg www/pkg); fi
echo "== reproduce: scripts/reproduce.sh --quick --mirror URL --test-mirror"
scripts/reproduce.sh --out "$OUT" --quick --mirror "$URL" --test-mirror --python "$PY" "${extra[@]}" 2>&1 \
  | tee "$OUT.log"
# The faults were met and survived: a 429 with Retry-After per file, the dropped CLIP file resumed with Range.
grep -q "HTTP 429 Too Many Requests (Retry-After 1 s); try 2 of 8" "$OUT.log"
grep -q "ViT-B-16.pt: connection dropped after 50,000,000 of" "$OUT.log"
grep -q "resuming at byte 50,000,000" "$OUT.log"

echo "== reproduce: the fetch stage from the mirror folder (--mirror DIR) gives the same files"
rm -rf "$OUT.folder"
scripts/reproduce.sh --out "$OUT.folder" --quick --mirror "$MIRROR" --test-mirror --python "$PY" --until fetch
python3 - "$OUT/inputs.json" "$OUT.folder/inputs.json" <<'PY'
import json, sys
sys.path.insert(0, "scripts")
from fetch import PINS
url, folder = ({name: r["sha256"] for name, r in json.load(open(path)).items()} for path in sys.argv[1:])
# The quick run with the default probe (Broden): every weight file, every data file, the seed images, Broden.
expected = len(PINS["weights"]) + len(PINS["data"]) + len(PINS["images"]["seed"]) + len(PINS["datasets"])
assert len(url) == expected and url == folder, (expected, len(url), len(folder), set(url.items()) ^ set(folder.items()))
print(f"the same {len(url)} files, by sha256, from --mirror URL and --mirror DIR")
PY

echo "== reproduce: the probe order is torchvision ImageFolder's"
GLASSBOX_BIN="${GLASSBOX_BIN:-$ROOT/target/release/glassbox}" GLASSBOX_REPRODUCE_OUT="$OUT" \
    "$PY" -W ignore::FutureWarning -m unittest discover -s tests/reproduce -p 'test_probe_order.py'

echo "== reproduce: its outputs and the site in Chromium"
cd tests/e2e
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
GLASSBOX_REPRODUCE_OUT="$OUT" node --test --test-concurrency=1 reproduced.test.mjs

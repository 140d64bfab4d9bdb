#!/usr/bin/env bash
# The site in one command.
#   scripts/site.sh build   builds the wasm package into www/pkg/ (scripts/build-wasm.sh)
#   scripts/site.sh serve   builds, then serves www/ with /models/ and /shared/ (the shared data folder
#                           next to the repository, or $GLASSBOX_SHARED) at http://127.0.0.1:$PORT/ (8000)
#   scripts/site.sh test    builds, then runs the browser e2e tests (tests/e2e, headless Debian Chromium)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-serve}"
case "$cmd" in
    build) "$ROOT/scripts/build-wasm.sh" ;;
    serve)
        "$ROOT/scripts/build-wasm.sh"
        exec node "$ROOT/tests/e2e/server.mjs"
        ;;
    test)
        [ "${SKIP_WASM_BUILD:-0}" = 1 ] || "$ROOT/scripts/build-wasm.sh"
        cd "$ROOT/tests/e2e"
        [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
        exec node --test --test-concurrency=1 engines.test.mjs jpeg.test.mjs visitor.test.mjs pages.test.mjs inputs.test.mjs csp.test.mjs speed.test.mjs
        ;;
    *) echo "usage: scripts/site.sh build|serve|test" >&2; exit 2 ;;
esac

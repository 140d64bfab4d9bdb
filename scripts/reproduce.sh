#!/usr/bin/env bash
# The mission's real results in one command: official weights -> ONNX -> explanations, dissection tables,
# report and the site (OUT/site). Everything is in scripts/reproduce.py; `--help` lists the options.
#   scripts/reproduce.sh [--out DIR] [--quick] [--mirror DIR [--test-mirror]] [--probe DIR] [--python PY]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v python3 >/dev/null || { echo "reproduce: python3 is needed (apt-get install python3 python3-venv)" >&2; exit 1; }
exec python3 "$ROOT/scripts/reproduce.py" "$@"

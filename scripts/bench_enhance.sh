#!/usr/bin/env bash
# `clarity bench enhance` with its ONNX Runtime baseline: installs onnx, onnxruntime, safetensors
# and numpy from PyPI into target/bench-venv (not a project dependency), then runs the bench.
# Extra arguments go to `clarity bench enhance` (e.g. --sizes 256 --repeats 10).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import onnx, onnxruntime, safetensors, numpy" 2>/dev/null; then
  "$venv/bin/pip" install -q onnx onnxruntime safetensors numpy
fi
cargo run --release -q -- bench enhance --python "$venv/bin/python" "$@"

#!/usr/bin/env bash
# Optional (not run by CI): PyTorch's CPU dropout-family ops next to dropkit's, on the same
# sizes and thread counts, in one run. Installs PyTorch from PyPI into .venv-peers (about
# 3 GB with its CUDA libraries, which PyPI's torch wheel needs even on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-peers/bin/python ]; then
    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -q --upgrade pip
    .venv-peers/bin/pip install -q "torch>=2.5" numpy
fi
cargo build -q --release -p dropkit --benches
json=$(cargo bench -q -p dropkit --bench throughput -- --json 2>/dev/null)
printf '%s\n' "$json" | .venv-peers/bin/python scripts/bench_peers.py

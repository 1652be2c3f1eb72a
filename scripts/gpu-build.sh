#!/usr/bin/env bash
# Builds, here, the binaries scripts/gpu-check.sh runs on the GPU machine (which has no
# cargo), and puts them in .gpu/ (ignored by git; a device call carries it):
#   .gpu/cuda-tests  tests/cuda.rs          .gpu/lib-tests  the library's unit tests
#   .gpu/gpu_bench   examples/gpu_bench.rs  .gpu/build-info.txt
#   .gpu/dropkit-*.whl  the Python package (abi3), for its GPU tests
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
mkdir -p .gpu
rm -f .gpu/cuda-tests .gpu/lib-tests .gpu/gpu_bench .gpu/dropkit-*.whl

"$CARGO" build --release -p dropkit --features cuda --example gpu_bench
cp target/release/examples/gpu_bench .gpu/gpu_bench

# The test executables cargo names in its JSON messages.
"$CARGO" test --release -p dropkit --features cuda --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, shutil, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe, target = m.get("executable"), m.get("target", {})
    if not exe or not m.get("profile", {}).get("test"):
        continue
    if target.get("kind") == ["test"] and target.get("name") == "cuda":
        shutil.copy(exe, ".gpu/cuda-tests")
    elif "lib" in target.get("kind", []):
        shutil.copy(exe, ".gpu/lib-tests")
'
make --no-print-directory python-install >/dev/null
cp target/wheels/dropkit-*.whl .gpu/

for f in cuda-tests lib-tests gpu_bench; do
    [ -x ".gpu/$f" ] || { echo "gpu-build: .gpu/$f was not built"; exit 1; }
    strip --strip-debug ".gpu/$f" 2>/dev/null || true
done
{
    echo "built $(date -u +%Y-%m-%dT%H:%MZ) from $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
    rustc --version
} > .gpu/build-info.txt
ls -l .gpu
du -sh .gpu

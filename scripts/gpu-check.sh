#!/usr/bin/env bash
# The GPU check: run on the lent GPU machine from the repository root, with the binaries that
# `make gpu-build` put in .gpu/ here (that machine has no cargo): carry `.gpu`.
#
# 1. the CUDA tests with the shipped PTX (f32, f64, and the f16/bf16 kernels against the CPU
#    half path: tests/cuda.rs's half_precision_* tests), including the 2^32 + 37 element test;
# 2. gpu_bench, then scripts/gpu_peers.py (PyTorch), which prints the table (also in table.md);
# 3. the Python package's tests (tests/test_device_gpu.py: PyTorch CUDA tensors) with the
#    wheel from .gpu, then scripts/bench_torch.py on CUDA: every dropkit.torch module against
#    its PyTorch counterpart (float32, bfloat16) and a transformer block's peak memory;
# 4. the same tests with the kernels compiled by NVRTC and one block per SM (many grid-stride
#    passes), if NVRTC is found;
# 5. the library's unit tests (device detection, NVRTC, the host emulation);
# 6. the tests at small sizes under compute-sanitizer memcheck, if it is installed.
# The table comes before the slower checks so that a run cut short still brings it back.
#
# Logs and tables go to $OUT (default .gpu/out; 8 files, the device tool's limit). Exit status: 0 when every step passed.
# Set GPU_CHECK_SKIP_SANITIZER=1 or GPU_CHECK_SKIP_BIG=1 to save time.
set -uo pipefail
export PATH="$PATH:/usr/local/cuda/bin"
cd "$(dirname "$0")/.."
OUT="${OUT:-.gpu/out}"
BIN=.gpu
mkdir -p "$OUT"
work=$(mktemp -d)
status=0
step() { echo; echo "== $* =="; }
fail() { echo "FAILED: $*"; status=1; }

for f in cuda-tests lib-tests gpu_bench; do
    [ -x "$BIN/$f" ] || { echo "missing $BIN/$f: run 'make gpu-build' and carry .gpu"; exit 2; }
done

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/device.txt"
cat "$BIN/build-info.txt" 2>/dev/null | tee -a "$OUT/device.txt"

# NVRTC is only a fallback; find one for step 2 (the toolkit's, or a pip wheel's).
nvrtc_dirs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import os, nvidia.cuda_nvrtc as m; print(os.path.join(os.path.dirname(m.__file__), "lib"))' 2>/dev/null); do
    ls "$d"/libnvrtc.so* >/dev/null 2>&1 && nvrtc_dirs="$nvrtc_dirs:$d"
done

step "CUDA tests, shipped PTX"
big=1
[ "${GPU_CHECK_SKIP_BIG:-0}" = 1 ] && big=0
DROPKIT_REQUIRE_GPU=1 DROPKIT_GPU_BIG=$big DROPKIT_CUDA_KERNELS=ptx timeout 240 \
    "$BIN/cuda-tests" 2>&1 | tee "$OUT/tests-ptx.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "CUDA tests (PTX)"

step "benchmark: dropkit"
timeout 120 "$BIN/gpu_bench" --tsv "$work/dropkit.tsv" 2>&1 | tee "$OUT/bench.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "gpu_bench"

step "benchmark: PyTorch, and the table"
if [ -f "$work/dropkit.tsv" ]; then
    timeout 150 python3 scripts/gpu_peers.py --dropkit "$work/dropkit.tsv" \
        --markdown "$OUT/table.md" 2>&1 | tee "$OUT/peers.log"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "gpu_peers.py"
else
    timeout 150 python3 scripts/gpu_peers.py 2>&1 | tee "$OUT/peers.log"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "gpu_peers.py"
fi

step "Python: the package's tests, with PyTorch CUDA tensors"
wheel=$(ls "$BIN"/dropkit-*.whl 2>/dev/null | head -1)
if [ -n "$wheel" ]; then
    site=$(mktemp -d)
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheel" \
        && PYTHONPATH="$site" timeout 300 python3 -m pytest -q -rs -p no:cacheprovider \
            crates/dropkit-py/tests 2>&1 | tail -25 | tee "$OUT/python.log"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "Python tests"
else
    echo "skipped: no .gpu/dropkit-*.whl (make gpu-build builds it)"
fi

step "PyTorch: dropkit.torch against torch.nn on CUDA (forward+backward, transformer peak memory)"
if [ -n "$wheel" ]; then
    PYTHONPATH="$site" timeout 180 python3 scripts/bench_torch.py --device cuda --repeats 5 \
        --transformer --markdown 2>&1 | tee -a "$OUT/python.log"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "bench_torch.py --device cuda"
else
    echo "skipped: no .gpu/dropkit-*.whl (make gpu-build builds it)"
fi

step "CUDA tests, NVRTC, 1 block per SM"
if [ -n "$nvrtc_dirs" ]; then
    LD_LIBRARY_PATH="${nvrtc_dirs#:}:${LD_LIBRARY_PATH:-}" DROPKIT_REQUIRE_GPU=1 \
        DROPKIT_CUDA_KERNELS=nvrtc DROPKIT_CUDA_BLOCKS_PER_SM=1 timeout 90 \
        "$BIN/cuda-tests" --skip huge 2>&1 | tee "$OUT/tests-nvrtc.log"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "CUDA tests (NVRTC)"
else
    echo "skipped: no libnvrtc.so found"
fi

step "CUDA tests under compute-sanitizer memcheck (small sizes)"
if command -v compute-sanitizer >/dev/null && [ "${GPU_CHECK_SKIP_SANITIZER:-0}" != 1 ]; then
    DROPKIT_REQUIRE_GPU=1 DROPKIT_GPU_QUICK=1 timeout 120 compute-sanitizer --tool memcheck \
        --error-exitcode 3 "$BIN/cuda-tests" --skip huge 2>&1 | tail -40 \
        | tee "$OUT/tests-memcheck.log"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "compute-sanitizer memcheck"
else
    echo "skipped: compute-sanitizer not found or GPU_CHECK_SKIP_SANITIZER=1"
fi

step "library unit tests"
LD_LIBRARY_PATH="${nvrtc_dirs#:}:${LD_LIBRARY_PATH:-}" timeout 45 "$BIN/lib-tests" 2>&1 \
    | tail -60
[ "${PIPESTATUS[0]}" = 0 ] || fail "library unit tests"

echo
[ $status = 0 ] && echo "gpu-check: all steps passed" || echo "gpu-check: some steps FAILED (see above)"
exit $status

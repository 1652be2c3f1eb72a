#!/usr/bin/env bash
# Kernel tuning for the lent GPU machine, in two halves.
#
# Here (needs NVRTC, as `make ptx`):  scripts/gpu-tune.sh build NAME:ARCH[:DEFINE,...]...
#   writes .gpu/ptx/NAME.ptx for each variant, e.g. u4:compute_90:DK_UNROLL=4
#   (the tuning macros are at the top of kernels.cu); `make gpu-build` builds gpu_bench.
# There (carry .gpu):                 scripts/gpu-tune.sh
#   runs gpu_bench with each .gpu/ptx variant (DROPKIT_CUDA_PTX) and each grid size in
#   GPU_TUNE_BLOCKS (DROPKIT_CUDA_BLOCKS_PER_SM; "occ" = no cap: the default grid, one pass
#   over the tensor), and prints one line per pair: each operation's ratio to the device copy.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = build ]; then
    shift
    set -e
    test -e .nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 || make --no-print-directory ptx
    rm -rf .gpu/ptx
    mkdir -p .gpu/ptx
    for spec in "$@"; do
        IFS=: read -r name arch defines <<< "$spec"
        args=(--arch "$arch")
        for d in ${defines//,/ }; do args+=(-D "$d"); done
        LD_LIBRARY_PATH="$PWD/.nvrtc/nvidia/cuda_nvrtc/lib" cargo run -q -p dropkit \
            --features cuda --example gen_ptx -- "${args[@]}" ".gpu/ptx/$name.ptx"
    done
    exit 0
fi

runs="${GPU_TUNE_RUNS:-20}"
tmp=$(mktemp -d)
for ptx in .gpu/ptx/*.ptx; do
    v=$(basename "$ptx" .ptx)
    for bps in ${GPU_TUNE_BLOCKS:-occ 4}; do  # "occ": the default (no cap)
        if [ "$bps" = occ ]; then bps_env=""; else bps_env="$bps"; fi
        DROPKIT_CUDA_BLOCKS_PER_SM="$bps_env" DROPKIT_CUDA_PTX="$ptx" timeout 60 \
            .gpu/gpu_bench --runs "$runs" --tsv "$tmp/t.tsv" > "$tmp/log" 2>&1
        rc=$?
        if [ $rc != 0 ]; then
            echo "$v bps=$bps FAILED: $(tail -3 "$tmp/log")"
            continue
        fi
        occ=$(grep -o 'grid: .*' "$tmp/log")
        echo "$v bps=$bps $(awk -F'\t' 'NR > 2 { printf "%s=%.3f ", $1, $6 }' "$tmp/t.tsv") $occ"
    done
done
rm -rf "$tmp"

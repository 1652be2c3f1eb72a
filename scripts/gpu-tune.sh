#!/usr/bin/env bash
# Kernel tuning on the lent GPU machine: gpu_bench with each PTX variant in .gpu/ptx (built
# here by `make gpu-build`, see the top of kernels.cu: DK_UNROLL, DK_STREAMING) and a few
# grid sizes (DROPKIT_CUDA_BLOCKS_PER_SM; "occ" = the occupancy calculator's, the default).
# Prints one line per (variant, grid): each operation's ratio to the device copy.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-.gpu/out}"
mkdir -p "$OUT"
runs="${GPU_TUNE_RUNS:-20}"
summary="$OUT/tune.tsv"
: > "$summary"
for ptx in .gpu/ptx/*.ptx; do
    v=$(basename "$ptx" .ptx)
    for bps in occ ${GPU_TUNE_BLOCKS:-2 4}; do
        tsv="$OUT/.tune-$v-$bps.tsv"
        if [ "$bps" = occ ]; then
            DROPKIT_CUDA_PTX="$ptx" timeout 60 .gpu/gpu_bench --runs "$runs" --tsv "$tsv" \
                > "$OUT/.tune.log" 2>&1
        else
            DROPKIT_CUDA_BLOCKS_PER_SM=$bps DROPKIT_CUDA_PTX="$ptx" timeout 60 .gpu/gpu_bench \
                --runs "$runs" --tsv "$tsv" > "$OUT/.tune.log" 2>&1
        fi
        rc=$?
        occ=$(grep -o 'blocks per SM: .*' "$OUT/.tune.log" | tr -d ' "' | sed 's/blockspersm://')
        if [ $rc != 0 ]; then
            echo "$v bps=$bps FAILED: $(tail -3 "$OUT/.tune.log")"
            continue
        fi
        line=$(awk -F'\t' 'NR > 1 { printf "%s=%s ", $1, $6 }' "$tsv")
        echo "$v bps=$bps $line $occ" | tee -a "$summary"
    done
done
rm -f "$OUT"/.tune*

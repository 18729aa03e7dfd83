#!/usr/bin/env bash
# The compression and protocol results in README.md and docs/why-positional-encoding.md (issue 16),
# as measured on 2026-11-27 and 2026-12-01 on the project's 2-core CPU. Usage: bash benchmarks/image_compression.sh [OUT]
set -euo pipefail
out=${1:-benchmarks/results/image}
mkdir -p "$out"
# Rate-distortion: astronaut, chelsea, coffee centre-cropped to 256x256; ours at two target rates
# (5 to 9 minutes per file on one core). A rerun reuses the .vnpi files already in $out/rd/ours, so
# the two rates can be fitted in two processes, one thread each, and then drawn together:
OMP_NUM_THREADS=1 vnp-image rd --crop 256 --rates 0.15 --device cpu --output "$out/rd" > /dev/null 2>&1 &
OMP_NUM_THREADS=1 vnp-image rd --crop 256 --rates 0.3 --device cpu --output "$out/rd" 2>&1 | grep -v "━" > /dev/null
wait
vnp-image rd --crop 256 --rates 0.15 0.3 --device cpu --output "$out/rd" 2>&1 | grep -v "━" | tee "$out/rd.log"
# Tancik et al.'s Table 1 protocol, reduced: the three photographs at 128x128, 1000 steps, frequencies
# scaled to the training grid (their defaults: --size 512 --steps 2000 --posenc-scale 6 --gaussian-sigma 10).
vnp-image table1 --size 128 --steps 1000 --posenc-scale 4 --gaussian-sigma 2.5 --device cpu --output "$out/table1_128" 2>&1 | grep -v "━" | tee "$out/table1_128.log"
# The holdout comparison with the bandwidth chosen for the training grid, and the hash grid.
common=(--size 128 --num-layers 3 --width 128 --steps 1000 --eval-every 100 --fourier-sigma 10 --device cpu)
vnp-image compare "${common[@]}" --holdout --kinds pe fourier hash --output "$out/compare_holdout_protocol" 2>&1 | grep -v "━" | tee "$out/compare_holdout_protocol.log"
vnp-image compare "${common[@]}" --kinds hash --output "$out/compare_hash" 2>&1 | grep -v "━" | tee "$out/compare_hash.log"

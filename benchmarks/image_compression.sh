#!/usr/bin/env bash
# The compression and protocol results in README.md and docs/why-positional-encoding.md (issue 16),
# as measured on 2026-11-27 on the project's 2-core CPU. Usage: bash benchmarks/image_compression.sh [OUT]
set -euo pipefail
out=${1:-benchmarks/results/image}
mkdir -p "$out"
# Rate-distortion: astronaut, chelsea, coffee centre-cropped to 256x256; ours at two target rates
# (about 2 minutes per file). A rerun reuses the .vnpi files already in $out/rd/ours.
vnp-image rd --crop 256 --rates 0.15 0.3 --device cpu --output "$out/rd" 2>&1 | grep -v "━" | tee "$out/rd.log"
# Tancik et al.'s Table 1 protocol, reduced: astronaut 128x128, 1000 steps, frequencies scaled to
# the training grid (their defaults: --size 512 --steps 2000 --posenc-scale 6 --gaussian-sigma 10).
t1=(astronaut --size 128 --steps 1000 --posenc-scale 4 --gaussian-sigma 2.5 --device cpu)
vnp-image table1 "${t1[@]}" --methods none basic pe gaussian --output "$out/table1_128_a" 2>&1 | grep -v "━" | tee "$out/table1_128_a.log"
vnp-image table1 "${t1[@]}" --methods siren hash --output "$out/table1_128_b" 2>&1 | grep -v "━" | tee "$out/table1_128_b.log"
# The holdout comparison with the bandwidth chosen for the training grid, and the hash grid.
common=(--size 128 --num-layers 3 --width 128 --steps 1000 --eval-every 100 --fourier-sigma 10 --device cpu)
vnp-image compare "${common[@]}" --holdout --kinds pe fourier hash --output "$out/compare_holdout_protocol" 2>&1 | grep -v "━" | tee "$out/compare_holdout_protocol.log"
vnp-image compare "${common[@]}" --kinds hash --output "$out/compare_hash" 2>&1 | grep -v "━" | tee "$out/compare_hash.log"

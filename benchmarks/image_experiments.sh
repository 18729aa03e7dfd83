#!/usr/bin/env bash
# The 2D image-field results in README.md and docs/why-positional-encoding.md: the three seed
# experiments (configs/image/*.yaml) and the default comparison under both protocols
# (memorisation: train and score on every pixel; generalisation: train on even rows and columns,
# score the rest). CPU, about 1.5 hours on 2 cores. Usage: bash benchmarks/image_experiments.sh [OUT]
set -euo pipefail
out=${1:-benchmarks/results/image}
mkdir -p "$out"
for name in relu-vs-pe-pi2 siren-camera-256 relu-vs-pe-128 coin-siren-camera; do
  vnp-image experiment "configs/image/$name.yaml" --output "$out/$name" 2>&1 | grep -v "━" | tee "$out/$name.log"
done
# Every network kind at one small size: 128x128 astronaut, 3x128 MLPs, 1000 full-image steps.
common=(--size 128 --num-layers 3 --width 128 --steps 1000 --eval-every 100 --fourier-sigma 10)
vnp-image compare "${common[@]}" --output "$out/compare" 2>&1 | grep -v "━" | tee "$out/compare.log"
vnp-image compare "${common[@]}" --holdout --holdout-bandwidth as-given --output "$out/compare_holdout" 2>&1 | grep -v "━" | tee "$out/compare_holdout.log"
# Generalisation with the bandwidth matched to the 64-pixel training grid (L = 5, sigma 3).
vnp-image compare "${common[@]}" --holdout --holdout-bandwidth as-given --kinds pe fourier --pe-num-frequencies 5 --fourier-sigma 3 \
  --output "$out/compare_holdout_lowband" 2>&1 | grep -v "━" | tee "$out/compare_holdout_lowband.log"

#!/usr/bin/env bash
# The compression and protocol results in README.md and docs/why-positional-encoding.md (issue 16):
# rate-distortion curves of our .vnpi files against JPEG, WebP, JPEG 2000, AVIF and JPEG XL on the
# shipped photographs, Tancik et al.'s Table 1 protocol at a reduced size, and the holdout
# comparison with the bandwidth chosen for the training grid. CPU; each step names its options.
# Usage: bash benchmarks/image_compression.sh [OUT]
set -euo pipefail
out=${1:-benchmarks/results/image}
mkdir -p "$out"
# Rate-distortion: astronaut, chelsea, coffee centre-cropped to 256x256; ours at three target rates.
# A rerun reuses the .vnpi files already in $out/rd/ours (the fits are the slow part).
vnp-image rd --crop 256 --rates 0.15 0.3 0.6 --device cpu --output "$out/rd" 2>&1 | grep -v "━" | tee "$out/rd.log"
# Tancik et al.'s Table 1 protocol at 128x128 (theirs: 512x512), all six methods, 2000 steps.
vnp-image table1 --size 128 --steps 2000 --device cpu --output "$out/table1_128" 2>&1 | grep -v "━" | tee "$out/table1_128.log"

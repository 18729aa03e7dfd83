#!/usr/bin/env bash
# Issue 26: the latent-grid codec (vnp-image compress --kind latent, .vnpi v3) on the shipped set
# (astronaut, chelsea, coffee, 256x256 centre crops) beside ours (SIREN), the baselines and the
# published curves, on the project's 2-core CPU. Usage: bash benchmarks/latent_codec.sh [OUT]
# Run from the repository root with the package importable (PYTHONPATH=. or installed).
set -euo pipefail
out=${1:-benchmarks/results/image/rd_latent}
image=(python3 -m vanilla_nerf_pe.cli.image)
mkdir -p "$out/ours"
# The SIREN files of 2026-12-01 (benchmarks/image_compression.sh, 5 to 10 minutes each), reused:
cp -n benchmarks/results/image/rd/ours/* "$out/ours/"
# The latent files, at two target rates around 0.3 bpp: one process of one thread per rate (WebP
# only here: every baseline runs in the last command).
for rate in 0.25 0.35; do
  OMP_NUM_THREADS=1 "${image[@]}" rd --kinds latent --crop 256 --rates "$rate" --baselines WebP --device cpu --output "$out" --quiet > "$out/latent_$rate.log" 2>&1 &
done
wait
# Everything drawn together; every .vnpi file is reused, only the baselines run:
"${image[@]}" rd --kinds siren latent --crop 256 --rates 0.15 0.3 --latent-rates 0.25 0.35 --device cpu --output "$out" --quiet | tee "$out/rd.log"

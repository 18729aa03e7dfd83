#!/usr/bin/env bash
# Issue 26: the latent-grid codec (vnp-image compress --kind latent, .vnpi v4) on the shipped set
# (astronaut, chelsea, coffee, 256x256 centre crops) at 0.2, 0.3 and 0.45 bpp beside ours (SIREN),
# the baselines and the published curves, on the project's 2-core CPU; then the 512x512 encode
# and decode times. Usage: bash benchmarks/latent_codec.sh [OUT]
# Run from the repository root with the package importable (PYTHONPATH=. or installed).
set -euo pipefail
out=${1:-benchmarks/results/image/rd_latent_v4}
image=(python3 -m vanilla_nerf_pe.cli.image)
mkdir -p "$out/ours"
# The SIREN files of 2026-12-01 (benchmarks/image_compression.sh, 5 to 10 minutes each), reused:
cp -n benchmarks/results/image/rd/ours/* "$out/ours/"
# The latent files: two processes of one thread (the CPU's two cores), 0.3 then 0.45 bpp in one,
# 0.2 in the other (WebP only here: every baseline runs in the last rd command).
export OMP_NUM_THREADS=1
( "${image[@]}" rd --kinds latent --crop 256 --rates 0.3 --baselines WebP --device cpu --output "$out" --quiet > "$out/latent_0.3.log" 2>&1
  "${image[@]}" rd --kinds latent --crop 256 --rates 0.45 --baselines WebP --device cpu --output "$out" --quiet > "$out/latent_0.45.log" 2>&1 ) &
"${image[@]}" rd --kinds latent --crop 256 --rates 0.2 --baselines WebP --device cpu --output "$out" --quiet > "$out/latent_0.2.log" 2>&1
wait
# Everything drawn together; every .vnpi file is reused, only the baselines run:
"${image[@]}" rd --kinds siren latent --crop 256 --rates 0.15 0.3 --latent-rates 0.2 0.3 0.45 --device cpu --output "$out" --quiet | tee "$out/rd.log"
# Each latent file beside every other codec at its own rate (the per-file table of docs/codec.md):
python3 benchmarks/latent_per_file.py "$out/rd.json" > "$out/per_file.md"
# A 512x512 photograph (the astronaut's centre crop) at 0.3 bpp with the default steps, both
# threads; compress prints the encode and decode seconds and the decoder's MACs per pixel:
python3 -c "from vanilla_nerf_pe.image.photographs import shipped_photographs; from PIL import Image; Image.fromarray(shipped_photographs(512)['astronaut']).save('$out/astronaut512.png')"  # not kept in git
OMP_NUM_THREADS=2 "${image[@]}" compress "$out/astronaut512.png" "$out/astronaut512_0.3bpp.vnpi" --kind latent --bpp 0.3 --quiet | tee "$out/encode512.log"
/usr/bin/time -f "decompress: %e s wall" "${image[@]}" decompress "$out/astronaut512_0.3bpp.vnpi" "$out/astronaut512_decoded.png" 2>&1 | tee -a "$out/encode512.log"

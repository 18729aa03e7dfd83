#!/usr/bin/env bash
# The rendered video and the frame shown in README.md: vanilla-nerf-pe-fast on lego_100 on a CPU
# (2000 iterations, ~4 minutes on 2 cores), then nerfstudio's ns-render (rgb | depth side by side)
# and one frame of it as a PNG. Usage: bash scripts/lego_video.sh [DATA]
set -euo pipefail
DATA=${1:-../shared/data/blender/lego_100}
ITERS=${ITERS:-2000}
ns-train vanilla-nerf-pe-fast --machine.device-type cpu --vis tensorboard --max-num-iterations "$ITERS" \
  --output-dir outputs --experiment-name lego --timestamp video blender-data --data "$DATA"
CONFIG=outputs/lego/vanilla-nerf-pe-fast/video/config.yml
ns-render interpolate --load-config "$CONFIG" --pose-source eval --order-poses True --interpolation-steps 1 \
  --frame-rate 24 --rendered-output-names rgb depth --output-path renders/lego_rgb_depth.mp4
mkdir -p docs/images
ffmpeg -y -loglevel error -ss 2 -i renders/lego_rgb_depth.mp4 -frames:v 1 -vf scale=iw*3:ih*3:flags=neighbor docs/images/lego_render_frame.png
vnp-eval --load-config "$CONFIG" --num-views 5 2>/dev/null | tail -n 12
echo "video: renders/lego_rgb_depth.mp4   frame: docs/images/lego_render_frame.png"

#!/usr/bin/env bash
# The capture videos and the frames shown in README.md ("Real captures"), on a CPU:
#  - forward-facing: vanilla-nerf-pe-forward-facing on fern (llff-data, images_16), then
#    `ns-render spiral` (the classic LLFF spiral);
#  - 360 degrees: vanilla-nerf-pe-360 on the generated unbounded scene (nerfstudio-data), then
#    `ns-render interpolate` through its held-out views.
# Each video is rgb | depth side by side; one frame of each is saved as a PNG (shown 2x).
# Usage: bash scripts/capture_videos.sh [FERN_DIR]   (ITERS=N sets the training length of both runs)
set -euo pipefail
FERN=${1:-../shared/data/llff/fern}
ITERS=${ITERS:-2000}
OUT=${OUT:-outputs}
RENDERS=${RENDERS:-renders}
IMAGES=${IMAGES:-docs/images}
mkdir -p "$RENDERS" "$IMAGES"
train() {  # METHOD EXPERIMENT DATAPARSER ARGS...: ITERS iterations, the decay over the same
  local method=$1 experiment=$2; shift 2
  ns-train "$method" --machine.device-type cpu --vis tensorboard \
    --max-num-iterations "$ITERS" --optimizers.fields.scheduler.max-steps "$ITERS" --steps-per-save "$ITERS" \
    --output-dir "$OUT" --experiment-name "$experiment" --timestamp video "$@"
}
frame() {  # VIDEO SECONDS PNG
  ffmpeg -y -loglevel error -ss "$2" -i "$1" -frames:v 1 -vf scale=iw*2:ih*2:flags=neighbor "$3"
}

if [ -f "$FERN/poses_bounds.npy" ]; then
  train vanilla-nerf-pe-forward-facing fern llff-data --data "$FERN" --downscale-factor 16
  CONFIG="$OUT/fern/vanilla-nerf-pe-forward-facing/video/config.yml"
  ns-render spiral --load-config "$CONFIG" --seconds 3 --frame-rate 8 --rendered-output-names rgb depth \
    --output-path "$RENDERS/fern_spiral.mp4"
  frame "$RENDERS/fern_spiral.mp4" 1 "$IMAGES/fern_spiral_frame.png"
  vnp-eval --load-config "$CONFIG" --num-views 3 2>/dev/null | tail -n 6
else
  echo "capture_videos.sh: no $FERN/poses_bounds.npy: skipping fern (pass the fern folder as the argument)" >&2
fi

vnp-scene data/unbounded_video --kind unbounded --resolution 128 --num-views 40
train vanilla-nerf-pe-360 unbounded nerfstudio-data --data data/unbounded_video
CONFIG="$OUT/unbounded/vanilla-nerf-pe-360/video/config.yml"
ns-render interpolate --load-config "$CONFIG" --pose-source eval --interpolation-steps 6 --frame-rate 12 \
  --rendered-output-names rgb depth --output-path "$RENDERS/unbounded_interpolate.mp4"
frame "$RENDERS/unbounded_interpolate.mp4" 1 "$IMAGES/unbounded_interpolate_frame.png"
vnp-eval --load-config "$CONFIG" --num-views 4 2>/dev/null | tail -n 6
echo "videos: $RENDERS/fern_spiral.mp4 $RENDERS/unbounded_interpolate.mp4   frames: $IMAGES/fern_spiral_frame.png $IMAGES/unbounded_interpolate_frame.png"

#!/usr/bin/env bash
# The main job on the embedded demo scene (no download, CPU): generate the scene, train
# vanilla-nerf-pe-quick, render a video with ns-render, and score 5 test views.
set -euo pipefail
DATA=${DATA:-data/demo}
OUT=${OUT:-outputs}
vnp-scene "$DATA"
ns-train vanilla-nerf-pe-quick --machine.device-type cpu --vis tensorboard \
  --output-dir "$OUT" --experiment-name demo --timestamp latest \
  blender-data --data "$DATA"
CONFIG="$OUT/demo/vanilla-nerf-pe-quick/latest/config.yml"
ns-render interpolate --load-config "$CONFIG" --output-path renders/demo.mp4
vnp-eval --load-config "$CONFIG" --num-views 5 --output-path "$OUT/demo/eval_5_views.json" | tail -n 8
echo "video: renders/demo.mp4   config: $CONFIG"

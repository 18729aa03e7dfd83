#!/usr/bin/env bash
# The main job on the embedded demo scene (no download, CPU): generate the scene, train
# vanilla-nerf-pe-quick, render a video with ns-render, and score 5 test views.
set -euo pipefail
DATA=${DATA:-data/demo}
OUT=${OUT:-outputs}
vnp-scene "$DATA"
# ITERS=N shortens the run (a smoke test); the preset's 700 iterations take ~10 minutes on 2 cores.
ns-train vanilla-nerf-pe-quick --machine.device-type cpu --vis tensorboard ${ITERS:+--max-num-iterations $ITERS} \
  --output-dir "$OUT" --experiment-name demo --timestamp latest \
  blender-data --data "$DATA"
CONFIG="$OUT/demo/vanilla-nerf-pe-quick/latest/config.yml"
# 20 test views x 4 in-between frames at 100x100: ~80 frames, a few minutes on a CPU.
ns-render interpolate --load-config "$CONFIG" --interpolation-steps 4 --output-path renders/demo.mp4
vnp-eval --load-config "$CONFIG" --num-views 5 --output-path "$OUT/demo/eval_5_views.json" | tail -n 8
echo "video: renders/demo.mp4   config: $CONFIG"

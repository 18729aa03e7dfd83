#!/usr/bin/env bash
# The main job on the embedded demo scene (no download, CPU, under 5 minutes on 2 cores): generate
# the scene, train vanilla-nerf-pe-fast (the occupancy-grid method), render a video with ns-render
# (the grid skips empty space there too), score 5 test views and write a side-by-side PNG
# (ground truth | render | depth, a row per view) beside the video. It fails if the mean PSNR is
# below MIN_PSNR (docs/benchmarks.md, "The demo", says how the threshold was set).
#
# ITERS=N shortens the run, FRAMES_PER_VIEW the video and RENDER_DOWNSCALE its frame size (tests/test_demo.py),
# MIN_PSNR sets the check;
# the paper's preset is `vanilla-nerf-pe` (docs/training.md, "Training on Lego").
set -euo pipefail
DATA=${DATA:-data/demo}
OUT=${OUT:-outputs}
RENDERS=${RENDERS:-renders}
ITERS=${ITERS:-1500}
MIN_PSNR=${MIN_PSNR:-22}
FRAMES_PER_VIEW=${FRAMES_PER_VIEW:-3}
RENDER_DOWNSCALE=${RENDER_DOWNSCALE:-1}
METHOD=vanilla-nerf-pe-fast
vnp-scene "$DATA"
# The learning rate decays over the run's own length, not over the preset's 4000 iterations.
ns-train "$METHOD" --machine.device-type cpu --vis tensorboard \
  --max-num-iterations "$ITERS" --optimizers.fields.scheduler.max-steps "$ITERS" --steps-per-save "$ITERS" \
  --output-dir "$OUT" --experiment-name demo --timestamp latest \
  blender-data --data "$DATA"
CONFIG="$OUT/demo/$METHOD/latest/config.yml"
# Through the 20 test views, FRAMES_PER_VIEW frames from each to the next, at 100x100 / RENDER_DOWNSCALE.
ns-render interpolate --load-config "$CONFIG" --interpolation-steps "$FRAMES_PER_VIEW" --downscale-factor "$RENDER_DOWNSCALE" \
  --output-path "$RENDERS/demo.mp4"
vnp-eval --load-config "$CONFIG" --num-views 5 --output-path "$OUT/demo/eval_5_views.json" \
  --side-by-side "$RENDERS/demo_side_by_side.png" --min-psnr "$MIN_PSNR" | tail -n 8
echo "video: $RENDERS/demo.mp4   side by side (ground truth | render | depth): $RENDERS/demo_side_by_side.png   config: $CONFIG"

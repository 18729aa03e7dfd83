#!/usr/bin/env bash
# The GPU benchmark, one command on the lent machine: installs the carried wheels (scripts/gpu_env.sh),
# trains vanilla-nerf-pe-gpu for BUDGET seconds on lego_400 and scores all 200 test views; the result
# files (results.md / results.json: the card, the date, steps per second, rays per second, PSNR and
# SSIM over time, and the field's share of the card's float32 matrix peak) land in OUTPUT_DIR.
#   bash benchmarks/gpu_lego400.sh DATA [BUDGET_SECONDS] [OUTPUT_DIR] [extra overrides, key=value,...]
# DATA: a lego_400 copy with every test view. The preset's schedule is a number of steps
# (max_num_iterations); a run longer than the schedule stops at its end.
set -euo pipefail
DATA=${1:?lego_400 folder}; BUDGET=${2:-300}; OUT_DIR=${3:-benchmarks/results/gpu}
source scripts/gpu_env.sh
SPEC="vanilla-nerf-pe-gpu${4:+:$4}"
python3 benchmarks/wall_clock.py --data "$DATA" --device cuda --budget "$BUDGET" \
  --eval-every "${EVAL_EVERY:-60}" --num-views "${NUM_VIEWS:-200}" --output-dir "$OUT_DIR" --runs "$SPEC"

#!/usr/bin/env bash
# The GPU run of the README: our PE field with the occupancy grid on lego_400, scored on all 200
# test views. Usage: bash benchmarks/gpu_lego400.sh DATA BUDGET_SECONDS OUTPUT_DIR [extra spec]
# (on the lent machine: source scripts/gpu_env.sh first; DATA a lego_400 copy with every test view).
# Environment: STEPS (schedule length, default 21 per second of budget), EVAL_EVERY (60 s), NUM_VIEWS (200).
set -euo pipefail
DATA=${1:?lego_400 folder}; BUDGET=${2:-300}; OUT_DIR=${3:-benchmarks/results/gpu}
# Scaled up from vanilla-nerf-pe-fast for a GPU: the paper's 8x256 field and L = 10, a 128^3 grid
# with half the marching step (lego_400 has 4x the pixels of lego_100), 2^18 samples per step,
# Adam 1e-3 decaying to 1e-4 over the steps the budget allows (~21 per second on an H100).
STEPS=${STEPS:-$(( BUDGET * 21 ))}
SPEC="vanilla-nerf-pe-fast:trainer.max_num_iterations=1000000,optimizers.fields.scheduler.max_steps=${STEPS},pipeline.target_num_samples=262144,network.width=256,network.num_layers=8,network.skip_connections=[4],color_width=128,network.pe_num_frequencies=10,occupancy.grid_resolution=128,occupancy.render_step_size=0.005,eval_num_rays_per_chunk=65536,optimizers.fields.optimizer.lr=1e-3,optimizers.fields.scheduler.lr_final=1e-4${4:+,$4}"
python3 benchmarks/wall_clock.py --data "$DATA" --device cuda --matmul-precision high --budget "$BUDGET" \
  --eval-every "${EVAL_EVERY:-60}" --num-views "${NUM_VIEWS:-200}" --output-dir "$OUT_DIR" --runs "$SPEC"

#!/usr/bin/env bash
# Two commits side by side in one benchmark run on this machine: each commit is checked out in a
# temporary worktree and trained with its own benchmarks/wall_clock.py, imported first through
# PYTHONPATH (the installed package is left alone). nerfstudio finds our methods through the
# installed entry points (vanilla_nerf_pe.nerf.method_configs and, for llff-data, vanilla_nerf_pe.nerf.registry);
# a commit that lacks either module gets a one-line bridge to where it kept them.
#
#   bash benchmarks/compare_commits.sh OLD NEW DATA BUDGET OUT [RUN [EVAL_EVERY]]
#   bash benchmarks/compare_commits.sh d180d9e HEAD ../shared/data/blender/lego_100 600 benchmarks/results/redesign
#
# PARALLEL=1 trains the two at the same time, one thread and one core each (taskset), so that
# whatever else the machine does at that time slows both alike; otherwise one after the other.
set -euo pipefail
old=$1 new=$2 data=$(realpath "$3") budget=$4 out=$(realpath -m "$5") run=${6:-vanilla-nerf-pe-fast} eval_every=${7:-120}
trees=()
for commit in "$old" "$new"; do
  sha=$(git rev-parse --short "$commit")
  tree=$(mktemp -d)/tree
  git worktree add -f --detach "$tree" "$sha" >/dev/null
  if [ ! -f "$tree/vanilla_nerf_pe/nerf/method_configs.py" ]; then
    mkdir -p "$tree/vanilla_nerf_pe/nerf" && touch "$tree/vanilla_nerf_pe/nerf/__init__.py"
    echo "from vanilla_nerf_pe.method_configs import *  # noqa" > "$tree/vanilla_nerf_pe/nerf/method_configs.py"
  fi
  if [ ! -f "$tree/vanilla_nerf_pe/nerf/registry.py" ]; then  # the dataparser entry point of commits after edc48d8
    llff=$( [ -f "$tree/vanilla_nerf_pe/nerf/llff.py" ] && echo vanilla_nerf_pe.nerf.llff || echo vanilla_nerf_pe.llff )
    echo "from $llff import llff_data  # noqa" > "$tree/vanilla_nerf_pe/nerf/registry.py"
  fi
  # presets registered by the installed entry points but added after this commit: bridged to its fast preset
  python3 - "$tree/vanilla_nerf_pe/nerf/method_configs.py" <<'PY'
import re, sys
from importlib.metadata import entry_points
path = sys.argv[1]
text = open(path).read()
missing = [ep.attr for ep in entry_points(group="nerfstudio.method_configs") if ep.module.startswith("vanilla_nerf_pe")
           and not re.search(rf"^{ep.attr}\b", text, re.M)]
with open(path, "a") as f:
    f.writelines(f"\n{name} = vanilla_nerf_pe_fast  # bridge: registered by a later commit" for name in missing)
PY
  trees+=("$sha:$tree")
done
train() {  # SHA TREE [CORE]
  local sha=$1 tree=$2 core=${3:-}
  echo "== $sha: $run, $budget s on $data${core:+, core $core, one thread}" >&2
  local pin=()
  [ -n "$core" ] && pin=(env OMP_NUM_THREADS=1 taskset -c "$core")
  (cd "$tree" && PYTHONPATH="$tree" "${pin[@]}" python3 benchmarks/wall_clock.py --runs "$run" \
    --data "$data" --budget "$budget" --eval-every "$eval_every" --output-dir "$out/$sha")
}
if [ "${PARALLEL:-0}" = 1 ]; then
  core=0
  for entry in "${trees[@]}"; do train "${entry%%:*}" "${entry#*:}" "$core" & core=$((core + 1)); done
  wait
else
  for entry in "${trees[@]}"; do train "${entry%%:*}" "${entry#*:}"; done
fi
for entry in "${trees[@]}"; do git worktree remove --force "${entry#*:}"; done

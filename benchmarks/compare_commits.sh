#!/usr/bin/env bash
# Two commits side by side in one benchmark run on this machine: each commit is checked out in a
# temporary worktree, installed (editable, no dependencies) and trained with its own
# benchmarks/wall_clock.py; the working tree's install is restored at the end.
#
#   bash benchmarks/compare_commits.sh OLD NEW DATA BUDGET OUT [RUN]
#   bash benchmarks/compare_commits.sh d180d9e HEAD ../shared/data/blender/lego_100 600 benchmarks/results/redesign
set -euo pipefail
old=$1 new=$2 data=$(realpath "$3") budget=$4 out=$(realpath -m "$5") run=${6:-vanilla-nerf-pe-fast}
root=$(git rev-parse --show-toplevel)
trap 'python3 -m pip install -q --no-deps -e "$root" >/dev/null 2>&1' EXIT
for commit in "$old" "$new"; do
  sha=$(git rev-parse --short "$commit")
  tree=$(mktemp -d)/tree
  git worktree add -f --detach "$tree" "$sha" >/dev/null
  python3 -m pip install -q --no-deps -e "$tree" >/dev/null 2>&1
  echo "== $sha: $run, $budget s on $data" >&2
  (cd "$tree" && python3 benchmarks/wall_clock.py --runs "$run" --data "$data" --budget "$budget" --output-dir "$out/$sha")
  git worktree remove --force "$tree"
done

#!/usr/bin/env bash
# Installs vanilla-nerf-pe with its test tools, and the ffmpeg binary that ns-render needs.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v ffmpeg >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get install -y -q ffmpeg >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q ffmpeg >/dev/null; }
  else
    echo "install.sh: ns-render needs an ffmpeg binary on PATH; install it with your package manager" >&2
    exit 1
  fi
fi
python3 -m pip install -q -e ".[test]"

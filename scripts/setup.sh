#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install dependencies, build, run the main job
# (the data-channel benchmark: two native peers connect over loopback and stream data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
if [ "${1:-}" != "--no-main" ]; then
  ./build/bench/datachannel_bench 3 5
fi

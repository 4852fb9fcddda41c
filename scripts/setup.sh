#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install dependencies, build, run the main job:
# `trystero demo` (the built-in relay, two peers in separate processes, one file between them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
if [ "${1:-}" != "--no-main" ]; then
  ./build/tools/trystero demo
fi

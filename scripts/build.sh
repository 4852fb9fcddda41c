#!/usr/bin/env bash
# Configures and builds one flavour: release (build/) or asan (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) dir=build; extra=() ;;
  asan) dir=build-asan; extra=(-DTRYSTERO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DTRYSTERO_BUILD_BENCH=OFF) ;;
  *) echo "unknown flavour $flavour" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${extra[@]}" >/dev/null
ninja -C "$dir"

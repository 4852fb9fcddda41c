#!/bin/sh
# The time from a browser's addStream to the receiver's first decoded frame: native room_peer
# beside Chromium, in one run (see latency.mjs). Usage: bench/media/run.sh [N=5] [BUILD_DIR=build]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
reps=${1:-5}
build=${2:-build}
case $build in /*) ;; *) build=$(cd "$build" 2>/dev/null && pwd || echo "$root/$build") ;; esac
if [ ! -d "$root/tests/interop/node_modules/trystero" ] || [ ! -x "$build/tests/room_peer" ]; then
  echo "media bench: needs npm ci --prefix tests/interop and $build/tests/room_peer" >&2
  exit 77
fi
exec sh "$root/bench/netns.sh" node "$here/latency.mjs" "$reps" "$build"

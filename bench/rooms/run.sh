#!/bin/sh
# Room benchmark (issue 4): join time, 64 MiB binary action throughput and 10,000 small JSON
# messages/s, per strategy (nostr, mqtt, torrent, firebase, supabase) for C++↔C++, JS↔JS (Node) and C++→Chromium,
# side by side in one run over local relays (mosquitto, the strict NIP-01 relay, bittorrent-
# tracker from tests/interop/lib/relays.mjs). Medians of N runs per cell, a table on stdout, and
# JSON (default bench/rooms/results.json). Performance is only compared within one run.
#
#   bench/rooms/run.sh [N] [BUILD_DIR] [rooms_bench.mjs args...]     # N default 3, BUILD_DIR build
#   bench/rooms/run.sh 1 build --strategies nostr --pairs cpp-cpp,node-node   # a quick look
#   bench/rooms/run.sh 3 build --out /tmp/rooms.json --pairs cpp-cpp,node-node,cpp-chromium,chromium-cpp
#
# Needs: BUILD_DIR/tests/room_peer (cmake --build BUILD_DIR --target room_peer; use a release
# build), npm ci --prefix tests/interop, /usr/sbin/mosquitto, /usr/bin/chromium. The default run
# took 6.5 minutes on 2 busy cores (load ~5). Everything runs inside a network namespace whose
# only interface is lo (as tests/interop/run.sh does; BENCH_NO_NETNS=1 to skip), peers get no
# ICE servers, and every process is killed by its recorded PID. Env: BENCH_VERBOSE=1 (protocol
# lines and peer stderr), BENCH_TIMEOUT_MS (per transfer, default 90000), CHROMIUM (default
# /usr/bin/chromium). Besides the medians, results.json keeps every run: both sides' join times,
# the sender's own send durations, and each side's CPU use (% of a core, process tree) during
# the transfer, which tells which side limits throughput.
#
# Note: a native receiver currently drops a binary message of exactly 64 MiB (the reassembler's
# maxBytesInFlight, 64 MiB, also charges 64 B per stored chunk); the run then reports the cell as
# failed with the receiver's Room::stats(). Until that limit moves: --bulk-bytes 64000000.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# Positional N and BUILD_DIR are optional: the first argument starting with - begins the
# rooms_bench.mjs options.
reps=${BENCH_REPS:-3}
build=${BENCH_BUILD:-build}
case ${1:-} in [0-9]*) reps=$1; shift ;; esac
case ${1:-} in ''|-*) ;; *) build=$1; shift ;; esac
case $build in
  /*) ;;
  *) if [ -d "$build" ]; then build=$(cd "$build" && pwd); else build=$root/$build; fi ;;
esac

if [ ! -d "$root/tests/interop/node_modules/trystero" ]; then
  echo "rooms bench: tests/interop/node_modules is missing; run: npm ci --prefix tests/interop" >&2
  exit 77
fi
if [ ! -x "$build/tests/room_peer" ]; then
  echo "rooms bench: $build/tests/room_peer not built (cmake --build $build --target room_peer)" >&2
  exit 77
fi

set -- node "$here/rooms_bench.mjs" --reps "$reps" --build "$build" "$@"

exec sh "$root/bench/netns.sh" "$@"

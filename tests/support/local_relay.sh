# Sourced by the shell tests: scratch space, processes killed by recorded PID on exit, and a
# `trystero relay` on a free loopback port.
#   source tests/support/local_relay.sh; start_relay /path/to/trystero; echo "$relay_url"
scratch=$(mktemp -d /tmp/trystero-test.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

start_relay() {
  "$1" relay --port 0 --json >"$scratch/relay.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$scratch/relay.out" 2>/dev/null && break; sleep 0.1; done
  relay_url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$scratch/relay.out" | head -1)
  [ -n "$relay_url" ] || { echo "the relay ($1) did not start:" >&2; cat "$scratch/relay.out" >&2; exit 1; }
}

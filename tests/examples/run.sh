#!/usr/bin/env bash
# Runs every README example (examples/*.cpp) against a local `trystero relay`: two instances of
# each in the same room, which must exit 0 and print what the snippet is about. The firebase and
# supabase examples run against the local servers of the interop tests instead.
#
#   tests/examples/run.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
interop=$(cd "$(dirname "$0")/../interop" && pwd)
source "$(dirname "$0")/../support/local_relay.sh"
start_relay "$build/tools/trystero"
url=$relay_url

# example name -> what both instances must print (a regex)
declare -A expect=(
  [quick_start]='says: hello from'
  [get_started]=' joined'
  [drinks]='got a (negroni|mezcal)'
  [files]='got a file'
  [names]='.'
  [password]='knows the password'
  [pictures]='got a picture'
  [relays]="$url: open"
  [scoped_room]='.'
)
# Built when trystero_codecs is (libvpx-dev, libopus-dev).
[ -x "$build/examples/example_video_call" ] && expect[video_call]='pictures from 1 peer\(s\), sound from 1 peer'
failed=0
cd "$scratch"  # examples write what they receive into the current directory
# run_pair NAME REGEX ARGS...: two instances of example_NAME with ARGS, both must exit 0 and
# print REGEX.
run_pair() {
  local name=$1 regex=$2 a b status=0
  shift 2
  local exe=$build/examples/example_$name
  [ -x "$exe" ] || { echo "missing $exe" >&2; failed=1; return; }
  "$exe" "$@" >"$scratch/$name.a" 2>&1 & a=$!
  "$exe" "$@" >"$scratch/$name.b" 2>&1 & b=$!
  pids+=("$a" "$b")
  wait "$a" || status=$?
  wait "$b" || status=$?
  if [ "$status" -ne 0 ] || ! grep -Eq "$regex" "$scratch/$name.a" || ! grep -Eq "$regex" "$scratch/$name.b"; then
    echo "FAIL example_$name (exit $status)"; sed 's/^/  a| /' "$scratch/$name.a"; sed 's/^/  b| /' "$scratch/$name.b"; failed=1
  else
    echo "ok   example_$name"
  fi
}
for name in "${!expect[@]}"; do
  # video_call must meet, negotiate media and decode a second of sound within its time.
  seconds=6; [ "$name" = video_call ] && seconds=10
  run_pair "$name" "${expect[$name]}" --relay "$url" --local --seconds "$seconds"
done

# The managed media against the local stand-ins of the interop tests, when node and the npm
# packages are there (tests/interop: npm ci).
# start_node NAME SCRIPT ARGS...: sets node_port; the server stops when its stdin ends.
start_node() {
  local name=$1 script=$2
  shift 2
  node "$interop/relays/$script" "$@" >"$scratch/$name.server" 2>&1 < <(sleep 600) &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^listening' "$scratch/$name.server" 2>/dev/null && break; sleep 0.1; done
  node_port=$(sed -n 's/^listening \([0-9]*\).*/\1/p' "$scratch/$name.server" | head -1)
  [ -n "$node_port" ] || { echo "FAIL $name server did not start"; cat "$scratch/$name.server"; failed=1; return 1; }
}
if command -v node >/dev/null && [ -d "$interop/node_modules/firebase-server" ]; then
  if start_node firebase firebase_server.mjs --port 0 --name examples; then
    run_pair firebase 'says: hello from' "http://127.0.0.1:$node_port?ns=examples" --local --seconds 8
  fi
else
  echo "skip example_firebase (no node or no tests/interop/node_modules/firebase-server)"
fi
if command -v node >/dev/null && [ -d "$interop/node_modules/ws" ]; then
  if start_node supabase supabase_server.mjs --port 0; then
    run_pair supabase 'says: hello from' "http://127.0.0.1:$node_port" anon-key --local --seconds 8
  fi
else
  echo "skip example_supabase (no node or no tests/interop/node_modules/ws)"
fi
exit $failed

#!/usr/bin/env bash
# Runs every README example (examples/*.cpp) against a local `trystero relay`: two instances of
# each in the same room, which must exit 0 and print what the snippet is about.
#
#   tests/examples/run.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
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
failed=0
cd "$scratch"  # examples write what they receive into the current directory
for name in "${!expect[@]}"; do
  exe=$build/examples/example_$name
  [ -x "$exe" ] || { echo "missing $exe" >&2; failed=1; continue; }
  "$exe" --relay "$url" --local --seconds 6 >"$scratch/$name.a" 2>&1 & a=$!
  "$exe" --relay "$url" --local --seconds 6 >"$scratch/$name.b" 2>&1 & b=$!
  pids+=("$a" "$b")
  status=0
  wait "$a" || status=$?
  wait "$b" || status=$?
  if [ "$status" -ne 0 ] || ! grep -Eq "${expect[$name]}" "$scratch/$name.a" || ! grep -Eq "${expect[$name]}" "$scratch/$name.b"; then
    echo "FAIL example_$name (exit $status)"; sed 's/^/  a| /' "$scratch/$name.a"; sed 's/^/  b| /' "$scratch/$name.b"; failed=1
  else
    echo "ok   example_$name"
  fi
done
exit $failed

#!/usr/bin/env bash
# The packaging test: installs a build tree into a scratch prefix, builds the quick-start example
# out of tree three ways (find_package + shared library, find_package + static library, plain
# pkg-config), then runs the installed `trystero relay` and two quick-start peers against it.
#
#   tests/package/run.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
source "$here/../support/local_relay.sh"

prefix=$scratch/prefix
echo "== cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/trystero/trystero.hpp bin/trystero; do
  [ -e "$prefix/$f" ] || { echo "missing $f in the installed tree" >&2; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name 'libtrystero.a' | head -1)")
[ -e "$libdir/libtrystero.so" ] || { echo "no shared libtrystero next to the static one" >&2; exit 1; }

echo "== find_package(trystero): shared and static"
cmake -S "$here/consumer" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/consumer" -j2 >/dev/null
if [ -e "$build/libtrystero_codecs.so" ] && [ ! -x "$scratch/consumer/video_call" ]; then
  echo "trystero::trystero_codecs was built but the installed package does not offer it" >&2; exit 1
fi

echo "== pkg-config trystero"
export PKG_CONFIG_PATH=$libdir/pkgconfig
c++ -o "$scratch/quick_start_pkgconfig" "$root/examples/quick_start.cpp" -I"$root/examples" \
  $(pkg-config --cflags --libs trystero) -Wl,-rpath,"$libdir"

echo "== run: installed relay + quick-start peers (no library path set: install RPATH)"
unset LD_LIBRARY_PATH
"$prefix/bin/trystero" --help >/dev/null || { echo "the installed trystero does not start" >&2; exit 1; }
start_relay "$prefix/bin/trystero"
url=$relay_url
run_pair() {
  local a=$1 b=$2
  "$a" --relay "$url" --local >"$scratch/a.out" 2>&1 & local pa=$!
  "$b" --relay "$url" --local >"$scratch/b.out" 2>&1 & local pb=$!
  pids+=("$pa" "$pb")
  local status=0
  wait "$pa" || status=1
  wait "$pb" || status=1
  if [ $status -ne 0 ] || ! grep -q "says: hello from" "$scratch/a.out" || ! grep -q "says: hello from" "$scratch/b.out"; then
    echo "$(basename "$a") <-> $(basename "$b") failed:" >&2; cat "$scratch/a.out" "$scratch/b.out" >&2; exit 1
  fi
  echo "   $(basename "$a") <-> $(basename "$b"): greeted each other"
}
run_pair "$scratch/consumer/quick_start_shared" "$scratch/consumer/quick_start_static"
run_pair "$scratch/quick_start_pkgconfig" "$scratch/consumer/quick_start_shared"
echo "package test passed"

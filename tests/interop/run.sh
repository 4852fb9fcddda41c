#!/bin/sh
# Runs the interop tests (node's built-in test runner, one file at a time) against a
# build tree, inside a network namespace whose only interface is loopback when that
# is possible (root, or unprivileged user namespaces), plainly otherwise.
#
#   tests/interop/run.sh [BUILD_DIR] [extra node --test args...]
#
# BUILD_DIR defaults to "build" (relative to the cwd, else to the repository root).
# The native peer is $PC_PEER if set (split on spaces, e.g.
#   PC_PEER="node tests/interop/tools/fake_native_peer.mjs"), else BUILD_DIR/tests/pc_peer.
# Installs nothing: run `npm ci --prefix tests/interop` first (its .npmrc sets
# ignore-scripts=true; no browser is downloaded, Debian's /usr/bin/chromium is used).
# Exits 77 (ctest SKIP_RETURN_CODE) when node_modules or the native peer is missing.
# Env: INTEROP_FILES="rooms cli" runs those files only; INTEROP_NO_NETNS=1 skips the namespace; INTEROP_VERBOSE=1 forwards peer and
# page logs; INTEROP_BULK_BYTES overrides the 8 MiB transfers; INTEROP_RESULTS=FILE
# appends the measured figures as JSON lines; CHROMIUM overrides /usr/bin/chromium.
set -eu
# With INTEROP_REQUIRED=1 (scripts/test.sh sets it) a missing prerequisite fails instead of skipping.
skip=77
[ -n "${INTEROP_REQUIRED:-}" ] && skip=1

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

build=${1:-build}
[ $# -gt 0 ] && shift
case $build in
  /*) ;;
  *) if [ -d "$build" ]; then build=$(cd "$build" && pwd); else build=$root/$build; fi ;;
esac

if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "interop: $here/node_modules is missing; run: npm ci --prefix tests/interop" >&2
  exit $skip
fi

if [ -z "${PC_PEER:-}" ]; then
  PC_PEER=$build/tests/pc_peer
  if [ ! -x "$PC_PEER" ]; then
    echo "interop: $PC_PEER not found (build the tree, or set PC_PEER)" >&2
    exit $skip
  fi
fi
export PC_PEER

cd "$root"
# INTEROP_FILES: which test files (names without .test.mjs, space separated; default all).
files=""
for name in ${INTEROP_FILES:-$(cd "$here" && ls *.test.mjs | sed 's/\.test\.mjs$//')}; do
  files="$files $here/$name.test.mjs"
done
# shellcheck disable=SC2086
set -- node --test --test-concurrency=1 "$@" $files

if [ -z "${INTEROP_NO_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
   && unshare --net true 2>/dev/null; then
  echo "interop: running in a loopback-only network namespace" >&2
  exec unshare --net sh -c 'ip link set lo up && exec "$@"' sh "$@"
elif [ -z "${INTEROP_NO_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
   && unshare --user --map-root-user --net true 2>/dev/null; then
  echo "interop: running in a loopback-only user+network namespace" >&2
  exec unshare --user --map-root-user --net sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
echo "interop: no network namespace available; running on the host network" >&2
exec "$@"

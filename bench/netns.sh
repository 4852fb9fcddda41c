#!/bin/sh
# Runs its arguments inside a network namespace whose only interface is loopback, when that is
# possible (root, or unprivileged user namespaces), else plainly on the host network. The
# benchmarks use only loopback relays and no ICE servers. BENCH_NO_NETNS=1 skips the namespace.
set -eu
if [ -z "${BENCH_NO_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
   && unshare --net true 2>/dev/null; then
  echo "bench: running in a loopback-only network namespace" >&2
  exec unshare --net sh -c 'ip link set lo up && exec "$@"' sh "$@"
elif [ -z "${BENCH_NO_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
   && unshare --user --map-root-user --net true 2>/dev/null; then
  echo "bench: running in a loopback-only user+network namespace" >&2
  exec unshare --user --map-root-user --net sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
echo "bench: no network namespace available; running on the host network (loopback relays)" >&2
exec "$@"

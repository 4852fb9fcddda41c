#!/usr/bin/env bash
# The whole test suite: unit tests in the release build (GCC), under ASan+UBSan (GCC) and under
# ThreadSanitizer (clang, which also checks the project builds warning-free with clang), then the
# interop and package tests against real browsers, relays and JS peers. Network tests run in a
# loopback-only network namespace when the machine allows one. Fails if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release
bash scripts/build.sh asan
bash scripts/build.sh tsan

in_loopback_namespace() {
  if unshare --net true 2>/dev/null; then
    unshare --net bash -c 'ip link set lo up && exec "$@"' _ "$@"
  else
    echo "note: cannot create a network namespace; running on the host's loopback" >&2
    "$@"
  fi
}

export INTEROP_REQUIRED=1
status=0
echo "== unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  in_loopback_namespace ctest --test-dir build-asan -L unit --output-on-failure -j2 || status=1
echo "== unit tests (ThreadSanitizer)"
TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1" \
  GIO_USE_PROXY_RESOLVER=dummy \
  in_loopback_namespace ctest --test-dir build-tsan -L unit --output-on-failure -j2 || status=1
echo "== all tests (release)"
in_loopback_namespace ctest --test-dir build --output-on-failure -j2 || status=1

# A failing interop file prints minutes of output; its failures, one line each, end the log.
if [ $status -ne 0 ]; then
  echo "== failures"
  for dir in build-asan build-tsan build; do
    log=$dir/Testing/Temporary/LastTest.log
    [ -f "$log" ] || continue
    awk -v dir="$dir" '
      /not ok [0-9]+ - |\*\*\*Failed|\*\*\*Timeout|ERROR: [A-Za-z]*Sanitizer|WARNING: ThreadSanitizer|runtime error: |\[  FAILED  \]/ { print dir ": " $0; n++ }
      /^ *error: \|-$/ { grab = 2; next }
      /^ *error: / { print dir ": " $0; n++ }
      grab > 0 { print dir ":     " $0; grab--; n++ }
      n >= 80 { exit }' "$log" || true
  done
fi
exit $status

#!/usr/bin/env bash
# Configures and builds one flavour of the project's own builds (warnings are errors in all):
#   release  build/       GCC, Release: what users and packagers build
#   asan     build-asan/  GCC, Debug, AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     build-tsan/  clang, ThreadSanitizer (unit tests; clang also checks the warnings)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
common=(-DTRYSTERO_WARNINGS_AS_ERRORS=ON)
# The sanitizer builds run the unit tests only: no examples or benchmarks, line tables for the
# reports' stacks rather than full debug info, and lld, which links their ~50 test programs
# in a fraction of the time.
sanitizer=(-DTRYSTERO_BUILD_BENCH=OFF -DTRYSTERO_BUILD_EXAMPLES=OFF
           -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld)
case "$flavour" in
  release) dir=build; extra=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) dir=build-asan
        extra=(-DTRYSTERO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug "${sanitizer[@]}"
               -DCMAKE_C_FLAGS_DEBUG=-g1 -DCMAKE_CXX_FLAGS_DEBUG=-g1) ;;
  tsan) dir=build-tsan
        extra=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTRYSTERO_TSAN=ON
               -DCMAKE_BUILD_TYPE=RelWithDebInfo "${sanitizer[@]}"
               "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only -DNDEBUG"
               "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only -DNDEBUG") ;;
  *) echo "unknown flavour $flavour" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${common[@]}" "${extra[@]}" >/dev/null
ninja -C "$dir"

#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs the SDP fuzzer.
#   fuzz/run.sh [seconds] [extra libFuzzer flags...]
# New inputs found are written to build-fuzz/corpus/sdp (the checked-in seeds stay untouched);
# crashes land in build-fuzz/ as crash-* / leak-* / timeout-* files. Reproduce one with
#   build-fuzz/fuzz/sdp_fuzzer build-fuzz/crash-<hash>
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-60}"
[ $# -gt 0 ] && shift
cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DTRYSTERO_FUZZ=ON -DTRYSTERO_BUILD_TESTS=OFF -DTRYSTERO_BUILD_BENCH=OFF \
  -DTRYSTERO_BUILD_EXAMPLES=OFF -DTRYSTERO_ONLY="loop|rtc/sdp"
ninja -j1 -C build-fuzz sdp_fuzzer
mkdir -p build-fuzz/corpus/sdp
cd build-fuzz
./fuzz/sdp_fuzzer -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$@" corpus/sdp ../fuzz/corpus/sdp

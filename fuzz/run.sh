#!/bin/sh
# Builds a libFuzzer target with clang (ASan + UBSan) and runs it.
#   fuzz/run.sh [seconds] [extra libFuzzer flags...]          the SDP parser (sdp_fuzzer)
#   FUZZ_TARGET=action fuzz/run.sh [seconds] [flags...]       chunks + action JSON (action_fuzzer)
#   FUZZ_TARGET=rtdb fuzz/run.sh [seconds] [flags...]         Realtime Database frames (rtdb_fuzzer)
#   FUZZ_TARGET=rtp|rtcp fuzz/run.sh ...                       RTP packets, RTCP compounds
#   FUZZ_TARGET=vp8|h264|opus fuzz/run.sh ...                  depacketizers (packet sequences)
#   FUZZ_TARGET=media_file fuzz/run.sh ...                     IVF and Ogg Opus readers
# New inputs found are written to build-fuzz/corpus/<target> (the checked-in seeds stay
# untouched); crashes land in build-fuzz/ as crash-* / leak-* / timeout-* files. Reproduce one with
#   build-fuzz/fuzz/<target>_fuzzer build-fuzz/crash-<hash>
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-60}"
[ $# -gt 0 ] && shift
target="${FUZZ_TARGET:-sdp}"
case "$target" in
  sdp) max_len=16384 ;;
  action) max_len=65536 ;;
  rtdb) max_len=65536 ;;
  rtp|rtcp) max_len=2048 ;;
  vp8|h264|opus) max_len=16384 ;;
  media_file) max_len=65536 ;;
  *) echo "unknown FUZZ_TARGET $target (sdp, action, rtdb, rtp, rtcp, vp8, h264, opus, media_file)" >&2
     exit 2 ;;
esac
cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DTRYSTERO_FUZZ=ON -DTRYSTERO_BUILD_TESTS=OFF -DTRYSTERO_BUILD_BENCH=OFF \
  -DTRYSTERO_BUILD_EXAMPLES=OFF -DTRYSTERO_BUILD_TOOLS=OFF
ninja -j1 -C build-fuzz "${target}_fuzzer"
mkdir -p "build-fuzz/corpus/$target"
cd build-fuzz
"./fuzz/${target}_fuzzer" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 "$@" "corpus/$target" "../fuzz/corpus/$target"

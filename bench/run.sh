#!/usr/bin/env bash
# Runs the native data-channel benchmark and the libwebrtc baseline side by side (same
# machine, same run) and prints both with the ratios. Usage: bench/run.sh [seconds] [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
build=${2:-build}
native=$("$build/bench/datachannel_bench" "$seconds" 10 | tee /dev/stderr | tail -1)
if [ -d tests/interop/node_modules/@roamhq/wrtc ]; then
  baseline=$(node bench/baseline/wrtc_datachannel.mjs "$seconds" 10 | tee /dev/stderr | tail -1)
else
  echo "baseline skipped: run scripts/install-deps.sh for tests/interop/node_modules" >&2
  exit 0
fi
node -e '
const [n, b] = process.argv.slice(1).map(JSON.parse)
const row = (k, label, better) => console.log(
  `${label.padEnd(28)} ${n[k].toFixed(1).padStart(9)} ${b[k].toFixed(1).padStart(9)}   x${(better === "low" ? b[k] / n[k] : n[k] / b[k]).toFixed(2)}`)
console.log(`${"".padEnd(28)} ${"native".padStart(9)} ${"libwebrtc".padStart(9)}   advantage`)
row("setup_ms_median", "setup ms (median)", "low")
row("mb_per_s", "MB/s (16 KiB messages)", "high")
row("mb_per_cpu_s", "MB per CPU-second", "high")
' "$native" "$baseline"

# Media: one 2 Mbit/s video track to 1 and 4 peers, beside the same bytes over the data channel.
echo
"$build/bench/media_bench" "$seconds" 1,4

# Media latency: a browser's addStream to the first decoded frame, native receiver beside Chromium.
echo
if [ -x /usr/bin/chromium ] || [ -n "${CHROMIUM:-}" ]; then
  sh bench/media/run.sh 5 "$build" || echo "media latency bench skipped or failed (rc=$?)" >&2
else
  echo "media latency bench skipped: no Chromium" >&2
fi

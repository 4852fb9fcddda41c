#!/usr/bin/env bash
# Installs everything trystero-cpp needs on Debian 12: build dependencies (Debian packages),
# the relays and browser the interop tests run, and the npm packages of the JS test peers.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config clang lld libclang-rt-14-dev clang-format
  libglib2.0-dev libnice-dev libusrsctp-dev libssl-dev libsrtp2-dev libsoup-3.0-dev
  libvpx-dev libopus-dev
  glib-networking libgnutls28-dev libsecp256k1-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  coturn mosquitto chromium firefox-esr iproute2 util-linux
)
# Node.js may come from elsewhere (a newer build is often preinstalled); Debian's only if absent.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# coturn and mosquitto are started by the tests on loopback only; keep the packaged
# system services from holding their default ports.
for service in coturn mosquitto; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$service" >/dev/null 2>&1 || true; fi
done

if [ -f tests/interop/package-lock.json ]; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi

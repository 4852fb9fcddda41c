// Small helpers for tests of the WebRTC layer and above.
#pragma once

#include <dirent.h>

#include <chrono>
#include <cstddef>

#include "rtc/peer_connection.hpp"

namespace trystero::testing {

// Loopback candidates included (tests run in loopback-only namespaces), a short gathering bound.
inline rtc::Configuration loopbackRtcConfig() {
  rtc::Configuration config;
  config.allowLoopback = true;
  config.gatheringTimeout = std::chrono::milliseconds(2000);
  return config;
}

// This process's open file descriptors.
inline std::size_t openDescriptors() {
  std::size_t count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++count;
    closedir(dir);
  }
  return count;
}

}  // namespace trystero::testing

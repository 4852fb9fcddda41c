// Shared by the examples: every example takes `--relay URL` (repeatable) to use your own
// relays (e.g. `trystero relay`), `--local` to work on a machine with loopback only (no public
// STUN), and `--seconds N` to stay in the room N seconds instead of its default.
#pragma once

#include <trystero/trystero.hpp>

#include <chrono>
#include <string>

inline trystero::Config exampleConfig(int argc, char** argv, std::string appId) {
  trystero::Config config;
  config.appId = std::move(appId);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--relay" && i + 1 < argc) config.relayUrls.push_back(argv[++i]);
    if (arg == "--local") {
      config.rtcConfig = trystero::RtcConfig{};
      config.allowLoopback = true;
    }
  }
  return config;
}

inline std::chrono::seconds exampleSeconds(int argc, char** argv, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds") return std::chrono::seconds(std::stoi(argv[i + 1]));
  }
  return std::chrono::seconds(fallback);
}

// Shared by the examples: every example takes `--relay URL` (repeatable) to use your own
// relays, and `--local` to work on a machine with loopback only (no public STUN).
#pragma once

#include <trystero/trystero.hpp>

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

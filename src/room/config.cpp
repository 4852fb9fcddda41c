#include "room/config.hpp"

namespace trystero::room {

rtc::Configuration toRtcConfiguration(const Config& config) {
  rtc::Configuration out;
  auto add = [&](const IceServer& server) {
    out.iceServers.push_back({server.urls, server.username, server.credential});
  };
  if (config.rtcConfig) {
    for (const auto& server : config.rtcConfig->iceServers) add(server);
    if (config.rtcConfig->iceTransportPolicy == RtcConfig::IceTransportPolicy::Relay) {
      out.iceTransportPolicy = rtc::IceTransportPolicy::Relay;
    }
  } else {
    for (const char* url : {"stun:stun.l.google.com:19302", "stun:stun1.l.google.com:19302",
                            "stun:stun2.l.google.com:19302", "stun:stun.cloudflare.com:3478"}) {
      out.iceServers.push_back({{url}, "", ""});
    }
  }
  for (const auto& server : config.turnConfig) add(server);
  out.allowLoopback = config.allowLoopback;
  return out;
}

}  // namespace trystero::room

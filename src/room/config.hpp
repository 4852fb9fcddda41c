// Public Config -> transport configuration, as peer.js builds its RTCConfiguration.
#pragma once

#include "rtc/peer_connection.hpp"
#include "trystero/trystero.hpp"

namespace trystero::room {

// trystero's defaults: three Google STUN servers and Cloudflare's; rtcConfig replaces them,
// turnConfig is appended.
rtc::Configuration toRtcConfiguration(const Config& config);

}  // namespace trystero::room

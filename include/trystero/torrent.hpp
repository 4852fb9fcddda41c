// Rooms over WebTorrent trackers (trystero/torrent): peers meet by announcing to public
// WebSocket trackers, which relay their offers and answers. Wire-compatible with the
// trystero@0.22.0 JavaScript peers on the same trackers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero::torrent {

// Joins (or returns the already joined) room. The first call connects to the trackers:
// config.relayUrls when given, else the first relayRedundancy (default 3) of
// defaultRelayUrls(); later calls share those connections. Throws std::invalid_argument when
// appId or roomId is empty. Any thread.
std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError = {});

// The tracker connections (empty before the first joinRoom). Any thread.
std::vector<RelaySocketInfo> getRelaySockets();

// trystero's default trackers, in its order.
const std::vector<std::string>& defaultRelayUrls();

}  // namespace trystero::torrent

// Rooms over public MQTT brokers: the counterpart of `import {joinRoom} from 'trystero/mqtt'`.
//
//   #include <trystero/mqtt.hpp>
//   auto room = trystero::mqtt::joinRoom({.appId = "my-app"}, "lobby");
//
// Peers find each other through MQTT 3.1.1 over WebSocket exactly as trystero@0.22.0's mqtt
// strategy (mqtt.js) does: QoS 0 subscriptions to the room's root and self topics, presence and
// offers/answers published as JSON text. Native and JavaScript peers share rooms. By default
// every broker of defaultRelayUrls() is used (trystero asks for 4 of the 3; the list is not
// shuffled by appId); Config::relayUrls replaces the list, Config::relayRedundancy caps the
// count of defaults.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero::mqtt {

// Joins (or returns the already joined) room. Throws std::invalid_argument when appId or roomId
// is empty. The brokers are chosen by the first join of the process and shared by later rooms.
// Any thread.
std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError = {});

// The broker connections in use (empty before the first join). A connection is Open once its
// MQTT session is established. Any thread.
std::vector<RelaySocketInfo> getRelaySockets();

// trystero@0.22.0's default broker list, in its order.
const std::vector<std::string>& defaultRelayUrls();

}  // namespace trystero::mqtt

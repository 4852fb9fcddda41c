// Rooms over public Nostr relays: the counterpart of `import {joinRoom} from 'trystero/nostr'`.
//
//   #include <trystero/nostr.hpp>
//   auto room = trystero::nostr::joinRoom({.appId = "my-app"}, "lobby");
//
// Peers find each other through ephemeral NIP-01 events, exactly as trystero@0.22.0's nostr
// strategy publishes them, so native and JavaScript peers share rooms. By default each room uses
// 5 of defaultRelayUrls(), picked by a shuffle seeded from the appId (the same 5 the JS picks);
// Config::relayUrls replaces the list, Config::relayRedundancy changes the count.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero::nostr {

// Joins (or returns the already joined) room. Throws std::invalid_argument when appId or roomId
// is empty. The relays are chosen by the first join of the process and shared by later rooms.
// Any thread.
std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError = {});

// The relay connections in use (empty before the first join). Any thread.
std::vector<RelaySocketInfo> getRelaySockets();

// trystero@0.22.0's default relay list, in its order.
const std::vector<std::string>& defaultRelayUrls();

}  // namespace trystero::nostr

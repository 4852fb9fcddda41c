// Rooms over Supabase Realtime: the counterpart of `import {joinRoom} from 'trystero/supabase'`.
//
//   #include <trystero/supabase.hpp>
//   auto room = trystero::supabase::joinRoom(
//       {.appId = "https://<project-ref>.supabase.co", .supabaseKey = "<anon key>"}, "lobby");
//
// Peers find each other through broadcast messages on the project's Realtime channels, exactly
// as trystero@0.22.0's supabase strategy (supabase-js 2.109) sends them, so native and
// JavaScript peers share rooms. appId is the project URL (http:// or https://), supabaseKey its
// anon (publishable) key; relayUrls and relayRedundancy do not apply. One WebSocket per process
// to the project (the first join's appId and key), reconnected after 1, 2, 5 then every 10 s.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero::supabase {

// Joins (or returns the already joined) room. Throws std::invalid_argument when appId or roomId
// is empty, and on the first join of the process when appId is not an http(s) URL or
// supabaseKey is empty (supabase-js's createClient throws for these too). Refusals reach
// onJoinError in the server's words and are retried: a channel the project refuses to join
// ("supabase: the server refused to join a channel: <reason>") and a handshake it turns down
// (a wrong key: "supabase: ... (HTTP 401 Unauthorized)"), each once until it works again.
// Any thread.
std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError = {});

// The project connection (empty before the first join). Any thread.
std::vector<RelaySocketInfo> getRelaySockets();

}  // namespace trystero::supabase

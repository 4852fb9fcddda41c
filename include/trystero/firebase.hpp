// Rooms in a Firebase Realtime Database: the counterpart of
// `import {joinRoom, getOccupants} from 'trystero/firebase'`.
//
//   #include <trystero/firebase.hpp>
//   auto room = trystero::firebase::joinRoom({.appId = "https://my-db.firebaseio.com"}, "lobby");
//
// As in trystero@0.22.0 the appId is the database URL: https://<db>.firebaseio.com (or any
// https database URL), or a local emulator such as http://127.0.0.1:9000?ns=my-db (plain
// WebSocket, namespace from ?ns=). Peers write their presence and signals under
// Config::rootPath (default "__trystero__") exactly as trystero's firebase.js does, so native
// and JavaScript peers (the Firebase JS SDK) share rooms. The database rules must allow
// anonymous reads and writes under the root path (trystero's JS never signs in), or
// Config::firebaseAuthToken must carry a token they accept; what the database refuses (the
// token, reads, writes) reaches onJoinError in its own words.
//
// One WebSocket per database URL, shared by every room and by getOccupants(). The first join
// of the process picks the database and the root path for all later rooms, as the JS does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero::firebase {

// Joins (or returns the already joined) room. Throws std::invalid_argument when appId or roomId
// is empty or appId is not an http(s) database URL. Any thread.
std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError = {});

// The ids of the peers present in a room, without joining it: one read of the room's node.
// Unlike the JS (which lists the room's node keys, i.e. topic hashes) this lists the peer ids
// of the nodes that carry a presence. Fails (std::runtime_error) when the database does not
// answer within 30 s, or at once, in the database's words, when it refuses the read. Uses the
// database connection of config.appId and config.firebaseAuthToken (opening one if needed).
// Any thread.
Future<std::vector<std::string>> getOccupants(const Config& config, const std::string& roomId);

// The database connection in use (empty before the first join). It is Open once the server's
// handshake has arrived. Any thread.
std::vector<RelaySocketInfo> getRelaySockets();

}  // namespace trystero::firebase

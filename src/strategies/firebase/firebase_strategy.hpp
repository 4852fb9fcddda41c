// trystero's Firebase strategy (firebase.js): rooms meet in a Realtime Database. The database
// URL is the appId; one connection per database, shared by every room and by getOccupants.
//
// Layout, as trystero@0.22.0 writes it (root = Config::rootPath, default "__trystero__"):
//   /root/<rootTopic>/<selfTopic>/_                    {"peerId": selfId}   (presence)
//   /root/<rootTopic>/<peerTopic>/<selfId>/<pushId>    "<signal JSON text>" (a signal to peer)
// A room listens to /root/<rootTopic> (the SDK collapses trystero's listeners into that one
// `q`). A peer key that appears after the first value is a newcomer: its presence is handed to
// the engine (trystero ignores the peers already there until they re-announce). Signals under
// our own key are handed over once each and removed. announce() removes our node, then writes
// the presence again (so that every listener sees a newcomer again) and asks the server to
// remove it when we disconnect; leaving removes it at once (firebase-server never runs
// onDisconnect operations; the real service would remove it on its own too).
//
// What the database refuses (the auth token, reading the room, writing presence or signals)
// reaches the rooms concerned as a join error in the server's words, once per kind and room: a
// room whose rules deny it would otherwise just stay empty.
//
// Loop thread only (construction and destruction included).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "room/strategy.hpp"
#include "strategies/firebase/rtdb_connection.hpp"
#include "trystero/trystero.hpp"

namespace trystero::strategies::firebase {

inline constexpr const char* kDefaultRootPath = "__trystero__";
inline constexpr const char* kPresenceKey = "_";

// The peer ids whose presence is in a room's value (what getOccupants() reports).
std::vector<std::string> occupantsOf(const nlohmann::json& roomValue);

class FirebaseStrategy : public room::Strategy {
 public:
  FirebaseStrategy(std::shared_ptr<Connection> connection, std::string rootPath,
                   std::string selfId);
  ~FirebaseStrategy() override;
  FirebaseStrategy(const FirebaseStrategy&) = delete;
  FirebaseStrategy& operator=(const FirebaseStrategy&) = delete;

  std::size_t relayCount() const override { return 1; }
  void whenReady(std::size_t relay, std::function<void()> f) override;
  void subscribe(std::size_t relay, const std::string& rootTopic, const std::string& selfTopic,
                 MessageHandler handler) override;
  void unsubscribe(std::size_t relay, const std::string& rootTopic,
                   const std::string& selfTopic) override;
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& rootTopic,
                                                    const std::string& selfTopic) override;
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override;
  std::vector<RelaySocketInfo> relaySockets() const override;
  void setErrorHandler(ErrorHandler handler) override { errorHandler_ = std::move(handler); }

  const std::shared_ptr<Connection>& connection() const { return connection_; }
  std::string roomPath(const std::string& rootTopic) const;

 private:
  struct Room;
  void roomChanged(Room& room, const nlohmann::json& value);
  std::string roomPathForPeer(const std::string& peerTopic) const;
  // To the rooms the refusal concerns, or to `only`.
  void refused(const Connection::Refusal& refusal, const Room* only = nullptr);

  std::shared_ptr<Connection> connection_;
  const std::string rootPath_;
  const std::string selfId_;
  std::map<std::string, std::shared_ptr<Room>> rooms_;  // by rootTopic + "/" + selfTopic
  std::uint64_t subscriptions_ = 0;
  ErrorHandler errorHandler_;
  std::uint64_t refusalHandlerId_ = 0;
};

}  // namespace trystero::strategies::firebase

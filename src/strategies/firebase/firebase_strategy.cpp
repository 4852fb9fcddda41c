#include "strategies/firebase/firebase_strategy.hpp"

#include <glib.h>

#include "room/registry.hpp"

namespace trystero::strategies::firebase {

namespace {

using nlohmann::json;

// What trystero hands its handleMessage: a string is parsed there (JSON text), an object is
// used as it is; either way the engine gets JSON text.
std::string messageText(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

std::vector<std::string> occupantsOf(const json& roomValue) {
  std::vector<std::string> ids;
  if (!roomValue.is_object()) return ids;
  for (const auto& [key, node] : roomValue.items()) {
    if (!node.is_object()) continue;
    auto presence = node.find(kPresenceKey);
    if (presence == node.end() || !presence->is_object()) continue;
    auto peerId = presence->find("peerId");
    if (peerId != presence->end() && peerId->is_string()) ids.push_back(*peerId);
  }
  return ids;
}

struct FirebaseStrategy::Room {
  std::string rootTopic;
  std::string selfTopic;
  std::string path;      // /root/<rootTopic>
  std::string selfPath;  // path/<selfTopic>
  std::shared_ptr<MessageHandler> handler;
  std::uint64_t listenerId = 0;
  std::uint64_t order = 0;  // subscription order (the fallback room for unknown topics)
  bool synced = false;
  std::set<std::string> children;  // keys of the room at the last value
  // Signals handed over, per sender: each only once, as trystero's peerSignals. Keys the
  // server no longer has are forgotten (push ids are never reused).
  std::map<std::string, std::set<std::string>> delivered;
  bool left = false;
  std::set<std::string> reported;  // refusals told to the engine, by action and status
};

FirebaseStrategy::FirebaseStrategy(std::shared_ptr<Connection> connection, std::string rootPath,
                                   std::string selfId)
    : connection_(std::move(connection)),
      rootPath_(rootPath.empty() ? kDefaultRootPath : std::move(rootPath)),
      selfId_(std::move(selfId)) {
  refusalHandlerId_ = connection_->addRefusalHandler(
      [this](const Connection::Refusal& refusal) { refused(refusal); });
}

FirebaseStrategy::~FirebaseStrategy() {
  connection_->removeRefusalHandler(refusalHandlerId_);
  for (auto& [key, room] : rooms_) {
    room->left = true;
    connection_->unlisten(room->listenerId);
  }
}

std::string FirebaseStrategy::roomPath(const std::string& rootTopic) const {
  return joinPath(splitPath(rootPath_ + "/" + rootTopic));
}

void FirebaseStrategy::whenReady(std::size_t, std::function<void()> f) {
  connection_->whenConnected(std::move(f));
}

void FirebaseStrategy::subscribe(std::size_t, const std::string& rootTopic,
                                 const std::string& selfTopic, MessageHandler handler) {
  auto& slot = rooms_[rootTopic + "/" + selfTopic];
  if (slot) {
    *slot->handler = std::move(handler);
    return;
  }
  auto room = std::make_shared<Room>();
  room->rootTopic = rootTopic;
  room->selfTopic = selfTopic;
  room->path = roomPath(rootTopic);
  room->selfPath = room->path + "/" + selfTopic;
  room->handler = std::make_shared<MessageHandler>(std::move(handler));
  room->order = ++subscriptions_;
  std::weak_ptr<Room> weakRoom = room;
  room->listenerId = connection_->listen(room->path, [this, weakRoom](const json& value) {
    auto r = weakRoom.lock();
    if (r && !r->left) roomChanged(*r, value);
  });
  slot = std::move(room);
  // The server may have refused our token before this room came (the connection is shared and
  // starts with the first room): the room hears of it too, once the engine has it set up.
  if (connection_->authRefusal()) {
    connection_->whenConnected([this, weakRoom] {
      auto r = weakRoom.lock();
      if (r && !r->left && connection_->authRefusal())
        refused(*connection_->authRefusal(), r.get());
    });
  }
}

void FirebaseStrategy::unsubscribe(std::size_t, const std::string& rootTopic,
                                   const std::string& selfTopic) {
  auto it = rooms_.find(rootTopic + "/" + selfTopic);
  if (it == rooms_.end()) return;
  auto room = it->second;
  rooms_.erase(it);
  room->left = true;
  connection_->unlisten(room->listenerId);
  // firebase.js: remove(selfRef). Needed here even where onDisconnect would do it later: the
  // process may stay connected for other rooms (and firebase-server never runs onDisconnect).
  connection_->set(room->selfPath, nullptr);
  connection_->forgetOnDisconnect(room->selfPath);
}

std::optional<std::chrono::milliseconds> FirebaseStrategy::announce(std::size_t,
                                                                    const std::string& rootTopic,
                                                                    const std::string& selfTopic) {
  auto it = rooms_.find(rootTopic + "/" + selfTopic);
  if (it == rooms_.end()) return std::nullopt;
  // firebase.js: await remove(selfRef); set(selfRef, {_: {peerId}}); onDisconnect(selfRef).remove()
  std::weak_ptr<Room> weakRoom = it->second;
  std::weak_ptr<Connection> weakConnection = connection_;
  const std::string selfId = selfId_;
  connection_->set(it->second->selfPath, nullptr,
                   [weakRoom, weakConnection, selfId](const std::string& status) {
                     auto room = weakRoom.lock();
                     auto connection = weakConnection.lock();
                     // A refused remove rejects trystero's await: no presence then.
                     if (status != "ok" || !room || room->left || !connection) return;
                     connection->set(room->selfPath, {{kPresenceKey, {{"peerId", selfId}}}});
                     connection->onDisconnectRemove(room->selfPath);
                   });
  return std::nullopt;  // trystero's 5333 ms
}

void FirebaseStrategy::signal(std::size_t, const std::string& topic, const std::string& message) {
  // firebase.js handleMessage: push(child(roomRef, `${peerTopic}/${selfId}`)); onDisconnect
  // of the new ref, then set it to the message text.
  auto room = roomPathForPeer(topic);
  if (room.empty()) return;
  const std::string path = room + "/" + topic + "/" + selfId_ + "/" + connection_->nextPushId();
  connection_->onDisconnectRemove(path, false);
  connection_->set(path, message);
}

// The room whose value has the peer's node; else the latest room (a peer we never saw).
std::string FirebaseStrategy::roomPathForPeer(const std::string& peerTopic) const {
  const Room* latest = nullptr;
  for (const auto& [key, room] : rooms_) {
    if (room->children.count(peerTopic)) return room->path;
    if (!latest || room->order > latest->order) latest = room.get();
  }
  return latest ? latest->path : std::string();
}

void FirebaseStrategy::roomChanged(Room& room, const json& value) {
  std::vector<std::pair<std::string, std::string>> messages;  // (topic, text), in order
  std::set<std::string> children;
  if (value.is_object()) {
    for (const auto& [key, node] : value.items()) children.insert(key);
  }
  // firebase.js onChildAdded(roomRef), which ignores the children of the first value.
  if (room.synced) {
    for (const auto& key : children) {
      if (room.children.count(key)) continue;
      const auto& node = value.at(key);
      if (!node.is_object() || !node.contains(kPresenceKey)) continue;
      const auto& owner = node.at(kPresenceKey);
      if (owner.is_null() || owner == false || owner == "" || owner == 0) continue;
      messages.emplace_back(room.rootTopic, messageText(owner));
    }
  }
  room.synced = true;
  room.children = std::move(children);
  // firebase.js onChildAdded(selfRef) -> onChildAdded(signal queue of each peer).
  std::map<std::string, std::set<std::string>> present;
  const json* self =
      value.is_object() && value.contains(room.selfTopic) ? &value.at(room.selfTopic) : nullptr;
  if (self && self->is_object()) {
    for (const auto& [peerKey, queue] : self->items()) {
      if (peerKey == kPresenceKey || !queue.is_object()) continue;
      auto& seen = room.delivered[peerKey];
      for (const auto& [pushKey, signal] : queue.items()) {
        present[peerKey].insert(pushKey);
        if (!seen.insert(pushKey).second) continue;
        messages.emplace_back(room.selfTopic, messageText(signal));
        connection_->set(room.selfPath + "/" + peerKey + "/" + pushKey, nullptr);
      }
    }
  }
  room.delivered = std::move(present);
  auto handler = room.handler;  // may unsubscribe, and so release the room
  for (const auto& [topic, text] : messages) (*handler)(topic, text);
}

void FirebaseStrategy::refused(const Connection::Refusal& refusal, const Room* only) {
  if (!errorHandler_) return;
  std::vector<std::string> rootTopics;
  for (auto& [key, room] : rooms_) {
    if (only && room.get() != only) continue;
    const bool concerned = refusal.path.empty() || refusal.path == room->path ||
                           refusal.path.starts_with(room->path + "/");
    // Announces repeat every few seconds and each signal has a path of its own: one report of
    // each kind is enough.
    if (concerned && !room->left &&
        room->reported.insert(refusal.action + " " + refusal.status).second) {
      rootTopics.push_back(room->rootTopic);
    }
  }
  const std::string error = "firebase: " + refusal.describe();
  auto handler = errorHandler_;  // may leave rooms
  for (const auto& topic : rootTopics) handler(topic, error);
}

std::vector<RelaySocketInfo> FirebaseStrategy::relaySockets() const {
  RelaySocketInfo info;
  info.state = RelaySocketInfo::State::Closed;
  if (const auto& socket = connection_->socket()) info = room::describeRelaySocket(*socket);
  info.url = connection_->url();
  // Usable once the server's handshake came, not when the WebSocket opens.
  if (info.state == RelaySocketInfo::State::Open && !connection_->connected()) {
    info.state = RelaySocketInfo::State::Connecting;
  }
  info.opens = connection_->stats().handshakes;
  return {info};
}

}  // namespace trystero::strategies::firebase

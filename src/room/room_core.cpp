#include "room/room_core.hpp"

#include "crypto/crypto.hpp"

namespace trystero {

namespace {

const std::string kPing = "@_ping";
const std::string kPong = "@_pong";
const std::string kSignal = "@_signal";
const std::string kStream = "@_stream";
const std::string kTrack = "@_track";
const std::string kLeave = "@_leave";

// Keep this much queued in the SCTP stack per peer before waiting for bufferedamountlow.
constexpr std::size_t kHighWater = 1 << 20;
constexpr std::size_t kLowWater = 256 * 1024;

std::string encodeJson(const nlohmann::json& value) {
  // Like JSON.stringify on a JS string: invalid UTF-8 becomes U+FFFD instead of failing.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

struct SendJob {
  Promise<void> promise;
  std::size_t remaining = 0;
  std::function<void(double, const std::string&)> onProgress;
};

std::shared_ptr<RoomCore> RoomCore::create(loop::Loop& loop, std::string selfId, std::string appId,
                                           std::string roomId,
                                           std::function<void(const std::string&)> onPeerLeft,
                                           std::function<void()> onSelfLeave) {
  auto core = std::shared_ptr<RoomCore>(
      new RoomCore(loop, std::move(selfId), std::move(appId), std::move(roomId)));
  core->onPeerLeft_ = std::move(onPeerLeft);
  core->onSelfLeave_ = std::move(onSelfLeave);
  for (const auto* type : {&kPing, &kPong, &kSignal, &kStream, &kTrack, &kLeave}) {
    core->registerAction(*type);
  }
  return core;
}

RoomCore::~RoomCore() {
  for (auto& [id, state] : peers_) state.peer->destroy();
}

std::shared_ptr<Room> RoomCore::makeRoom() {
  if (auto existing = room_.lock()) return existing;
  auto room = std::shared_ptr<Room>(new Room(shared_from_this()));
  room_ = room;
  return room;
}

void RoomCore::registerAction(const std::string& type) { actions_.try_emplace(type); }

void RoomCore::setReceiver(const std::string& type, ReceiveHandler handler) {
  actions_[type].onReceive = std::move(handler);
}

void RoomCore::setProgress(const std::string& type, ProgressHandler handler) {
  actions_[type].onProgress = std::move(handler);
}

std::vector<std::string> RoomCore::peers() const {
  std::vector<std::string> ids;
  for (const auto& [id, state] : peers_) ids.push_back(id);
  return ids;
}

void RoomCore::addPeer(std::shared_ptr<room::Peer> peer, const std::string& peerId) {
  if (left_ || peers_.count(peerId)) return;
  auto& state = peers_[peerId];
  state.peer = peer;
  std::weak_ptr<RoomCore> weak = weak_from_this();
  peer->setHandlers({
      nullptr,
      [weak, peerId] {
        if (auto self = weak.lock()) self->exitPeer(peerId, "connection closed");
      },
      [weak, peerId](std::span<const std::uint8_t> data) {
        if (auto self = weak.lock()) self->handleData(peerId, data);
      },
  });
  if (auto* channel = peer->channel()) {
    channel->setBufferedAmountLowThreshold(kLowWater);
    channel->onBufferedAmountLow([weak, peerId] {
      if (auto self = weak.lock()) self->pump(peerId);
    });
  }
  if (onPeerJoin_) onPeerJoin_(peerId);
}

Future<void> RoomCore::send(const std::string& type, Payload data, const Targets& targets,
                            Metadata meta,
                            std::function<void(double, const std::string&)> onProgress) {
  auto job = std::make_shared<SendJob>();
  job->onProgress = std::move(onProgress);
  auto future = job->promise.future();
  if (left_) {
    job->promise.reject("trystero: the room was left");
    return future;
  }
  auto action = actions_.find(type);
  if (action == actions_.end()) action = actions_.try_emplace(type).first;

  room::PayloadKind kind = room::PayloadKind::kText;
  std::vector<std::uint8_t> bytes;
  switch (data.kind()) {
    case Payload::Kind::Text:
      kind = room::PayloadKind::kText;
      bytes.assign(data.text().begin(), data.text().end());
      break;
    case Payload::Kind::Json: {
      kind = room::PayloadKind::kJson;
      auto text = encodeJson(data.json());
      bytes.assign(text.begin(), text.end());
      break;
    }
    case Payload::Kind::Binary:
      kind = room::PayloadKind::kBinary;
      bytes = data.bytes();
      break;
  }
  std::optional<std::string> metaJson;
  if (meta) metaJson = encodeJson(*meta);
  auto encoder = std::make_shared<room::ChunkEncoder>(type, action->second.nonce, kind,
                                                      std::move(bytes), std::move(metaJson));
  action->second.nonce = static_cast<std::uint8_t>(action->second.nonce + 1);

  std::vector<std::string> ids;
  if (targets.all()) {
    ids = peers();
  } else {
    for (const auto& id : targets.ids()) {
      if (peers_.count(id)) {
        ids.push_back(id);
      } else {
        g_message("trystero: no peer with id %s found", id.c_str());
      }
    }
  }
  job->remaining = ids.size();
  if (ids.empty()) {
    job->promise.resolve();
    return future;
  }
  for (const auto& id : ids) {
    peers_[id].outgoing.push_back({encoder, 0, job});
    pump(id);
  }
  return future;
}

void RoomCore::pump(const std::string& peerId) {
  auto it = peers_.find(peerId);
  if (it == peers_.end() || it->second.pumping) return;
  it->second.pumping = true;
  while (true) {
    it = peers_.find(peerId);  // callbacks below may change the peer map
    if (it == peers_.end()) return;
    auto& state = it->second;
    auto* channel = state.peer->channel();
    if (state.outgoing.empty() || !channel || channel->bufferedAmount() > kHighWater) break;
    Outgoing current = std::move(state.outgoing.front());
    state.outgoing.pop_front();
    current.encoder->writeChunk(current.next, scratch_);
    if (!state.peer->send(scratch_)) {
      state.outgoing.push_front(std::move(current));
      break;  // not writable now; the close handler fails the job if the channel is gone
    }
    double progress = scratch_[room::kProgressIndex] / 255.0;
    ++current.next;
    bool done = current.next >= current.encoder->chunkCount();
    auto job = current.job;
    if (!done) state.outgoing.push_back(std::move(current));
    if (job->onProgress) job->onProgress(progress, peerId);
    if (done && --job->remaining == 0) job->promise.resolve();
  }
  if (it != peers_.end()) it->second.pumping = false;
}

void RoomCore::handleData(const std::string& peerId, std::span<const std::uint8_t> data) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto chunk = room::parseChunk(data);
  if (!chunk) {
    ++stats_.droppedChunks;
    return;
  }
  auto action = actions_.find(chunk->type);
  if (action == actions_.end()) {
    ++stats_.droppedChunks;
    g_debug("trystero: received message with unregistered type (%s)", chunk->type.c_str());
    return;
  }
  auto before = it->second.reassembler.stats().droppedTransmissions();
  auto result = it->second.reassembler.feed(*chunk);
  stats_.droppedTransmissions += it->second.reassembler.stats().droppedTransmissions() - before;
  if (result.progress && action->second.onProgress) {
    Metadata meta;
    if (result.progress->meta) {
      auto parsed = nlohmann::json::parse(*result.progress->meta, nullptr, false);
      if (!parsed.is_discarded()) meta = std::move(parsed);
    }
    auto handler = action->second.onProgress;
    handler(result.progress->progress, peerId, meta);
  }
  if (result.message) deliver(peerId, std::move(*result.message));
}

void RoomCore::deliver(const std::string& peerId, room::Message message) {
  if (message.type.size() > 2 && message.type[0] == '@' && message.type[1] == '_') {
    return handleInternal(peerId, message.type);
  }
  auto action = actions_.find(message.type);
  if (action == actions_.end() || !action->second.onReceive) return;
  Metadata meta;
  std::optional<Payload> payload;
  switch (message.kind) {
    case room::PayloadKind::kBinary:
      if (message.meta) {
        auto parsed = nlohmann::json::parse(*message.meta, nullptr, false);
        if (!parsed.is_discarded()) meta = std::move(parsed);
      }
      payload.emplace(std::move(message.bytes));
      break;
    case room::PayloadKind::kText:
      payload.emplace(crypto::textDecode(message.bytes));
      break;
    case room::PayloadKind::kJson: {
      auto parsed = nlohmann::json::parse(crypto::textDecode(message.bytes), nullptr, false);
      if (parsed.is_discarded()) {
        ++stats_.droppedTransmissions;
        return;
      }
      payload.emplace(std::move(parsed));
      break;
    }
  }
  auto handler = action->second.onReceive;
  handler(*payload, peerId, meta);
}

void RoomCore::handleInternal(const std::string& peerId, const std::string& type) {
  if (type == kPing) {
    sendInternal(kPong, peerId);
  } else if (type == kPong) {
    auto it = peers_.find(peerId);
    if (it == peers_.end()) return;
    auto pongs = std::move(it->second.pongs);
    it->second.pongs.clear();
    auto now = g_get_monotonic_time();
    for (auto& [promise, start] : pongs) promise.resolve((now - start) / 1000.0);
  } else if (type == kLeave) {
    exitPeer(peerId, "peer left the room");
  }
  // @_signal, @_stream and @_track carry media renegotiation: handled with media support.
}

Future<void> RoomCore::sendInternal(const std::string& type, const std::string& peerId) {
  return send(type, Payload(std::string()), peerId.empty() ? Targets() : Targets(peerId),
              std::nullopt, {});
}

Future<double> RoomCore::ping(const std::string& peerId) {
  Promise<double> promise;
  auto it = peers_.find(peerId);
  if (it == peers_.end()) {
    promise.reject("trystero: no peer with id " + peerId);
    return promise.future();
  }
  it->second.pongs.emplace_back(promise, g_get_monotonic_time());
  sendInternal(kPing, peerId);
  return promise.future();
}

void RoomCore::exitPeer(const std::string& peerId, const std::string& reason) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto state = std::move(it->second);
  peers_.erase(it);
  state.peer->destroy();
  for (auto& outgoing : state.outgoing) {
    outgoing.job->promise.reject("trystero: peer " + peerId + " is gone: " + reason);
  }
  for (auto& [promise, start] : state.pongs) {
    promise.reject("trystero: peer " + peerId + " is gone: " + reason);
  }
  if (onPeerLeave_) onPeerLeave_(peerId);
  if (onPeerLeft_) onPeerLeft_(peerId);
}

Future<void> RoomCore::leave() {
  Promise<void> done;
  if (left_) {
    done.resolve();
    return done.future();
  }
  sendInternal(kLeave, "");
  left_ = true;
  std::weak_ptr<RoomCore> weak = weak_from_this();
  auto self = shared_from_this();  // the room stays alive until it has left
  loop_.callLater(std::chrono::milliseconds(99), [self, done] {
    auto peers = std::move(self->peers_);
    self->peers_.clear();
    for (auto& [id, state] : peers) {
      state.peer->destroy();
      for (auto& outgoing : state.outgoing) outgoing.job->promise.reject("trystero: room left");
      for (auto& [promise, start] : state.pongs) promise.reject("trystero: room left");
    }
    if (self->onSelfLeave_) self->onSelfLeave_();
    auto resolve = done;
    resolve.resolve();
  });
  return done.future();
}

}  // namespace trystero

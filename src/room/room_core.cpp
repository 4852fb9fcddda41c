#include "room/room_core.hpp"

#include <algorithm>

#include "crypto/crypto.hpp"
#include "room/local_track.hpp"
#include "room/remote_track.hpp"
#include "util/json_limits.hpp"

namespace trystero {

namespace {

constexpr std::int64_t kLeaveDrainMs = 2000;

const std::string kPing = "@_ping";
const std::string kPong = "@_pong";
const std::string kSignal = "@_signal";
const std::string kStream = "@_stream";
const std::string kTrack = "@_track";
const std::string kLeave = "@_leave";

// Keep this much queued in the SCTP stack per peer before waiting for bufferedamountlow.
constexpr std::size_t kHighWater = 1 << 20;
constexpr std::size_t kLowWater = 256 * 1024;
// Standbys per peer at most (one per relay is the most trystero makes).
constexpr std::size_t kMaxStandbys = 16;
// Probes of a new primary (see "Listening" in the header): every interval, and after this many
// unanswered ones the primary is used anyway (a remote that never answers pings).
constexpr std::chrono::milliseconds kProbeInterval{50};
constexpr int kMaxProbes = 100;
// How long a standby being ended may take to hand over what the remote sent on it.
constexpr std::chrono::milliseconds kGracefulClose{5000};
// How long the next group of our media waits for the peer's answer to the offer of the one
// before, when that answer does not come (the peer's offer crossed ours and carried them).
constexpr std::chrono::milliseconds kAnswerWait{5000};
// Metadata a standby holds for the peer's sections on it, at most (per standby).
constexpr std::size_t kMaxHeldSectionMeta = 64;

// Logged at the 1st, 2nd, 4th, 8th... drop, so a flood costs a few lines, not one per message.
void warnDeepJson(std::uint64_t dropped, const std::string& peerId) {
  if ((dropped & (dropped - 1)) != 0) return;
  g_warning("trystero: dropped JSON from peer %s nested deeper than %zu levels (%llu so far)",
            peerId.c_str(), util::kMaxJsonDepth, static_cast<unsigned long long>(dropped));
}

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

// While one is alive, user code waits (RoomCore::userCode); the last one to go runs it.
class RoomCore::Hold {
 public:
  explicit Hold(RoomCore& core) : core_(core.shared_from_this()) { ++core_->holding_; }
  ~Hold() {
    if (--core_->holding_ > 0) return;
    while (!core_->deferred_.empty() && core_->holding_ == 0) {
      auto batch = std::move(core_->deferred_);
      core_->deferred_.clear();
      for (auto& f : batch) f();
    }
  }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

 private:
  std::shared_ptr<RoomCore> core_;
};

void RoomCore::userCode(std::function<void()> f) {
  if (holding_ > 0) return deferred_.push_back(std::move(f));
  f();
}

std::shared_ptr<RoomCore> RoomCore::create(loop::Loop& loop, std::string selfId, std::string appId,
                                           std::string roomId,
                                           std::function<void(const std::string&)> onPeerLeft,
                                           std::function<void()> onSelfLeave,
                                           std::chrono::milliseconds standbyGrace) {
  auto core = std::shared_ptr<RoomCore>(
      new RoomCore(loop, std::move(selfId), std::move(appId), std::move(roomId)));
  core->onPeerLeft_ = std::move(onPeerLeft);
  core->onSelfLeave_ = std::move(onSelfLeave);
  core->standbyGrace_ = standbyGrace;
  for (const auto* type : {&kPing, &kPong, &kSignal, &kStream, &kTrack, &kLeave}) {
    core->registerAction(*type);
  }
  return core;
}

RoomCore::~RoomCore() {
  for (auto& [id, state] : peers_) destroyConnections(state);
}

void RoomCore::destroyConnections(PeerState& state) {
  state.awaiting.cancel();
  state.probeTimer.cancel();
  state.youngTimer.cancel();
  state.young = false;
  state.sentYoung.clear();
  auto standbys = std::move(state.standbys);
  state.standbys.clear();
  for (auto& standby : standbys) {
    standby.timer.cancel();
    standby.peer->destroy();
  }
  auto closing = std::move(state.closing);
  state.closing.clear();
  for (auto& standby : closing) standby.peer->destroy();
  state.peer->destroy();
  endRemoteTracks(state);
}

// The peer's media came on the primary connection only: with it, its tracks end.
void RoomCore::endRemoteTracks(PeerState& state) {
  auto tracks = std::move(state.tracks);
  state.tracks.clear();
  userCode([tracks = std::move(tracks)] {
    for (const auto& entry : tracks) entry.second->end();
  });
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

bool RoomCore::addPeer(std::shared_ptr<room::Peer> peer, const std::string& peerId) {
  if (left_ || peers_.count(peerId)) return false;
  peers_[peerId].peer = peer;
  attachPrimary(peerId, peer);
  if (onPeerJoin_) onPeerJoin_(peerId);
  return true;
}

bool RoomCore::replacePeer(std::shared_ptr<room::Peer> peer, const std::string& peerId) {
  if (left_) return false;
  exitPeer(peerId, "it joined again");
  return addPeer(std::move(peer), peerId);
}

void RoomCore::attachPrimary(const std::string& peerId, const std::shared_ptr<room::Peer>& peer) {
  std::weak_ptr<RoomCore> weak = weak_from_this();
  const room::Peer* raw = peer.get();
  peer->setHandlers({
      nullptr,
      [weak, peerId] {
        if (auto self = weak.lock()) self->primaryClosed(peerId);
      },
      [weak, peerId, raw](std::span<const std::uint8_t> data) {
        if (auto self = weak.lock()) self->handleData(peerId, raw, data);
      },
  });
  if (auto* channel = peer->channel()) {
    channel->setBufferedAmountLowThreshold(kLowWater);
    channel->onBufferedAmountLow([weak, peerId] {
      if (auto self = weak.lock()) self->pump(peerId);
    });
  }
  auto& state = peers_[peerId];
  state.youngTimer.cancel();
  state.sentYoung.clear();
  state.young = true;
  state.youngTimer = peerTimer(standbyGrace_ / 3, peerId, [](RoomCore&, PeerState& young) {
    young.youngTimer = {};
    young.young = false;
    young.sentYoung.clear();
  });
  state.listening = false;
  state.probes = 0;
  state.probeTimer.cancel();
  if (left_) return heard(peerId);
  probe(peerId);
}

void RoomCore::probe(const std::string& peerId) {
  auto it = peers_.find(peerId);
  if (it == peers_.end() || it->second.listening) return;
  auto& state = it->second;
  if (++state.probes > kMaxProbes) {
    g_debug("trystero: %s: no answer on the new connection; using it anyway", peerId.c_str());
    return heard(peerId);
  }
  auto& ping = actions_[kPing];
  auto encoder = std::make_shared<room::ChunkEncoder>(kPing, ping.nonce, room::PayloadKind::kText,
                                                      std::vector<std::uint8_t>{});
  ping.nonce = static_cast<std::uint8_t>(ping.nonce + 1);
  // Ahead of everything else, and only one at a time.
  std::erase_if(state.outgoing, [](const Outgoing& o) { return o.probe && o.next == 0; });
  state.outgoing.push_front({encoder, 0, nullptr, true});
  state.probeTimer = peerTimer(kProbeInterval, peerId, [peerId](RoomCore& self, PeerState& peer) {
    peer.probeTimer = {};
    self.probe(peerId);
  });
  pump(peerId);
}

void RoomCore::heard(const std::string& peerId) {
  auto it = peers_.find(peerId);
  if (it == peers_.end() || it->second.listening) return;
  auto& state = it->second;
  state.listening = true;
  state.probeTimer.cancel();
  std::erase_if(state.outgoing, [](const Outgoing& o) { return o.probe && o.next == 0; });
  pump(peerId);
}

void RoomCore::swapPrimary(const std::string& peerId, const room::Peer* standbyPeer) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto& state = it->second;
  auto next = std::find_if(state.standbys.begin(), state.standbys.end(),
                           [standbyPeer](const Standby& s) { return s.peer.get() == standbyPeer; });
  if (next == state.standbys.end() || next->peer->isDead() || !next->peer->isOpen()) return;
  Hold hold(*this);
  g_debug("trystero: %s: the remote answers on a standby: it becomes the primary", peerId.c_str());
  auto promoted = std::move(*next);
  state.standbys.erase(next);
  promoted.timer.cancel();
  auto old = std::move(state.peer);
  auto oldReassembler = std::move(state.reassembler);
  auto oldMeta = std::exchange(state.nextMeta, std::move(promoted.nextMeta));
  state.metaBySection = std::move(promoted.metaBySection);
  state.peer = std::move(promoted.peer);
  state.reassembler = std::move(promoted.reassembler);
  // Nothing but probes went out on the old primary (it was never heard), so nothing is sent
  // again; a message cut short on it starts over on the new one.
  auto strandedMeta = redirectSignals(peerId, state, old);
  for (auto& outgoing : state.outgoing) outgoing.next = 0;
  std::erase_if(state.outgoing, [](const Outgoing& o) { return o.probe; });
  carryMediaOver(peerId, state, old, std::move(strandedMeta));
  attachPrimary(peerId, state.peer);
  heard(peerId);
  offerWaitingMedia(peerId);
  if (!old->isDead() && old->isOpen()) {
    // Kept as a standby: the remote may still send on it.
    Standby demoted;
    demoted.peer = std::move(old);
    demoted.reassembler = std::move(oldReassembler);
    demoted.nextMeta = std::move(oldMeta);
    addStandbyState(peerId, std::move(demoted));
  } else {
    old->destroy();
  }
}

bool RoomCore::addStandby(std::shared_ptr<room::Peer> peer, const std::string& peerId) {
  auto it = peers_.find(peerId);
  if (left_ || it == peers_.end() || peer->isDead() || !peer->isOpen()) return false;
  auto& state = it->second;
  if (state.peer == peer) return true;
  for (const auto& standby : state.standbys) {
    if (standby.peer == peer) return true;
  }
  if (state.standbys.size() >= kMaxStandbys) return false;
  Standby standby;
  standby.peer = std::move(peer);
  addStandbyState(peerId, std::move(standby));
  // The primary is gone and this is the connection we were waiting for: take it over now.
  if (state.awaiting) primaryClosed(peerId);
  return true;
}

void RoomCore::addStandbyState(const std::string& peerId, Standby standby) {
  auto& state = peers_[peerId];
  std::weak_ptr<RoomCore> weak = weak_from_this();
  const room::Peer* raw = standby.peer.get();
  standby.peer->setHandlers({
      nullptr,
      [weak, peerId, raw] {
        if (auto self = weak.lock()) self->dropStandby(peerId, raw);
      },
      [weak, peerId, raw](std::span<const std::uint8_t> data) {
        if (auto self = weak.lock()) self->handleData(peerId, raw, data);
      },
  });
  // The convergence rule (see the header): the smaller selfId ends its standbys after the grace
  // period, the larger only after three times that, so both never close theirs at once.
  auto grace = selfId_ < peerId ? standbyGrace_ : 3 * standbyGrace_;
  standby.timer = loop_.after(grace, [weak, peerId, raw] {
    if (auto self = weak.lock()) self->dropStandby(peerId, raw, /*graceful=*/true);
  });
  state.standbys.push_back(std::move(standby));
}

void RoomCore::dropStandby(const std::string& peerId, const room::Peer* peer, bool graceful) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto& standbys = it->second.standbys;
  auto standby = std::find_if(standbys.begin(), standbys.end(),
                              [peer](const Standby& s) { return s.peer.get() == peer; });
  if (standby == standbys.end()) return;
  auto doomed = std::move(*standby);
  standbys.erase(standby);
  doomed.timer.cancel();
  // A standby whose time is up may be the remote's primary, with its messages in flight: close
  // it the way SCTP delivers them (the remote promotes its own standby meanwhile).
  if (!graceful) return doomed.peer->destroy();
  doomed.timer = {};
  auto closingPeer = doomed.peer;
  it->second.closing.push_back(std::move(doomed));
  std::weak_ptr<RoomCore> weak = weak_from_this();
  closingPeer->closeGracefully(kGracefulClose, [weak, peerId, peer] {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->peers_.find(peerId);
    if (it == self->peers_.end()) return;
    std::erase_if(it->second.closing, [peer](const Standby& s) { return s.peer.get() == peer; });
  });
}

void RoomCore::primaryClosed(const std::string& peerId) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto& state = it->second;
  auto next = std::find_if(state.standbys.begin(), state.standbys.end(),
                           [](const Standby& s) { return !s.peer->isDead() && s.peer->isOpen(); });
  if (next == state.standbys.end()) {
    if (state.awaiting) return;  // already waiting
    if (left_ || !hasPendingConnection_ || !hasPendingConnection_(peerId)) {
      return exitPeer(peerId, "connection closed");
    }
    g_debug("trystero: %s: primary connection closed, awaiting another", peerId.c_str());
    // Wait for the connection on its way (addStandby ends the wait); meanwhile the dead primary
    // refuses sends, which stay queued. A primary that died young stays so while we wait.
    state.peer->destroy();
    state.youngTimer.cancel();
    state.awaiting = peerTimer(standbyGrace_, peerId, [peerId](RoomCore& self, PeerState& peer) {
      peer.awaiting = {};
      self.exitPeer(peerId, "connection closed");
    });
    return;
  }
  state.awaiting.cancel();
  Hold hold(*this);

  // Promote it silently: same peer, no leave/join.
  g_debug("trystero: %s: primary connection closed, standby promoted%s", peerId.c_str(),
          state.young ? " (messages sent on the young primary go again)" : "");
  auto standby = std::move(*next);
  state.standbys.erase(next);
  standby.timer.cancel();
  auto dead = std::move(state.peer);
  state.peer = std::move(standby.peer);
  // Partial messages that came on the dead connection can never complete (their sender does
  // not go on elsewhere); those on the promoted one are kept.
  state.reassembler = std::move(standby.reassembler);
  state.nextMeta = std::move(standby.nextMeta);
  state.metaBySection = std::move(standby.metaBySection);
  dead->destroy();
  // Sends: a message that was partly sent on the dead connection starts over from its first
  // chunk, with the same nonce, on the new one. Its chunks already sent may or may not have
  // arrived, so sending only the rest would leave a gap; receivers never mix the two copies: a
  // native receiver reassembles per connection, and a JS receiver either dropped the dead
  // connection's data (its extra connections get no data handler) or lost the peer with it,
  // which clears its pending state. The sender's progress callback starts over for it.
  // Messages completed on the dead connection are sent again (first, in their order) only if
  // it died young; else they are not: the remote was using it.
  auto strandedMeta = redirectSignals(peerId, state, nullptr);
  for (auto& outgoing : state.outgoing) outgoing.next = 0;
  if (state.young) {
    auto again = std::move(state.sentYoung);
    state.sentYoung.clear();
    for (auto& outgoing : again) outgoing.next = 0;
    state.outgoing.insert(state.outgoing.begin(), std::make_move_iterator(again.begin()),
                          std::make_move_iterator(again.end()));
  }
  carryMediaOver(peerId, state, dead, std::move(strandedMeta));
  attachPrimary(peerId, state.peer);
  // A ping may have gone out on the dead connection: ask again (the first pong answers all).
  if (!state.pongs.empty()) sendInternal(kPing, peerId);
  pump(peerId);
  offerWaitingMedia(peerId);
}

std::size_t RoomCore::connectionCount(const std::string& peerId) const {
  auto it = peers_.find(peerId);
  return it == peers_.end() ? 0 : 1 + it->second.standbys.size();
}

const room::Peer* RoomCore::primaryForTest(const std::string& peerId) const {
  auto it = peers_.find(peerId);
  return it == peers_.end() ? nullptr : it->second.peer.get();
}

void RoomCore::dropPrimaryForTest(const std::string& peerId) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  it->second.peer->destroy();
  primaryClosed(peerId);
}

std::shared_ptr<room::ChunkEncoder> RoomCore::encode(const std::string& type, const Payload& data,
                                                     const Metadata& meta) {
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
  return encoder;
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
  auto encoder = encode(type, data, meta);

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
    auto& state = peers_[id];
    state.outgoing.push_back({encoder, 0, job});
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
    auto pick = state.outgoing.begin();
    if (!state.listening) {
      // Until the remote is heard on this connection, only probes go out on it.
      pick = std::find_if(state.outgoing.begin(), state.outgoing.end(),
                          [](const Outgoing& o) { return o.probe; });
      if (pick == state.outgoing.end()) break;
    }
    Outgoing current = std::move(*pick);
    state.outgoing.erase(pick);
    if (current.connection && current.connection != state.peer.get()) {
      // Belongs to a connection that is not the primary any more (redirectSignals missed it).
      if (current.job) {
        userCode([job = current.job] {
          job->promise.reject("trystero: its connection closed before it was sent");
        });
      }
      continue;
    }
    current.encoder->writeChunk(current.next, scratch_);
    if (!state.peer->send(scratch_)) {
      state.outgoing.push_front(std::move(current));
      // Not writable now; the close handler promotes a standby (and restarts this message) or
      // fails the job if the channel is gone.
      break;
    }
    double progress = scratch_[room::kProgressIndex] / 255.0;
    ++current.next;
    bool done = current.next >= current.encoder->chunkCount();
    auto job = current.job;
    if (!done) {
      state.outgoing.push_back(std::move(current));
    } else if (state.young && !current.probe && !current.connection) {
      state.sentYoung.push_back({current.encoder, 0, nullptr});
    } else if (current.mediaOffer && !state.unansweredMids.empty()) {
      awaitAnswer(peerId, state);
    }
    if (!job) continue;  // sent again after a promotion
    const bool complete = done && --job->remaining == 0;
    userCode([job, progress, peerId, complete] {
      if (job->onProgress) job->onProgress(progress, peerId);
      if (complete) job->promise.resolve();
    });
  }
  if (it != peers_.end()) it->second.pumping = false;
}

void RoomCore::handleData(const std::string& peerId, const room::Peer* from,
                          std::span<const std::uint8_t> data) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) {
    g_debug("trystero: %s: %zu bytes from a peer not in the room: dropped", peerId.c_str(),
            data.size());
    return;
  }
  room::Reassembler* reassembler = nullptr;
  if (it->second.peer.get() == from) {
    if (!it->second.listening) {
      heard(peerId);
      it = peers_.find(peerId);
      if (it == peers_.end()) return;
    }
    reassembler = &it->second.reassembler;
  } else {
    if (!it->second.listening) {
      // The remote answers on another connection than our primary: it uses that one.
      bool isStandby = std::any_of(it->second.standbys.begin(), it->second.standbys.end(),
                                   [from](const Standby& s) { return s.peer.get() == from; });
      if (isStandby) {
        swapPrimary(peerId, from);
        it = peers_.find(peerId);
        if (it == peers_.end()) return;
        if (it->second.peer.get() == from) reassembler = &it->second.reassembler;
      }
    }
    if (auto* standby = standbyOf(it->second, from)) reassembler = &standby->reassembler;
  }
  if (!reassembler) {
    g_debug("trystero: %s: %zu bytes on a connection the room no longer holds: dropped",
            peerId.c_str(), data.size());
    return;
  }
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
  auto before = reassembler->stats().droppedTransmissions();
  auto deepBefore = reassembler->stats().deepMeta;
  auto result = reassembler->feed(*chunk);
  stats_.droppedTransmissions += reassembler->stats().droppedTransmissions() - before;
  if (reassembler->stats().deepMeta != deepBefore) {
    stats_.droppedDeepJson += reassembler->stats().deepMeta - deepBefore;
    warnDeepJson(stats_.droppedDeepJson, peerId);
  }
  if (result.progress && action->second.onProgress) {
    Metadata meta;
    if (result.progress->meta) {
      auto parsed = util::parseJsonBounded(*result.progress->meta);
      if (!parsed.is_discarded()) meta = std::move(parsed);
    }
    auto handler = action->second.onProgress;
    handler(result.progress->progress, peerId, meta);
  }
  if (result.message) deliver(peerId, from, std::move(*result.message));
}

void RoomCore::deliver(const std::string& peerId, const room::Peer* from, room::Message message) {
  if (message.type.size() > 2 && message.type[0] == '@' && message.type[1] == '_') {
    return handleInternal(peerId, from, message);
  }
  auto action = actions_.find(message.type);
  if (action == actions_.end() || !action->second.onReceive) return;
  Metadata meta;
  std::optional<Payload> payload;
  switch (message.kind) {
    case room::PayloadKind::kBinary:
      if (message.meta) {
        auto parsed = util::parseJsonBounded(*message.meta);
        if (!parsed.is_discarded()) meta = std::move(parsed);
      }
      payload.emplace(std::move(message.bytes));
      break;
    case room::PayloadKind::kText:
      payload.emplace(crypto::textDecode(message.bytes));
      break;
    case room::PayloadKind::kJson: {
      util::JsonRejection rejection = util::JsonRejection::kNone;
      auto parsed = util::parseJsonBounded(crypto::textDecode(message.bytes), util::kMaxJsonDepth,
                                           &rejection);
      if (parsed.is_discarded()) {
        ++stats_.droppedTransmissions;
        if (rejection == util::JsonRejection::kTooDeep) {
          warnDeepJson(++stats_.droppedDeepJson, peerId);
        }
        return;
      }
      payload.emplace(std::move(parsed));
      break;
    }
  }
  auto handler = action->second.onReceive;
  handler(*payload, peerId, meta);
}

void RoomCore::handleInternal(const std::string& peerId, const room::Peer* from,
                              const room::Message& message) {
  const std::string& type = message.type;
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
  } else if (type == kSignal) {
    renegotiate(peerId, from, message);
  } else if (type == kStream || type == kTrack) {
    // The metadata of the stream or track the peer adds next (sent before it, as JSON or text).
    Metadata meta;
    auto text = crypto::textDecode(message.bytes);
    if (message.kind == room::PayloadKind::kJson) {
      auto parsed = util::parseJsonBounded(text);
      if (parsed.is_discarded()) return;
      meta = std::move(parsed);
    } else {
      meta = nlohmann::json(text);
    }
    // It pairs with the offer that follows on the same connection: a standby keeps its own.
    auto it = peers_.find(peerId);
    if (it == peers_.end()) return;
    NextMediaMeta* slots = nullptr;
    if (it->second.peer.get() == from) {
      slots = &it->second.nextMeta;
    } else if (auto* standby = standbyOf(it->second, from)) {
      slots = &standby->nextMeta;
    }
    if (slots) (type == kStream ? slots->stream : slots->track) = std::move(meta);
  }
}

namespace {
// The media sections of an SDP in a line, for the debug log of renegotiations: "mid direction".
std::string mediaSummary(const std::string& sdp) {
  std::string out;
  std::size_t start = 0;
  while (start < sdp.size() && out.size() < 400) {
    auto end = sdp.find('\n', start);
    if (end == std::string::npos) end = sdp.size();
    std::string_view line(sdp.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("m=")) out += (out.empty() ? "" : ", ") + std::string(line.substr(2, 5));
    if (line.starts_with("a=mid:")) out += " " + std::string(line.substr(6));
    if (line == "a=sendrecv" || line == "a=sendonly" || line == "a=recvonly" ||
        line == "a=inactive") {
      out += " " + std::string(line.substr(2));
    }
    start = end + 1;
  }
  return out;
}
}  // namespace

// A browser that adds or removes a track renegotiates on the live connection: its offer comes
// as {type, sdp} JSON on @_signal, and our answer goes back the same way (media.md). Until media
// lands the answer rejects the audio and video sections, so that the remote's connection returns
// to a stable state and the data channel carries on.
// Every connection to the peer negotiates on its own, standbys included: while the two sides
// sort out which one they keep, the remote's primary may be our standby, and an offer it makes
// there is answered there (perfect negotiation per connection, as between two browsers).
void RoomCore::renegotiate(const std::string& peerId, const room::Peer* from,
                           const room::Message& message) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto connection = connectionFrom(it->second, from);
  if (!connection) return;
  if (message.kind != room::PayloadKind::kJson) return;
  auto signal = util::parseJsonBounded(crypto::textDecode(message.bytes));
  if (!signal.is_object() || !signal.contains("type") || !signal["type"].is_string() ||
      !signal.contains("sdp") || !signal["sdp"].is_string()) {
    ++stats_.droppedTransmissions;
    return;
  }
  const auto& type = signal["type"].get_ref<const std::string&>();
  g_debug("trystero: %s: %s on @_signal%s: %s", peerId.c_str(), type.c_str(),
          connection == it->second.peer ? "" : " of a standby",
          mediaSummary(signal["sdp"].get_ref<const std::string&>()).c_str());
  if (type == "answer") {
    // To an offer of ours (media we send); a stale one is refused by the connection.
    connection->signal(
        {rtc::SdpType::Answer, signal["sdp"].get<std::string>()},
        [weak = weak_from_this(), peerId, weakConnection = std::weak_ptr(connection)](auto) {
          auto self = weak.lock();
          auto answered = weakConnection.lock();
          if (self && answered) self->mediaAnswered(peerId, answered.get());
        });
    return;
  }
  if (type != "offer") return;
  if (onPeerTrack_ || onPeerStream_) receiveMediaOn(peerId, connection);
  std::weak_ptr<RoomCore> weak = weak_from_this();
  rtc::SessionDescription offer{rtc::SdpType::Offer, signal["sdp"].get<std::string>()};
  connection->signal(
      offer, [weak, peerId, weakConnection = std::weak_ptr(connection)](auto answer) {
        auto self = weak.lock();
        auto current = weakConnection.lock();
        if (!answer) g_debug("trystero: %s: its offer is not answered", peerId.c_str());
        if (!self || !current || !answer) return;
        g_debug("trystero: %s: our answer: %s", peerId.c_str(), mediaSummary(answer->sdp).c_str());
        self->signalOn(peerId, current, "answer", answer->sdp);
      });
}

RoomCore::Standby* RoomCore::standbyOf(PeerState& state, const room::Peer* from) {
  for (auto* list : {&state.standbys, &state.closing}) {
    for (auto& standby : *list) {
      if (standby.peer.get() == from) return &standby;
    }
  }
  return nullptr;
}

std::shared_ptr<room::Peer> RoomCore::connectionFrom(const PeerState& state,
                                                     const room::Peer* from) {
  if (state.peer.get() == from) return state.peer;
  for (const auto& standby : state.standbys) {
    if (standby.peer.get() == from) return standby.peer;
  }
  return nullptr;
}

void RoomCore::signalOn(const std::string& peerId, const std::shared_ptr<room::Peer>& connection,
                        const std::string& type, const std::string& sdp) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  if (!connectionFrom(it->second, connection.get())) return;  // gone meanwhile
  auto text = encodeJson(nlohmann::json{{"type", type}, {"sdp", sdp}});
  auto& nonce = actions_[kSignal].nonce;
  auto encoder =
      std::make_shared<room::ChunkEncoder>(kSignal, nonce, room::PayloadKind::kJson,
                                           std::vector<std::uint8_t>(text.begin(), text.end()));
  nonce = static_cast<std::uint8_t>(nonce + 1);
  // On the primary, queued in order after the @_stream/@_track metadata before it.
  if (connection == it->second.peer) {
    Outgoing description{encoder, 0, nullptr, false, connection.get()};
    description.mediaOffer = type == "offer";
    it->second.outgoing.push_back(std::move(description));
    pump(peerId);
    return;
  }
  // A standby has no queue (nothing else is sent on it): the few chunks of a description go
  // straight into its channel's buffer.
  if (!sendWhole(*connection, *encoder)) {
    g_debug("trystero: %s: a %s on a standby could not be sent", peerId.c_str(), type.c_str());
  }
}

bool RoomCore::sendWhole(room::Peer& connection, const room::ChunkEncoder& encoder) {
  for (std::size_t i = 0; i < encoder.chunkCount(); ++i) {
    if (!connection.send(encoder.chunk(i))) return false;
  }
  return true;
}

std::vector<RoomCore::Outgoing> RoomCore::redirectSignals(
    const std::string& peerId, PeerState& state, const std::shared_ptr<room::Peer>& formerPrimary) {
  std::vector<Outgoing> strandedMeta;
  std::deque<Outgoing> kept;
  for (auto& outgoing : state.outgoing) {
    if (!outgoing.connection || outgoing.connection == state.peer.get()) {
      kept.push_back(std::move(outgoing));
      continue;
    }
    // Descriptions for that connection go on it if it lives on (a standby negotiates on its
    // own), unless they were cut short there; so does a copy of media metadata, which the
    // remote pairs with the tracks of the offer after it. The metadata itself goes again, with
    // its tracks, on the new primary (carryMediaOver), and its future waits for that.
    auto standby = connectionFrom(state, outgoing.connection);
    if (!standby && formerPrimary && formerPrimary.get() == outgoing.connection &&
        !formerPrimary->isDead()) {
      standby = formerPrimary;
    }
    if (!standby || outgoing.next != 0 || !sendWhole(*standby, *outgoing.encoder)) {
      g_debug("trystero: %s: a message for a former primary could not be sent", peerId.c_str());
    }
    if (outgoing.mediaGroup != 0) strandedMeta.push_back(std::move(outgoing));
  }
  state.outgoing = std::move(kept);
  return strandedMeta;
}

void RoomCore::receiveMediaOn(const std::string& peerId,
                              const std::shared_ptr<room::Peer>& connection) {
  if (connection->receivesMedia()) return;
  std::weak_ptr<RoomCore> weak = weak_from_this();
  // Routed only while the connection is the primary: a standby's mids may be the primary's too.
  auto tracksOf = [weak, peerId, source = connection.get()](
                      const std::string& mid) -> std::shared_ptr<RemoteTrack::State>* {
    auto self = weak.lock();
    if (!self) return nullptr;
    auto it = self->peers_.find(peerId);
    if (it == self->peers_.end() || it->second.peer.get() != source) return nullptr;
    auto track = it->second.tracks.find(mid);
    return track == it->second.tracks.end() ? nullptr : &track->second;
  };
  rtc::PeerConnection::MediaHandlers handlers;
  handlers.section = [weak, peerId,
                      source = connection.get()](const rtc::PeerConnection::RemoteMedia& media) {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->peers_.find(peerId);
    if (it == self->peers_.end()) return;
    if (it->second.peer.get() == source) return self->remoteTrack(peerId, media);
    // A standby's track fires once it is the primary (announceMediaAgain), with the metadata
    // that came before it on that connection: kept by section, as later offers refill the slots.
    for (auto& standby : it->second.standbys) {
      if (standby.peer.get() != source) continue;
      if (standby.metaBySection.size() < kMaxHeldSectionMeta ||
          standby.metaBySection.count(media.mid)) {
        standby.metaBySection[media.mid] = std::exchange(standby.nextMeta, {});
      }
    }
  };
  handlers.rtp = [tracksOf](const std::string& mid, std::span<const std::uint8_t> packet) {
    auto* track = tracksOf(mid);
    if (!track) return;
    auto state = *track;  // the frame handler may leave the room
    state->push(packet);
  };
  handlers.ended = [tracksOf, weak, peerId](const std::string& mid) {
    auto* track = tracksOf(mid);
    if (!track) return;
    auto state = std::move(*track);
    if (auto self = weak.lock()) self->peers_[peerId].tracks.erase(mid);
    state->end();
  };
  connection->receiveMedia(std::move(handlers));
}

// A track the peer sends: onPeerTrack, then onPeerStream, with the pending metadata (JS order).
void RoomCore::remoteTrack(const std::string& peerId,
                           const rtc::PeerConnection::RemoteMedia& media) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto state = RemoteTrack::State::create(media.trackId, media.kind, media.codec, media.clockRate);
  if (!state) return;
  // Feedback goes to the section on whichever connection is the primary when it is sent.
  auto onSection = [&loop = loop_, weak = weak_from_this(), peerId, mid = media.mid](
                       std::function<void(rtc::PeerConnection&, const std::string&)> f) {
    loop.post([weak, peerId, mid, f = std::move(f)] {
      auto self = weak.lock();
      if (!self) return;
      auto it = self->peers_.find(peerId);
      auto* pc = it == self->peers_.end() ? nullptr : connectionOf(it->second);
      if (pc) f(*pc, mid);
    });
  };
  state->keyframeRequester = [onSection] {
    onSection([](rtc::PeerConnection& pc, const std::string& mid) { pc.requestKeyframe(mid); });
  };
  if (media.kind == "video") {
    state->recoverLostPackets(loop_, [onSection](std::vector<std::uint16_t> missing) {
      onSection([missing = std::move(missing)](rtc::PeerConnection& pc, const std::string& mid) {
        pc.requestRetransmission(mid, missing);
      });
    });
  }
  // Another track on the same section (the peer's codec or track changed): the old one ended.
  if (auto old = std::exchange(it->second.tracks[media.mid], state)) {
    userCode([old] { old->end(); });
  }
  auto& held = it->second.metaBySection;
  NextMediaMeta meta;
  if (auto kept = held.find(media.mid); kept != held.end()) {
    meta = std::move(kept->second);
    held.erase(kept);
  } else {
    meta = std::exchange(it->second.nextMeta, {});
  }
  auto trackMeta = std::move(meta.track);
  auto streamMeta = std::move(meta.stream);
  userCode([onTrack = onPeerTrack_, onStream = onPeerStream_, state, streamId = media.streamId,
            peerId, trackMeta = std::move(trackMeta), streamMeta = std::move(streamMeta)] {
    if (onTrack) onTrack(std::make_shared<RemoteTrack>(state), streamId, peerId, trackMeta);
    if (onStream) onStream(streamId, peerId, streamMeta);
  });
}

// ---- media we send ----------------------------------------------------------------------------

// As room.js: per target, the metadata first (@_stream or @_track), then the tracks go onto the
// connection, which offers them over @_signal (see offerMedia).
std::vector<std::string> RoomCore::presentPeers(const Targets& targets) const {
  std::vector<std::string> ids;
  if (targets.all()) {
    for (const auto& [id, state] : peers_) ids.push_back(id);
  } else {
    for (const auto& id : targets.ids()) {
      if (peers_.count(id)) ids.push_back(id);
    }
  }
  return ids;
}

// @_stream / @_track: the metadata of the next stream or track (a string goes as text).
std::shared_ptr<room::ChunkEncoder> RoomCore::encodeMediaMeta(bool asStream,
                                                              const nlohmann::json& meta) {
  Payload payload = meta.is_string() ? Payload(meta.get<std::string>()) : Payload(meta);
  return encode(asStream ? kStream : kTrack, payload, std::nullopt);
}

// The future completes once the metadata went out to every target (at once without metadata):
// with each group's turn (see PeerState), possibly after earlier groups were answered.
Future<void> RoomCore::addTracks(const std::vector<std::shared_ptr<LocalTrack::State>>& tracks,
                                 const std::string& streamId, const Targets& targets,
                                 const Metadata& meta, bool asStream) {
  auto ids = presentPeers(targets);
  auto job = std::make_shared<SendJob>();
  auto future = job->promise.future();
  std::shared_ptr<room::ChunkEncoder> metaEncoder;
  if (meta && !ids.empty()) metaEncoder = encodeMediaMeta(asStream, *meta);
  job->remaining = metaEncoder ? ids.size() : 0;
  const auto group = ++mediaGroups_;
  for (const auto& id : ids) {
    MediaGroup waiting{group, tracks, streamId, asStream, meta, std::nullopt};
    if (metaEncoder) waiting.metaMessage = Outgoing{metaEncoder, 0, job, false, nullptr, group};
    peers_[id].waitingMedia.push_back(std::move(waiting));
  }
  if (!metaEncoder) job->promise.resolve();
  for (const auto& id : ids) offerWaitingMedia(id);
  return future;
}

void RoomCore::offerWaitingMedia(const std::string& peerId) {
  auto it = peers_.find(peerId);
  if (it == peers_.end()) return;
  auto& state = it->second;
  auto* pc = connectionOf(state);
  bool queued = false;
  while (pc && state.unansweredMids.empty() && !state.waitingMedia.empty()) {
    auto group = std::move(state.waitingMedia.front());
    state.waitingMedia.pop_front();
    std::vector<std::shared_ptr<LocalTrack::State>> fresh;
    for (const auto& track : group.tracks) {
      const bool already =
          std::any_of(state.localTracks.begin(), state.localTracks.end(),
                      [&](const auto& entry) { return entry.second.track == track; }) ||
          std::find(fresh.begin(), fresh.end(), track) != fresh.end();
      if (!already) fresh.push_back(track);
    }
    if (fresh.empty()) {
      // Its tracks go to the peer already (added by an earlier call): the metadata would fill
      // the peer's slot with no track to pair it with, so it is not sent (as the JS, whose
      // addTrack of a track already on the connection throws).
      if (group.metaMessage && group.metaMessage->job) {
        userCode([job = group.metaMessage->job, empty = group.tracks.empty()] {
          job->promise.reject(empty ? "trystero: metadata with no track to go with it"
                                    : "trystero: that media already goes to the peer");
        });
      }
      continue;
    }
    if (group.metaMessage) {
      group.metaMessage->next = 0;
      group.metaMessage->connection = state.peer.get();
      state.outgoing.push_back(std::move(*group.metaMessage));
      queued = true;
    }
    sendMediaTo(peerId, state);
    for (const auto& track : fresh) {
      auto mid = pc->addLocalMedia({track->kind, track->codec, group.streamId, track->id});
      state.localTracks[mid] = {track,          group.id,       ++localSends_,
                                group.streamId, group.asStream, group.meta};
      track->bindings.push_back({weak_from_this(), peerId, mid});
      state.unansweredMids.push_back(mid);
    }
  }
  if (!state.unansweredMids.empty() && !state.answerWait) awaitAnswer(peerId, state);
  if (queued) pump(peerId);
}

// The fallback for an answer that never comes counts from when our offer left: the offer may wait
// in the queue (behind a probing new primary, or a full channel) for longer than that.
void RoomCore::awaitAnswer(const std::string& peerId, PeerState& state) {
  state.answerWait = peerTimer(kAnswerWait, peerId, [peerId](RoomCore& self, PeerState& peer) {
    const bool offerQueued = std::any_of(peer.outgoing.begin(), peer.outgoing.end(),
                                         [](const Outgoing& o) { return o.mediaOffer; });
    if (offerQueued) return self.awaitAnswer(peerId, peer);
    g_debug("trystero: %s: no answer for our media; the next goes anyway", peerId.c_str());
    peer.answerWait = {};
    peer.unansweredMids.clear();
    self.offerWaitingMedia(peerId);
  });
}

loop::Timer RoomCore::peerTimer(std::chrono::milliseconds delay, const std::string& peerId,
                                std::function<void(RoomCore&, PeerState&)> then) {
  return loop_.after(delay, [weak = weak_from_this(), peerId, then = std::move(then)] {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->peers_.find(peerId);
    if (it != self->peers_.end()) then(*self, it->second);
  });
}

void RoomCore::mediaAnswered(const std::string& peerId, const room::Peer* connection) {
  auto it = peers_.find(peerId);
  if (it == peers_.end() || it->second.peer.get() != connection) return;
  auto& state = it->second;
  auto* pc = connectionOf(state);
  if (!pc || state.unansweredMids.empty()) return;
  std::erase_if(state.unansweredMids,
                [pc](const std::string& mid) { return pc->sectionAnswered(mid); });
  if (!state.unansweredMids.empty()) return;
  state.answerWait.cancel();
  offerWaitingMedia(peerId);
}

// The new primary is a connection the peer has had all along: its tracks there are new (the ones
// on the old primary ended), and ours are offered on it again, each group after its metadata, as
// to a peer that just joined, so that a stream added while the connections were being sorted out
// (in onPeerJoin, say) is not lost with the connection the peer dropped. Metadata still queued
// for the old connection goes with its group, its future with it.
void RoomCore::carryMediaOver(const std::string& peerId, PeerState& state,
                              const std::shared_ptr<room::Peer>& former,
                              std::vector<Outgoing> strandedMeta) {
  endRemoteTracks(state);
  state.sendingMedia = false;
  state.unansweredMids.clear();
  state.answerWait.cancel();
  auto* formerPc = former ? former->connection() : nullptr;
  // In the order they were added (the map is by mid, which is random).
  std::vector<std::pair<std::string, LocalSend>> sends(
      std::make_move_iterator(state.localTracks.begin()),
      std::make_move_iterator(state.localTracks.end()));
  state.localTracks.clear();
  std::sort(sends.begin(), sends.end(),
            [](const auto& x, const auto& y) { return x.second.order < y.second.order; });
  std::map<std::uint64_t, MediaGroup> again;  // by group id: in call order
  for (const auto& [mid, send] : sends) {
    // The old connection lives on as a standby the remote does not use: its sections stop.
    if (formerPc) formerPc->removeLocalMedia(mid);
    std::erase_if(send.track->bindings, [&, &mid = mid](const LocalTrack::State::Binding& binding) {
      return binding.peerId == peerId && binding.mid == mid && binding.core.lock().get() == this;
    });
    auto& group = again[send.group];
    group.id = send.group;
    group.tracks.push_back(send.track);
    group.streamId = send.streamId;
    group.asStream = send.asStream;
    group.meta = send.meta;
  }
  for (auto& meta : strandedMeta) {
    auto group = again.find(meta.mediaGroup);
    if (group != again.end()) {
      group->second.metaMessage = std::move(meta);
    } else if (meta.job) {
      // Its tracks were removed before they reached the peer.
      userCode([job = meta.job] {
        job->promise.reject("trystero: the media was removed before it reached the peer");
      });
    }
  }
  if (!again.empty()) {
    g_debug("trystero: %s: %zu groups of our tracks offered again on the new primary",
            peerId.c_str(), again.size());
  }
  for (auto group = again.rbegin(); group != again.rend(); ++group) {
    // Sent on the old connection already: again, with nobody waiting.
    if (group->second.meta && !group->second.metaMessage) {
      group->second.metaMessage =
          Outgoing{encodeMediaMeta(group->second.asStream, *group->second.meta),
                   0,
                   nullptr,
                   false,
                   nullptr,
                   group->first};
    }
    state.waitingMedia.push_front(std::move(group->second));
  }
  // What the peer already sends on the new primary (its onPeerTrack waits: user code).
  if (auto* pc = connectionOf(state); pc && state.peer->receivesMedia()) pc->announceMediaAgain();
}

void RoomCore::rejectWaitingMedia(PeerState& state, const std::string& reason) {
  for (auto& group : state.waitingMedia) {
    if (group.metaMessage && group.metaMessage->job) group.metaMessage->job->promise.reject(reason);
  }
  state.waitingMedia.clear();
}

Future<void> RoomCore::replaceTrack(const std::shared_ptr<LocalTrack::State>& from,
                                    const std::shared_ptr<LocalTrack::State>& to,
                                    const Targets& targets, const Metadata& meta) {
  auto ids = presentPeers(targets);
  // The JS sends the metadata to every target, whether or not it was sent the old track.
  Future<void> metaSent;
  if (meta && !ids.empty()) {
    Payload payload = meta->is_string() ? Payload(meta->get<std::string>()) : Payload(*meta);
    metaSent = send(kTrack, std::move(payload), Targets(ids), std::nullopt, {});
  } else {
    Promise<void> done;
    done.resolve();
    metaSent = done.future();
  }
  std::vector<std::string> switched;
  for (const auto& id : ids) {
    auto& state = peers_[id];
    auto* pc = connectionOf(state);
    for (auto& group : state.waitingMedia) {
      if (from != to) std::replace(group.tracks.begin(), group.tracks.end(), from, to);
    }
    for (auto& entry : state.localTracks) {
      const auto& mid = entry.first;
      if (entry.second.track != from || from == to) continue;
      entry.second.track = to;
      std::erase_if(from->bindings, [&](const LocalTrack::State::Binding& binding) {
        return binding.peerId == id && binding.mid == mid && binding.core.lock().get() == this;
      });
      to->bindings.push_back({weak_from_this(), id, mid});
      if (pc) pc->continueTimeline(mid);
      switched.push_back(id);
    }
  }
  // After the walk: the user's handler may add or remove tracks.
  if (to->kind == "video") {
    for (const auto& id : switched) to->keyframeRequested(id);
  }
  return metaSent;
}

void RoomCore::removeTracks(const std::vector<std::shared_ptr<LocalTrack::State>>& tracks,
                            const Targets& targets) {
  Hold hold(*this);  // a rejected future's continuation may add media: not while we walk
  for (auto& [id, peer] : peers_) {
    if (!targets.all() &&
        std::find(targets.ids().begin(), targets.ids().end(), id) == targets.ids().end()) {
      continue;
    }
    PeerState& state = peer;  // a structured binding, which clang's lambdas cannot capture
    auto* pc = connectionOf(state);
    auto removed = [&](const std::shared_ptr<LocalTrack::State>& track) {
      return std::find(tracks.begin(), tracks.end(), track) != tracks.end();
    };
    for (auto entry = state.localTracks.begin(); entry != state.localTracks.end();) {
      if (!removed(entry->second.track)) {
        ++entry;
        continue;
      }
      if (pc) pc->removeLocalMedia(entry->first);
      entry = state.localTracks.erase(entry);
    }
    // Metadata queued for tracks that are all gone now would fill the peer's slot with nothing
    // to pair it with (once its first chunk left, it goes on).
    std::erase_if(state.outgoing, [&](const Outgoing& outgoing) {
      if (outgoing.mediaGroup == 0 || outgoing.next != 0) return false;
      const bool tracksLeft =
          std::any_of(state.localTracks.begin(), state.localTracks.end(),
                      [&](const auto& entry) { return entry.second.group == outgoing.mediaGroup; });
      if (tracksLeft) return false;
      if (outgoing.job) {
        userCode([job = outgoing.job] {
          job->promise.reject("trystero: the media was removed before it reached the peer");
        });
      }
      return true;
    });
    for (auto group = state.waitingMedia.begin(); group != state.waitingMedia.end();) {
      std::erase_if(group->tracks, removed);
      if (!group->tracks.empty()) {
        ++group;
        continue;
      }
      if (group->metaMessage && group->metaMessage->job) {
        userCode([job = group->metaMessage->job] {
          job->promise.reject("trystero: the media was removed before it reached the peer");
        });
      }
      group = state.waitingMedia.erase(group);
    }
  }
}

RoomCore::TrackSend RoomCore::sendTrackFrame(const std::string& peerId, const std::string& mid,
                                             const MediaFrame& frame) {
  auto it = peers_.find(peerId);
  if (it == peers_.end() || !it->second.localTracks.count(mid)) return TrackSend::kGone;
  auto* pc = connectionOf(it->second);
  if (!pc) return TrackSend::kGone;
  return pc->sendFrame(mid, frame.data, frame.rtpTimestamp) ? TrackSend::kSent : TrackSend::kNotYet;
}

// The primary connection to a peer makes offers for our tracks, and hands keyframe requests to
// the tracks.
void RoomCore::sendMediaTo(const std::string& peerId, PeerState& state) {
  if (state.sendingMedia) return;
  state.sendingMedia = true;
  std::weak_ptr<RoomCore> weak = weak_from_this();
  std::weak_ptr<room::Peer> weakPeer = state.peer;
  auto* pc = state.peer->connection();
  pc->onNegotiationNeeded([weak, peerId, weakPeer] {
    if (auto self = weak.lock()) self->offerMedia(peerId, weakPeer);
  });
  pc->onKeyframeRequest([weak, peerId](const std::string& mid) {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->peers_.find(peerId);
    if (it == self->peers_.end()) return;
    auto track = it->second.localTracks.find(mid);
    if (track == it->second.localTracks.end()) return;
    auto state = track->second.track;  // the handler may remove the track
    state->keyframeRequested(peerId);
  });
}

void RoomCore::offerMedia(const std::string& peerId, const std::weak_ptr<room::Peer>& weakPeer) {
  auto peer = weakPeer.lock();
  auto it = peers_.find(peerId);
  if (!peer || it == peers_.end() || !peer->connection()) return;
  // The primary, or a former one whose sections stopped when it was demoted.
  auto connection = connectionFrom(it->second, peer.get());
  if (!connection) return;
  // Our sections are offered both ways when we take media, so that the peer can send on them.
  if (onPeerTrack_ || onPeerStream_) receiveMediaOn(peerId, connection);
  std::weak_ptr<RoomCore> weak = weak_from_this();
  peer->connection()->createOffer([weak, peerId, weakPeer](auto offer, const std::string& error) {
    auto self = weak.lock();
    auto current = weakPeer.lock();
    if (!offer) {
      g_debug("trystero: %s: no offer for our media yet: %s", peerId.c_str(), error.c_str());
      return;
    }
    if (!self || !current) return;
    g_debug("trystero: %s: our offer: %s", peerId.c_str(), mediaSummary(offer->sdp).c_str());
    self->signalOn(peerId, current, "offer", offer->sdp);
  });
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
  auto state = std::make_shared<PeerState>(std::move(it->second));
  peers_.erase(it);
  destroyConnections(*state);
  userCode([this, state, peerId, error = "trystero: peer " + peerId + " is gone: " + reason] {
    for (auto& outgoing : state->outgoing) {
      if (outgoing.job) outgoing.job->promise.reject(error);
    }
    for (auto& [promise, start] : state->pongs) promise.reject(error);
    rejectWaitingMedia(*state, error);
    if (onPeerLeave_) onPeerLeave_(peerId);
    if (onPeerLeft_) onPeerLeft_(peerId);
  });
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
  // As room.js: the leave message gets 99 ms. Unlike it, the connections then stay up until
  // what was already sent has been acknowledged (at most kLeaveDrainMs more), so a send whose
  // future resolved before leave() is not cut off in flight.
  auto deadline = loop_.nowMs() + kLeaveDrainMs;
  auto finish = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weakFinish = finish;
  *finish = [self, done, deadline, weakFinish] {
    bool draining = false;
    for (auto& [id, state] : self->peers_) {
      auto* channel = state.peer ? state.peer->channel() : nullptr;
      bool internalQueued = std::any_of(state.outgoing.begin(), state.outgoing.end(),
                                        [](const Outgoing& o) { return !o.job; });
      if (internalQueued || (channel && !channel->drained())) draining = true;
    }
    if (draining && self->loop_.nowMs() < deadline) {
      if (auto next = weakFinish.lock()) {
        self->leaving_ = self->loop_.after(std::chrono::milliseconds(10), [next] { (*next)(); });
      }
      return;
    }
    auto peers = std::move(self->peers_);
    self->peers_.clear();
    for (auto& [id, state] : peers) {
      self->destroyConnections(state);
      for (auto& outgoing : state.outgoing) {
        if (outgoing.job) outgoing.job->promise.reject("trystero: room left");
      }
      for (auto& [promise, start] : state.pongs) promise.reject("trystero: room left");
      self->rejectWaitingMedia(state, "trystero: room left");
    }
    if (self->onSelfLeave_) self->onSelfLeave_();
    auto resolve = done;
    resolve.resolve();
  };
  leaving_ = loop_.after(std::chrono::milliseconds(99), [finish] { (*finish)(); });
  return done.future();
}

}  // namespace trystero

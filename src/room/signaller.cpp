#include "room/signaller.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "room/connection_budget.hpp"
#include "room/room_core.hpp"
#include "util/json_limits.hpp"

namespace trystero::room {

namespace {

constexpr std::size_t kMaxSignalBytes = 256 * 1024;
// trystero's ids are 20 characters; anything this long is not a peer, and every id we keep
// (pending offers, topic cache) costs its length.
constexpr std::size_t kMaxPeerIdBytes = 128;
// Peers of one room we are making offers to at once (each is one connection per relay).
constexpr std::size_t kMaxPendingPeersPerRoom = 128;

std::string topicPath(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts) {
    if (!out.empty()) out += '@';
    out += part;
  }
  return out;
}

}  // namespace

struct Signaller::Session : std::enable_shared_from_this<Session> {
  std::weak_ptr<Signaller> owner;
  Config config;
  std::string roomId;
  std::string rootPlain, rootTopic, selfTopic;
  crypto::SignalKey key;
  JoinErrorHandler onJoinError;
  std::map<std::string, std::map<std::size_t, std::shared_ptr<Peer>>> pendingOffers;
  std::set<std::string> connectedPeers;  // the room core holds their connections
  // A connection on its way to the peer peerId.
  struct Pending {
    std::string peerId;
    std::shared_ptr<Peer> peer;
  };
  // Our offers to a peer that connected through another relay meanwhile: kept for the standby
  // grace period in case they open (the remote may keep that one), then destroyed.
  std::map<Peer*, Pending> lingering;
  // Answering peers between their answer and their connection (or death); also offers handed
  // out through getOffers once their answer came.
  std::map<Peer*, Pending> answering;
  // Offers handed out through getOffers, by handle, until answered or expired.
  std::map<std::uint64_t, std::shared_ptr<Peer>> offered;
  std::map<std::string, std::string> topicCache;
  std::vector<std::chrono::milliseconds> intervals;
  std::vector<loop::Loop::TimerId> announceTimers;
  std::shared_ptr<RoomCore> core;
  // Self-rescheduling announce closures, owned here so leaving the room ends them.
  std::vector<std::shared_ptr<std::function<void()>>> announcers;
  bool left = false;

  Session(const Config& c, const std::string& room, const std::string& selfId)
      : config(c),
        roomId(room),
        rootPlain(topicPath({"Trystero", c.appId, room})),
        rootTopic(crypto::topicHash(rootPlain)),
        selfTopic(crypto::topicHash(topicPath({rootPlain, selfId}))),
        key(c.password, c.appId, room) {}

  // {type, sdp} in the JS key order, so that messages match JSON.stringify byte for byte.
  nlohmann::ordered_json sealed(const rtc::SessionDescription& description) const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    out["type"] = rtc::toString(description.type);
    out["sdp"] = key.seal(description.sdp);
    return out;
  }

  // The peer's {type, sdp} with sdp opened; nullopt when it does not decrypt.
  std::optional<rtc::SessionDescription> opened(const nlohmann::json& signal,
                                                rtc::SdpType expected) const {
    if (!signal.is_object() || !signal.contains("sdp") || !signal["sdp"].is_string()) {
      return std::nullopt;
    }
    auto plain = key.open(signal["sdp"].get<std::string>());
    if (!plain) return std::nullopt;
    return rtc::SessionDescription{expected, *plain};
  }

  // Destroys a handed-out offer (if still there); erased first since destroy() calls back.
  void dropOffered(std::uint64_t handle) {
    auto it = offered.find(handle);
    if (it == offered.end()) return;
    auto peer = std::move(it->second);
    offered.erase(it);
    peer->destroy();
  }

  void joinError(const std::string& peerId, const char* sdpType) {
    if (!onJoinError) return;
    onJoinError({"incorrect password (" + config.password + ") when decrypting " + sdpType,
                 config.appId, peerId, roomId});
  }
};

Signaller::Signaller(loop::Loop& loop, std::unique_ptr<Strategy> strategy, std::string selfId,
                     rtc::Configuration rtcConfig, Timing timing)
    : loop_(loop),
      strategy_(std::move(strategy)),
      selfId_(std::move(selfId)),
      rtcConfig_(std::move(rtcConfig)),
      timing_(timing) {}

Signaller::~Signaller() {
  if (poolTimer_) loop_.cancelTimer(poolTimer_);
  for (auto& peer : pool_) peer->destroy();
}

std::shared_ptr<Peer> Signaller::takeOffer() {
  auto offers = takeOffers(1);
  return offers.empty() ? nullptr : offers.front();
}

std::vector<std::shared_ptr<Peer>> Signaller::takeOffers(std::size_t n) {
  // As strategy.js: top the pool up by n and hand out the oldest, whose offers are likely ready.
  // Out of budget, the pool shrinks instead (and may hand out fewer than n).
  for (std::size_t i = 0; i < n && ConnectionBudget::admit(); ++i) {
    pool_.push_back(Peer::create(loop_, rtcConfig_, true));
  }
  n = std::min(n, pool_.size());
  std::vector<std::shared_ptr<Peer>> out(pool_.begin(),
                                         pool_.begin() + static_cast<std::ptrdiff_t>(n));
  pool_.erase(pool_.begin(), pool_.begin() + static_cast<std::ptrdiff_t>(n));
  return out;
}

void Signaller::getOffers(const std::shared_ptr<Session>& session, std::size_t n,
                          std::function<void(std::vector<Strategy::OfferedPeer>)> done) {
  if (session->left) return;
  n = std::min<std::size_t>(n, 64);  // a medium asking for more is a bug; bound the peers made
  struct Batch {
    std::vector<std::optional<Strategy::OfferedPeer>> slots;
    std::size_t remaining = 0;
    std::function<void(std::vector<Strategy::OfferedPeer>)> done;
  };
  auto batch = std::make_shared<Batch>();
  batch->slots.resize(n);
  batch->remaining = n;
  batch->done = std::move(done);
  std::weak_ptr<Session> weakSession = session;
  auto finishOne = [batch, weakSession] {
    if (--batch->remaining) return;
    auto s = weakSession.lock();
    if (!s || s->left) return;
    std::vector<Strategy::OfferedPeer> out;
    for (auto& slot : batch->slots) {
      if (slot) out.push_back(std::move(*slot));
    }
    auto f = std::move(batch->done);
    f(std::move(out));
  };
  if (n == 0) {
    ++batch->remaining;
    return finishOne();
  }
  auto peers = takeOffers(n);
  if (peers.size() < n) {
    batch->remaining -= n - peers.size();
    batch->slots.resize(peers.size());
    n = peers.size();
    if (n == 0) {
      ++batch->remaining;
      return finishOne();
    }
  }
  std::vector<std::uint64_t> handles;
  for (auto& peer : peers) {
    auto handle = ++nextOfferHandle_;
    handles.push_back(handle);
    session->offered[handle] = peer;
    // Unanswered offers die after the offer TTL (the JS never reclaims them).
    loop_.callLater(timing_.offerTtl, [weakSession, handle] {
      if (auto s = weakSession.lock()) s->dropOffered(handle);
    });
  }
  for (std::size_t i = 0; i < n; ++i) {
    peers[i]->whenOffer([batch, weakSession, handle = handles[i], i, finishOne](auto offer) {
      auto s = weakSession.lock();
      if (s && !s->left) {
        auto it = s->offered.find(handle);
        if (offer && it != s->offered.end()) {
          batch->slots[i] = Strategy::OfferedPeer{handle, s->sealed(*offer).dump()};
        } else {
          s->dropOffered(handle);
        }
      }
      finishOne();
    });
  }
}

void Signaller::sweepPool() {
  auto now = loop_.nowMs();
  std::erase_if(pool_, [&](const std::shared_ptr<Peer>& peer) {
    bool expired = now - peer->createdMs() >= timing_.offerTtl.count();
    if (expired) peer->destroy();
    return expired;
  });
  // A pool drained while the connection budget was exhausted (a flood) fills up again.
  while (pool_.size() < timing_.offerPoolSize && ConnectionBudget::admit()) {
    pool_.push_back(Peer::create(loop_, rtcConfig_, true));
  }
}

const std::string& Signaller::peerTopic(Session& session, const std::string& peerId) {
  auto it = session.topicCache.find(peerId);
  if (it == session.topicCache.end()) {
    // Bounded: one entry per peer that reached us with a valid-looking message.
    if (session.topicCache.size() > 4096) session.topicCache.clear();
    it = session.topicCache
             .emplace(peerId, crypto::topicHash(topicPath({session.rootPlain, peerId})))
             .first;
  }
  return it->second;
}

std::shared_ptr<Room> Signaller::join(const Config& config, const std::string& roomId,
                                      JoinErrorHandler onJoinError) {
  if (config.appId.empty()) throw std::invalid_argument("trystero: config is missing appId");
  if (roomId.empty()) throw std::invalid_argument("trystero: roomId argument required");
  auto sessionKey = std::make_pair(config.appId, roomId);
  if (auto it = sessions_.find(sessionKey); it != sessions_.end()) {
    if (auto room = it->second->core->room()) return room;
  }

  if (pool_.empty() && sessions_.empty()) {
    for (std::size_t i = 0; i < timing_.offerPoolSize; ++i) {
      pool_.push_back(Peer::create(loop_, rtcConfig_, true));
    }
    std::weak_ptr<Signaller> weakSelf = weak_from_this();
    auto period = std::chrono::milliseconds(timing_.offerTtl.count() * 103 / 100);
    poolTimer_ = loop_.addTimer(period, [weakSelf] {
      if (auto self = weakSelf.lock()) self->sweepPool();
      return true;
    });
  }

  auto session = std::make_shared<Session>(config, roomId, selfId_);
  session->owner = weak_from_this();
  session->onJoinError = std::move(onJoinError);
  session->intervals.assign(strategy_->relayCount(), timing_.announceInterval);
  session->announceTimers.assign(strategy_->relayCount(), 0);
  std::weak_ptr<Session> weakSession = session;
  std::weak_ptr<Signaller> weakSelf = weak_from_this();

  session->core = RoomCore::create(
      loop_, selfId_, config.appId, roomId,
      // A peer left: it may connect again later, but what is still on its way to or from it
      // belongs to the session that ended. Left alone, such a connection could open after the
      // leave and pass for the peer joining again (with a remote room that has left), and a
      // pending offer would stop us answering the peer's next announce with a fresh one.
      [weakSession](const std::string& peerId) {
        auto s = weakSession.lock();
        if (!s) return;
        s->connectedPeers.erase(peerId);
        std::vector<std::shared_ptr<Peer>> stale;
        if (auto offers = s->pendingOffers.find(peerId); offers != s->pendingOffers.end()) {
          for (auto& [relay, offer] : offers->second) stale.push_back(offer);
          s->pendingOffers.erase(offers);
        }
        for (auto* pending : {&s->lingering, &s->answering}) {
          for (auto it = pending->begin(); it != pending->end();) {
            if (it->second.peerId != peerId) {
              ++it;
              continue;
            }
            stale.push_back(it->second.peer);
            it = pending->erase(it);
          }
        }
        for (auto& peer : stale) peer->destroy();
      },
      // we left
      [weakSelf, appId = config.appId, roomId] {
        if (auto self = weakSelf.lock()) self->leaveSession(appId, roomId);
      },
      timing_.standbyGrace);
  // Whether another connection to a peer is on its way (the room core waits for it before it
  // reports the peer gone when its last open connection closes).
  session->core->setPendingConnectionCheck(
      [weakSession, keep = timing_.keepStandbys](const std::string& peerId) {
        auto s = weakSession.lock();
        if (!keep || !s || s->left) return false;
        for (const auto* pending : {&s->lingering, &s->answering}) {
          for (const auto& [raw, entry] : *pending) {
            if (entry.peerId == peerId && !entry.peer->isDead()) return true;
          }
        }
        return false;
      });
  sessions_[sessionKey] = session;

  // strategy.js connectPeer, except that a further connection to a connected peer becomes a
  // standby (see room_core.hpp) instead of being destroyed, and our other offers to that peer
  // linger for the grace period instead of being destroyed at once: the remote may be keeping
  // one of them, and destroying it would make it lose us.
  auto connectPeer = [weakSelf, weakSession](const std::shared_ptr<Peer>& peer,
                                             const std::string& peerId) {
    auto self = weakSelf.lock();
    auto s = weakSession.lock();
    if (!self || !s || s->left) return peer->destroy();
    const auto& timing = self->timing_;
    s->lingering.erase(peer.get());
    if (s->connectedPeers.count(peerId)) {
      if (!timing.keepStandbys || !s->core->addStandby(peer, peerId)) {
        g_debug("trystero: %s: a further connection is not kept", peerId.c_str());
        peer->destroy();
      } else {
        g_debug("trystero: %s: a further connection is kept as a standby", peerId.c_str());
      }
      return;
    }
    g_debug("trystero: %s: connected", peerId.c_str());
    s->connectedPeers.insert(peerId);
    if (auto pending = s->pendingOffers.find(peerId); pending != s->pendingOffers.end()) {
      auto offers = std::move(pending->second);
      s->pendingOffers.erase(pending);
      for (auto& [relay, offer] : offers) {
        if (offer == peer || offer->isDead()) continue;
        if (!timing.keepStandbys) {
          offer->destroy();
          continue;
        }
        s->lingering[offer.get()] = {peerId, offer};
        self->loop_.callLater(timing.standbyGrace, [weakSession, weakOffer = std::weak_ptr(offer)] {
          auto s = weakSession.lock();
          auto offer = weakOffer.lock();
          if (!s || !offer) return;
          if (s->lingering.erase(offer.get())) offer->destroy();
        });
      }
    }
    if (!s->core->addPeer(peer, peerId)) {
      s->connectedPeers.erase(peerId);
      peer->destroy();
    }
  };

  auto watch = [this, weakSelf, weakSession, connectPeer](const std::shared_ptr<Peer>& peer,
                                                          const std::string& peerId,
                                                          std::size_t relay) {
    std::weak_ptr<Peer> weakPeer = peer;
    auto connected = [weakSession, weakPeer, peerId, connectPeer] {
      auto p = weakPeer.lock();
      if (!p || p->isDead() || !p->isOpen()) return;
      connectPeer(p, peerId);
      if (auto s = weakSession.lock()) s->answering.erase(p.get());
    };
    std::chrono::milliseconds delay{0};
    if (timing_.connectDelayForTest) delay = timing_.connectDelayForTest(relay);
    peer->setHandlers({
        [weakSelf, connected, delay] {
          if (delay.count() <= 0) return connected();
          if (auto self = weakSelf.lock()) self->loop_.callLater(delay, connected);
        },
        [weakSession, weakPeer] {
          auto s = weakSession.lock();
          auto p = weakPeer.lock();
          if (s && p) {
            s->answering.erase(p.get());
            s->lingering.erase(p.get());
          }
        },
        nullptr,
    });
  };

  for (std::size_t relay = 0; relay < strategy_->relayCount(); ++relay) {
    auto onMessage = [this, weakSelf, weakSession, relay, watch](Strategy::Delivery delivery) {
      const std::string& topic = delivery.topic;
      const std::string& text = delivery.message;
      auto self = weakSelf.lock();
      auto s = weakSession.lock();
      if (!self || !s || s->left) return;
      if (topic != s->rootTopic && topic != s->selfTopic) return;
      if (text.size() > kMaxSignalBytes) return s->core->countDroppedSignal();
      auto message = util::parseJsonBounded(text);
      if (!message.is_object() || !message.contains("peerId") || !message["peerId"].is_string() ||
          message["peerId"].get_ref<const std::string&>().size() > kMaxPeerIdBytes) {
        s->core->countDroppedSignal();
        return;
      }
      std::string peerId = message["peerId"].get<std::string>();
      if (peerId.empty() || peerId == selfId_ || s->connectedPeers.count(peerId)) {
        // An answer for one of our handed-out offers that is of no use any more.
        if (delivery.offerHandle) s->dropOffered(delivery.offerHandle);
        return;
      }
      bool hasOffer = message.contains("offer") && !message["offer"].is_null();
      bool hasAnswer = message.contains("answer") && !message["answer"].is_null();

      if (!hasOffer && !hasAnswer) {
        auto known = s->pendingOffers.find(peerId);
        if (known != s->pendingOffers.end() && known->second.count(relay)) return;
        std::shared_ptr<Peer> peer;
        if (known != s->pendingOffers.end() || s->pendingOffers.size() < kMaxPendingPeersPerRoom) {
          peer = takeOffer();
        }
        if (!peer) return s->core->countRefusedConnection();
        s->pendingOffers[peerId][relay] = peer;
        watch(peer, peerId, relay);
        auto prune = std::chrono::milliseconds(s->intervals[relay].count() * 9 / 10);
        loop_.callLater(prune, [weakSession, peerId, relay] {
          auto s = weakSession.lock();
          if (!s || s->connectedPeers.count(peerId)) return;
          auto it = s->pendingOffers.find(peerId);
          if (it == s->pendingOffers.end()) return;
          if (auto offer = it->second.find(relay); offer != it->second.end()) {
            offer->second->destroy();
            it->second.erase(offer);
          }
          if (it->second.empty()) s->pendingOffers.erase(it);
        });
        std::string topic = peerTopic(*s, peerId);
        peer->whenOffer([weakSelf, weakSession, relay, topic](auto offer) {
          auto self = weakSelf.lock();
          auto s = weakSession.lock();
          if (!self || !s || s->left || !offer) return;
          nlohmann::ordered_json out = nlohmann::ordered_json::object();
          out["peerId"] = self->selfId_;
          out["offer"] = s->sealed(*offer);
          self->strategy_->signal(relay, topic, out.dump());
        });
      } else if (hasOffer) {
        auto pending = s->pendingOffers.find(peerId);
        bool haveMine = pending != s->pendingOffers.end() && pending->second.count(relay);
        if (haveMine && selfId_ > peerId) return;  // glare: the larger id's offer wins
        auto plain = s->opened(message["offer"], rtc::SdpType::Offer);
        if (!plain) return s->joinError(peerId, "offer");
        if (!ConnectionBudget::admit()) return s->core->countRefusedConnection();
        auto peer = Peer::create(loop_, rtcConfig_, false);
        watch(peer, peerId, relay);
        if (s->answering.size() >= 256) {  // a flood of offers must not pile up connections
          s->answering.begin()->second.peer->destroy();
          s->answering.erase(s->answering.begin());
        }
        s->answering[peer.get()] = {peerId, peer};
        std::string topic = peerTopic(*s, peerId);
        // The peer keeps itself alive through its handlers until it connects or dies; hold it
        // here until the answer is out.
        peer->signal(*plain, [weakSelf, weakSession, relay, topic, peer,
                              reply = std::move(delivery.reply)](auto answer) {
          auto self = weakSelf.lock();
          auto s = weakSession.lock();
          if (!self || !s || s->left || !answer || peer->isDead()) return;
          nlohmann::ordered_json out = nlohmann::ordered_json::object();
          out["peerId"] = self->selfId_;
          out["answer"] = s->sealed(*answer);
          if (reply) return reply(topic, out.dump());
          self->strategy_->signal(relay, topic, out.dump());
        });
      } else {
        auto plain = s->opened(message["answer"], rtc::SdpType::Answer);
        if (delivery.offerHandle) {
          // The answer to an offer we handed out (torrent.js passes the very peer along).
          auto it = s->offered.find(delivery.offerHandle);
          if (it == s->offered.end()) return;  // expired, or answered before
          auto peer = it->second;
          s->offered.erase(it);
          if (!plain) {
            peer->destroy();
            return s->joinError(peerId, "answer");
          }
          if (peer->isDead()) return;
          watch(peer, peerId, relay);
          s->answering[peer.get()] = {peerId, peer};
          peer->signal(*plain, [](auto) {});
          return;
        }
        if (!plain) return s->joinError(peerId, "answer");
        auto pending = s->pendingOffers.find(peerId);
        if (pending == s->pendingOffers.end()) return;
        auto offer = pending->second.find(relay);
        if (offer == pending->second.end() || offer->second->isDead()) return;
        offer->second->signal(*plain, [](auto) {});
      }
    };

    strategy_->whenReady(relay, [weakSelf, weakSession, relay, onMessage] {
      auto self = weakSelf.lock();
      auto s = weakSession.lock();
      if (!self || !s || s->left) return;
      std::weak_ptr<Session> weakSession2 = s;
      self->strategy_->subscribeWithOffers(
          relay, s->rootTopic, s->selfTopic, onMessage,
          [weakSelf, weakSession2](std::size_t n,
                                   std::function<void(std::vector<Strategy::OfferedPeer>)> done) {
            auto self = weakSelf.lock();
            auto s = weakSession2.lock();
            if (self && s) self->getOffers(s, n, std::move(done));
          });
      // Announce now and then on the (possibly medium-chosen) interval.
      auto announce = std::make_shared<std::function<void()>>();
      // The closure reschedules itself through a weak reference: the session owns it.
      std::weak_ptr<std::function<void()>> next = announce;
      *announce = [weakSelf, weakSession, relay, next] {
        auto self = weakSelf.lock();
        auto s = weakSession.lock();
        if (!self || !s || s->left) return;
        if (auto ms = self->strategy_->announce(relay, s->rootTopic, s->selfTopic)) {
          s->intervals[relay] = *ms;
        }
        s->announceTimers[relay] = self->loop_.callLater(s->intervals[relay], [next] {
          if (auto f = next.lock()) (*f)();
        });
      };
      s->announcers.push_back(announce);
      (*announce)();
    });
  }
  return session->core->makeRoom();
}

std::shared_ptr<RoomCore> Signaller::core(const std::string& appId,
                                          const std::string& roomId) const {
  auto it = sessions_.find({appId, roomId});
  return it == sessions_.end() ? nullptr : it->second->core;
}

void Signaller::leaveSession(const std::string& appId, const std::string& roomId) {
  auto it = sessions_.find({appId, roomId});
  if (it == sessions_.end()) return;
  auto session = it->second;
  sessions_.erase(it);
  session->left = true;
  for (std::size_t relay = 0; relay < session->announceTimers.size(); ++relay) {
    if (session->announceTimers[relay]) loop_.cancelTimer(session->announceTimers[relay]);
    strategy_->unsubscribe(relay, session->rootTopic, session->selfTopic);
  }
  session->announcers.clear();
  for (auto& [peerId, offers] : session->pendingOffers) {
    for (auto& [relay, peer] : offers) peer->destroy();
  }
  session->pendingOffers.clear();
  auto answering = std::move(session->answering);
  session->answering.clear();
  for (auto& [raw, pending] : answering) pending.peer->destroy();
  auto lingering = std::move(session->lingering);
  session->lingering.clear();
  for (auto& [raw, pending] : lingering) pending.peer->destroy();
  auto offered = std::move(session->offered);
  session->offered.clear();
  for (auto& [handle, peer] : offered) peer->destroy();
  session->connectedPeers.clear();
  if (sessions_.empty()) {
    if (poolTimer_) loop_.cancelTimer(poolTimer_);
    poolTimer_ = 0;
    for (auto& peer : pool_) peer->destroy();
    pool_.clear();
  }
}

}  // namespace trystero::room

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

// One joined room: its topics and key, the connections on their way to its peers, and the steps
// of strategy.js's join (announce; answer an announce with an offer; answer an offer; take an
// answer; connect). The Signaller owns it (sessions_); every callback it hands out (to the
// strategy, the peers, the loop and the room core) holds it weakly and checks `left`.
struct Signaller::Session : std::enable_shared_from_this<Session> {
  std::weak_ptr<Signaller> owner;
  Config config;
  std::string roomId;
  std::string rootPlain, rootTopic, selfTopic;
  crypto::SignalKey key;
  JoinErrorHandler onJoinError;
  std::map<std::string, std::map<std::size_t, std::shared_ptr<Peer>>> pendingOffers;
  // The peers the room core holds connections to, with when each connected (loop clock, ms).
  std::map<std::string, std::int64_t> connectedPeers;
  // A connection on its way to the peer peerId. A successor answers an offer from a peer we
  // hold as connected (see handleSignal): when it opens it replaces the connection we hold.
  struct Pending {
    std::string peerId;
    std::shared_ptr<Peer> peer;
    bool successor = false;
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
  std::vector<loop::Timer> announceTimers;
  // Deadlines for what the session holds by key: pending offers, lingering offers, offers
  // handed out, late opens (tests).
  loop::TimerGroup timers;
  std::shared_ptr<RoomCore> core;
  bool left = false;

  Session(Signaller& signaller, const Config& c, const std::string& room, JoinErrorHandler onError)
      : owner(signaller.weak_from_this()),
        config(c),
        roomId(room),
        rootPlain(topicPath({"Trystero", c.appId, room})),
        rootTopic(crypto::topicHash(rootPlain)),
        selfTopic(crypto::topicHash(topicPath({rootPlain, signaller.selfId_}))),
        key(c.password, c.appId, room),
        onJoinError(std::move(onError)),
        intervals(signaller.strategy_->relayCount(), signaller.timing_.announceInterval),
        announceTimers(signaller.strategy_->relayCount()),
        timers(signaller.loop_) {}

  // {type, sdp} in the JS key order, so that messages match JSON.stringify byte for byte.
  nlohmann::ordered_json sealed(const rtc::SessionDescription& description) const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    out["type"] = rtc::toString(description.type);
    out["sdp"] = key.seal(description.sdp);
    return out;
  }

  // {peerId, offer|answer: sealed} as the JS sends it.
  std::string signalMessage(const std::string& selfId, const char* kind,
                            const rtc::SessionDescription& description) const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    out["peerId"] = selfId;
    out[kind] = sealed(description);
    return out.dump();
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

  const std::string& peerTopic(const std::string& peerId);

  // Joining: the room core and, once each relay is ready, subscribing and announcing.
  void createCore(Signaller& signaller);
  void relayReady(std::size_t relay);
  void announce(std::size_t relay);

  // Signals arriving on a relay, by kind.
  void handleSignal(std::size_t relay, Strategy::Delivery delivery);
  void handleAnnounce(Signaller& signaller, const std::string& peerId, std::size_t relay);
  void prunePendingOffer(const std::string& peerId, std::size_t relay,
                         const std::weak_ptr<Peer>& madeFor);
  void sendOffer(std::size_t relay, const std::string& topic,
                 const std::optional<rtc::SessionDescription>& offer);
  void handleOffer(Signaller& signaller, const std::string& peerId, std::size_t relay,
                   const nlohmann::json& offer, Strategy::Reply reply, bool successor);
  bool offersASuccessor(Signaller& signaller, const std::string& peerId) const;
  void sendAnswer(std::size_t relay, const std::string& topic, const std::shared_ptr<Peer>& peer,
                  const Strategy::Reply& reply,
                  const std::optional<rtc::SessionDescription>& answer);
  void handleAnswer(Signaller& signaller, const std::string& peerId, std::size_t relay,
                    const nlohmann::json& answer, std::uint64_t offerHandle);
  void handleHandedOutAnswer(Signaller& signaller, const std::string& peerId, std::size_t relay,
                             std::uint64_t offerHandle,
                             const std::optional<rtc::SessionDescription>& answer);

  // Connections on their way, and the one that opens first.
  void watch(Signaller& signaller, const std::shared_ptr<Peer>& peer, const std::string& peerId,
             std::size_t relay);
  static void peerOpened(const std::weak_ptr<Session>& weakSession,
                         const std::weak_ptr<Peer>& weakPeer, const std::string& peerId);
  void connectPeer(const std::shared_ptr<Peer>& peer, const std::string& peerId, bool successor);
  bool connectedLongerThanGrace(Signaller& signaller, const std::string& peerId) const;
  void lingerOtherOffers(Signaller& signaller, const std::string& peerId,
                         const std::shared_ptr<Peer>& kept);

  // From the room core.
  void peerLeft(const std::string& peerId);
  bool hasPendingConnection(const std::string& peerId) const;

  // Ends everything on its way (Signaller::leaveSession).
  void leave(Signaller& signaller);
};

const std::string& Signaller::Session::peerTopic(const std::string& peerId) {
  auto it = topicCache.find(peerId);
  if (it == topicCache.end()) {
    // Bounded: one entry per peer that reached us with a valid-looking message.
    if (topicCache.size() > 4096) topicCache.clear();
    it = topicCache.emplace(peerId, crypto::topicHash(topicPath({rootPlain, peerId}))).first;
  }
  return it->second;
}

void Signaller::Session::createCore(Signaller& signaller) {
  std::weak_ptr<Session> weakSession = weak_from_this();
  std::weak_ptr<Signaller> weakSelf = owner;
  core = RoomCore::create(
      signaller.loop_, signaller.selfId_, config.appId, roomId,
      [weakSession](const std::string& peerId) {
        if (auto s = weakSession.lock()) s->peerLeft(peerId);
      },
      // we left
      [weakSelf, appId = config.appId, roomId = roomId] {
        if (auto self = weakSelf.lock()) self->leaveSession(appId, roomId);
      },
      signaller.timing_.standbyGrace);
  // Whether another connection to a peer is on its way (the room core waits for it before it
  // reports the peer gone when its last open connection closes).
  core->setPendingConnectionCheck(
      [weakSession, keep = signaller.timing_.keepStandbys](const std::string& peerId) {
        auto s = weakSession.lock();
        if (!keep || !s) return false;
        return s->hasPendingConnection(peerId);
      });
}

void Signaller::Session::relayReady(std::size_t relay) {
  auto self = owner.lock();
  if (!self || left) return;
  std::weak_ptr<Session> weakSession = weak_from_this();
  self->strategy_->subscribeWithOffers(
      relay, rootTopic, selfTopic,
      [weakSession, relay](Strategy::Delivery delivery) {
        if (auto s = weakSession.lock()) s->handleSignal(relay, std::move(delivery));
      },
      [weakSession](std::size_t n, std::function<void(std::vector<Strategy::OfferedPeer>)> done) {
        auto s = weakSession.lock();
        if (!s) return;
        if (auto self = s->owner.lock()) self->getOffers(s, n, std::move(done));
      });
  announce(relay);
}

// Announces now, then again on the (possibly medium-chosen) interval until the room is left.
void Signaller::Session::announce(std::size_t relay) {
  auto self = owner.lock();
  if (!self || left) return;
  if (auto ms = self->strategy_->announce(relay, rootTopic, selfTopic)) intervals[relay] = *ms;
  std::weak_ptr<Session> weakSession = weak_from_this();
  announceTimers[relay] = self->loop_.after(intervals[relay], [weakSession, relay] {
    if (auto s = weakSession.lock()) s->announce(relay);
  });
}

void Signaller::Session::handleSignal(std::size_t relay, Strategy::Delivery delivery) {
  auto self = owner.lock();
  if (!self || left) return;
  if (delivery.topic != rootTopic && delivery.topic != selfTopic) return;
  if (delivery.message.size() > kMaxSignalBytes) return core->countDroppedSignal();
  auto message = util::parseJsonBounded(delivery.message);
  if (!message.is_object() || !message.contains("peerId") || !message["peerId"].is_string() ||
      message["peerId"].get_ref<const std::string&>().size() > kMaxPeerIdBytes) {
    core->countDroppedSignal();
    return;
  }
  std::string peerId = message["peerId"].get<std::string>();
  bool hasOffer = message.contains("offer") && !message["offer"].is_null();
  bool hasAnswer = message.contains("answer") && !message["answer"].is_null();
  if (hasOffer && !delivery.reply && offersASuccessor(*self, peerId)) {
    return handleOffer(*self, peerId, relay, message["offer"], {}, true);
  }
  if (peerId.empty() || peerId == self->selfId_ || connectedPeers.count(peerId)) {
    // An answer for one of our handed-out offers that is of no use any more.
    if (delivery.offerHandle) dropOffered(delivery.offerHandle);
    return;
  }
  if (hasOffer) {
    return handleOffer(*self, peerId, relay, message["offer"], std::move(delivery.reply), false);
  }
  if (hasAnswer) return handleAnswer(*self, peerId, relay, message["answer"], delivery.offerHandle);
  handleAnnounce(*self, peerId, relay);
}

// A peer announced itself: we make it an offer on this relay (once per peer and relay), which
// is pruned unless answered before our next announce.
void Signaller::Session::handleAnnounce(Signaller& signaller, const std::string& peerId,
                                        std::size_t relay) {
  auto known = pendingOffers.find(peerId);
  if (known != pendingOffers.end() && known->second.count(relay)) return;
  std::shared_ptr<Peer> peer;
  if (known != pendingOffers.end() || pendingOffers.size() < kMaxPendingPeersPerRoom) {
    peer = signaller.takeOffer();
  }
  if (!peer) return core->countRefusedConnection();
  pendingOffers[peerId][relay] = peer;
  watch(signaller, peer, peerId, relay);
  std::weak_ptr<Session> weakSession = weak_from_this();
  auto prune = std::chrono::milliseconds(intervals[relay].count() * 9 / 10);
  timers.after(prune, [weakSession, peerId, relay, weakOffer = std::weak_ptr(peer)] {
    if (auto s = weakSession.lock()) s->prunePendingOffer(peerId, relay, weakOffer);
  });
  std::string topic = peerTopic(peerId);
  peer->whenOffer([weakSession, relay, topic](auto offer) {
    if (auto s = weakSession.lock()) s->sendOffer(relay, topic, offer);
  });
}

// Only the offer the timer was set for: the peer may have left and joined again since, and the
// offer made for its new announce must get its own full time (a JS peer over Supabase answers it
// with the one signal it can send us).
void Signaller::Session::prunePendingOffer(const std::string& peerId, std::size_t relay,
                                           const std::weak_ptr<Peer>& madeFor) {
  if (connectedPeers.count(peerId)) return;
  auto it = pendingOffers.find(peerId);
  if (it == pendingOffers.end()) return;
  if (auto offer = it->second.find(relay);
      offer != it->second.end() && offer->second == madeFor.lock()) {
    offer->second->destroy();
    it->second.erase(offer);
  }
  if (it->second.empty()) pendingOffers.erase(it);
}

void Signaller::Session::sendOffer(std::size_t relay, const std::string& topic,
                                   const std::optional<rtc::SessionDescription>& offer) {
  auto self = owner.lock();
  if (!self || left || !offer) return;
  self->strategy_->signal(relay, topic, signalMessage(self->selfId_, "offer", *offer));
}

// A peer's offer: answered with a new connection, unless both sides offered on this relay and
// ours wins (glare: the larger id's offer wins) on a medium that lets the remote answer ours.
void Signaller::Session::handleOffer(Signaller& signaller, const std::string& peerId,
                                     std::size_t relay, const nlohmann::json& offer,
                                     Strategy::Reply reply, bool successor) {
  auto pending = pendingOffers.find(peerId);
  bool haveMine = pending != pendingOffers.end() && pending->second.count(relay);
  bool oursWins = haveMine && signaller.selfId_ > peerId;
  if (oursWins && !signaller.strategy_->answersCrossedOffers()) return;
  auto plain = opened(offer, rtc::SdpType::Offer);
  if (!plain) return joinError(peerId, "offer");
  if (!ConnectionBudget::admit()) return core->countRefusedConnection();
  auto peer = Peer::create(signaller.loop_, signaller.rtcConfig_, false);
  watch(signaller, peer, peerId, relay);
  if (answering.size() >= 256) {  // a flood of offers must not pile up connections
    answering.begin()->second.peer->destroy();
    answering.erase(answering.begin());
  }
  answering[peer.get()] = {peerId, peer, successor};
  std::string topic = peerTopic(peerId);
  std::weak_ptr<Session> weakSession = weak_from_this();
  // The peer keeps itself alive through its handlers until it connects or dies; hold it here
  // until the answer is out.
  peer->signal(*plain, [weakSession, relay, topic, peer, reply = std::move(reply)](auto answer) {
    if (auto s = weakSession.lock()) s->sendAnswer(relay, topic, peer, reply, answer);
  });
}

void Signaller::Session::sendAnswer(std::size_t relay, const std::string& topic,
                                    const std::shared_ptr<Peer>& peer, const Strategy::Reply& reply,
                                    const std::optional<rtc::SessionDescription>& answer) {
  auto self = owner.lock();
  if (!self || left || !answer || peer->isDead()) return;
  auto message = signalMessage(self->selfId_, "answer", *answer);
  if (reply) return reply(topic, message);
  self->strategy_->signal(relay, topic, message);
}

// A peer's answer to one of our offers: the one made on this relay, or one handed out.
void Signaller::Session::handleAnswer(Signaller& signaller, const std::string& peerId,
                                      std::size_t relay, const nlohmann::json& answer,
                                      std::uint64_t offerHandle) {
  auto plain = opened(answer, rtc::SdpType::Answer);
  if (offerHandle) return handleHandedOutAnswer(signaller, peerId, relay, offerHandle, plain);
  if (!plain) return joinError(peerId, "answer");
  auto pending = pendingOffers.find(peerId);
  if (pending == pendingOffers.end()) return;
  auto offer = pending->second.find(relay);
  if (offer == pending->second.end() || offer->second->isDead()) return;
  offer->second->signal(*plain, [](auto) {});
}

// The answer to an offer we handed out (torrent.js passes the very peer along).
void Signaller::Session::handleHandedOutAnswer(
    Signaller& signaller, const std::string& peerId, std::size_t relay, std::uint64_t offerHandle,
    const std::optional<rtc::SessionDescription>& answer) {
  auto it = offered.find(offerHandle);
  if (it == offered.end()) return;  // expired, or answered before
  auto peer = it->second;
  offered.erase(it);
  if (!answer) {
    peer->destroy();
    return joinError(peerId, "answer");
  }
  if (peer->isDead()) return;
  watch(signaller, peer, peerId, relay);
  answering[peer.get()] = {peerId, peer};
  peer->signal(*answer, [](auto) {});
}

void Signaller::Session::watch(Signaller& signaller, const std::shared_ptr<Peer>& peer,
                               const std::string& peerId, std::size_t relay) {
  std::weak_ptr<Session> weakSession = weak_from_this();
  std::weak_ptr<Peer> weakPeer = peer;
  auto connected = [weakSession, weakPeer, peerId] { peerOpened(weakSession, weakPeer, peerId); };
  std::chrono::milliseconds delay{0};
  if (signaller.timing_.connectDelayForTest) delay = signaller.timing_.connectDelayForTest(relay);
  peer->setHandlers({
      [weakSession, connected, delay] {
        if (delay.count() <= 0) return connected();
        if (auto s = weakSession.lock()) s->timers.after(delay, connected);
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
}

void Signaller::Session::peerOpened(const std::weak_ptr<Session>& weakSession,
                                    const std::weak_ptr<Peer>& weakPeer,
                                    const std::string& peerId) {
  auto p = weakPeer.lock();
  if (!p || p->isDead() || !p->isOpen()) return;
  auto s = weakSession.lock();
  if (!s) return p->destroy();
  bool successor = false;
  if (auto it = s->answering.find(p.get()); it != s->answering.end()) {
    successor = it->second.successor;
    s->answering.erase(it);
  }
  s->connectPeer(p, peerId, successor);
}

// strategy.js connectPeer, except that a further connection to a connected peer becomes a
// standby (see room_core.hpp) instead of being destroyed, and our other offers to that peer
// linger for the grace period instead of being destroyed at once: the remote may be keeping
// one of them, and destroying it would make it lose us.
void Signaller::Session::connectPeer(const std::shared_ptr<Peer>& peer, const std::string& peerId,
                                     bool successor) {
  auto self = owner.lock();
  if (!self || left) return peer->destroy();
  lingering.erase(peer.get());
  if (successor && connectedLongerThanGrace(*self, peerId)) {
    g_debug("trystero: %s: connected again; the connection held so far is stale", peerId.c_str());
    // The room core reports the stale connection's peer as gone (peerLeft ends what was on its
    // way to it) before the new one joins.
    if (core->replacePeer(peer, peerId)) {
      connectedPeers[peerId] = self->loop_.nowMs();
    } else {
      peer->destroy();
    }
    return;
  }
  if (connectedPeers.count(peerId)) {
    if (!self->timing_.keepStandbys || !core->addStandby(peer, peerId)) {
      g_debug("trystero: %s: a further connection is not kept", peerId.c_str());
      peer->destroy();
    } else {
      g_debug("trystero: %s: a further connection is kept as a standby", peerId.c_str());
    }
    return;
  }
  g_debug("trystero: %s: connected", peerId.c_str());
  connectedPeers[peerId] = self->loop_.nowMs();
  lingerOtherOffers(*self, peerId, peer);
  if (!core->addPeer(peer, peerId)) {
    connectedPeers.erase(peerId);
    peer->destroy();
  }
}

void Signaller::Session::lingerOtherOffers(Signaller& signaller, const std::string& peerId,
                                           const std::shared_ptr<Peer>& kept) {
  auto pending = pendingOffers.find(peerId);
  if (pending == pendingOffers.end()) return;
  auto offers = std::move(pending->second);
  pendingOffers.erase(pending);
  std::weak_ptr<Session> weakSession = weak_from_this();
  for (auto& [relay, offer] : offers) {
    if (offer == kept || offer->isDead()) continue;
    if (!signaller.timing_.keepStandbys) {
      offer->destroy();
      continue;
    }
    lingering[offer.get()] = {peerId, offer};
    timers.after(signaller.timing_.standbyGrace, [weakSession, weakOffer = std::weak_ptr(offer)] {
      auto s = weakSession.lock();
      auto offer = weakOffer.lock();
      if (!s || !offer) return;
      if (s->lingering.erase(offer.get())) offer->destroy();
    });
  }
}

// An offer from a peer we hold as connected. A trystero peer offers only to peers its room does
// not hold, so unless the offer crossed our connection on its way (it came within the grace
// period after that connection opened), the peer's room does not hold the connection we hold:
// the peer left and joined again while that connection stayed up (trystero@0.22.0 attaches a
// connection that opens just after its room left to the left room, which then keeps answering
// on it). Such an offer is answered, one at a time, and the connection replaces ours once it
// opens. Offers a tracker relays (torrent) come with every announce, to connected peers too:
// those are never taken for a rejoin.
bool Signaller::Session::offersASuccessor(Signaller& signaller, const std::string& peerId) const {
  // JS peers (emulated with keepStandbys off) ignore such offers.
  if (!signaller.timing_.keepStandbys || !connectedLongerThanGrace(signaller, peerId)) return false;
  return std::none_of(answering.begin(), answering.end(), [&](const auto& entry) {
    return entry.second.successor && entry.second.peerId == peerId && !entry.second.peer->isDead();
  });
}

bool Signaller::Session::connectedLongerThanGrace(Signaller& signaller,
                                                  const std::string& peerId) const {
  auto it = connectedPeers.find(peerId);
  return it != connectedPeers.end() &&
         signaller.loop_.nowMs() - it->second >= signaller.timing_.standbyGrace.count();
}

// A peer left: it may connect again later, but what is still on its way to or from it belongs
// to the session that ended. Left alone, such a connection could open after the leave and pass
// for the peer joining again (with a remote room that has left), and a pending offer would stop
// us answering the peer's next announce with a fresh one.
void Signaller::Session::peerLeft(const std::string& peerId) {
  connectedPeers.erase(peerId);
  std::vector<std::shared_ptr<Peer>> stale;
  if (auto offers = pendingOffers.find(peerId); offers != pendingOffers.end()) {
    for (auto& [relay, offer] : offers->second) stale.push_back(offer);
    pendingOffers.erase(offers);
  }
  for (auto* pending : {&lingering, &answering}) {
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
}

bool Signaller::Session::hasPendingConnection(const std::string& peerId) const {
  if (left) return false;
  for (const auto* pending : {&lingering, &answering}) {
    for (const auto& [raw, entry] : *pending) {
      if (entry.peerId == peerId && !entry.peer->isDead()) return true;
    }
  }
  return false;
}

void Signaller::Session::leave(Signaller& signaller) {
  left = true;
  for (std::size_t relay = 0; relay < announceTimers.size(); ++relay) {
    announceTimers[relay].cancel();
    signaller.strategy_->unsubscribe(relay, rootTopic, selfTopic);
  }
  for (auto& [peerId, offers] : pendingOffers) {
    for (auto& [relay, peer] : offers) peer->destroy();
  }
  pendingOffers.clear();
  auto answeringPeers = std::move(answering);
  answering.clear();
  for (auto& [raw, pending] : answeringPeers) pending.peer->destroy();
  auto lingeringPeers = std::move(lingering);
  lingering.clear();
  for (auto& [raw, pending] : lingeringPeers) pending.peer->destroy();
  auto offeredPeers = std::move(offered);
  offered.clear();
  for (auto& [handle, peer] : offeredPeers) peer->destroy();
  connectedPeers.clear();
}

Signaller::Signaller(loop::Loop& loop, std::unique_ptr<Strategy> strategy, std::string selfId,
                     rtc::Configuration rtcConfig, Timing timing)
    : loop_(loop),
      strategy_(std::move(strategy)),
      selfId_(std::move(selfId)),
      rtcConfig_(std::move(rtcConfig)),
      timing_(timing) {}

Signaller::~Signaller() {
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
    session->timers.after(timing_.offerTtl, [weakSession, handle] {
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

void Signaller::startPool() {
  for (std::size_t i = 0; i < timing_.offerPoolSize; ++i) {
    pool_.push_back(Peer::create(loop_, rtcConfig_, true));
  }
  std::weak_ptr<Signaller> weakSelf = weak_from_this();
  auto period = std::chrono::milliseconds(timing_.offerTtl.count() * 103 / 100);
  poolTimer_ = loop_.every(period, [weakSelf] {
    if (auto self = weakSelf.lock()) self->sweepPool();
    return true;
  });
}

std::shared_ptr<Room> Signaller::join(const Config& config, const std::string& roomId,
                                      JoinErrorHandler onJoinError) {
  if (config.appId.empty()) throw std::invalid_argument("trystero: config is missing appId");
  if (roomId.empty()) throw std::invalid_argument("trystero: roomId argument required");
  auto sessionKey = std::make_pair(config.appId, roomId);
  if (auto it = sessions_.find(sessionKey); it != sessions_.end()) {
    if (auto room = it->second->core->room()) return room;
  }
  if (pool_.empty() && sessions_.empty()) startPool();
  if (!errorHandlerSet_) {
    errorHandlerSet_ = true;
    std::weak_ptr<Signaller> weak = weak_from_this();
    strategy_->setErrorHandler([weak](const std::string& rootTopic, const std::string& error) {
      if (auto self = weak.lock()) self->mediumError(rootTopic, error);
    });
  }

  auto session = std::make_shared<Session>(*this, config, roomId, std::move(onJoinError));
  session->createCore(*this);
  sessions_[sessionKey] = session;
  std::weak_ptr<Session> weakSession = session;
  for (std::size_t relay = 0; relay < strategy_->relayCount(); ++relay) {
    strategy_->whenReady(relay, [weakSession, relay] {
      if (auto s = weakSession.lock()) s->relayReady(relay);
    });
  }
  return session->core->makeRoom();
}

void Signaller::mediumError(const std::string& rootTopic, const std::string& error) {
  std::vector<std::shared_ptr<Session>> concerned;
  for (auto& [key, session] : sessions_) {
    if (!session->left && (rootTopic.empty() || session->rootTopic == rootTopic)) {
      concerned.push_back(session);
    }
  }
  for (auto& session : concerned) {  // a handler may leave rooms
    if (!session->left && session->onJoinError) {
      session->onJoinError({error, session->config.appId, "", session->roomId});
    }
  }
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
  session->leave(*this);
  if (sessions_.empty()) {
    poolTimer_.cancel();
    for (auto& peer : pool_) peer->destroy();
    pool_.clear();
  }
}

}  // namespace trystero::room

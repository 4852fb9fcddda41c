#include "strategies/torrent/torrent_strategy.hpp"

#include "room/registry.hpp"

#include <glib.h>

#include "room/id.hpp"

namespace trystero::strategies::torrent {

namespace {

constexpr std::size_t kMaxHandledOffers = 8192;

}  // namespace

TorrentStrategy::TorrentStrategy(loop::Loop& loop, std::vector<std::string> urls,
                                 std::string selfId)
    : loop_(loop), selfId_(std::move(selfId)) {
  relays_.resize(urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    // The callbacks use `this`: the sockets are closed (no callbacks after that) in the
    // destructor.
    net::RelaySocket::Callbacks callbacks;
    callbacks.onMessage = [this, i](std::string_view data, bool binary) {
      if (binary) {
        g_debug("trystero: torrent: dropped a binary message from %s",
                relays_[i].socket->url().c_str());
        return;
      }
      handleTrackerMessage(i, data);
    };
    callbacks.onOpen = [this, i] { reannounce(i); };
    callbacks.onError = [](const std::string& error) {
      g_debug("trystero: torrent: %s", error.c_str());
    };
    net::WebSocket::Options options;
    options.maxIncomingPayload = 4u << 20;
    relays_[i].socket = net::RelaySocket::create(loop_, urls[i], std::move(callbacks), options);
  }
}

TorrentStrategy::~TorrentStrategy() {
  for (auto& relay : relays_) {
    relay.topics.clear();  // their timers with them
    if (relay.socket) relay.socket->close();
  }
}

void TorrentStrategy::whenReady(std::size_t relay, std::function<void()> f) {
  if (relay < relays_.size()) relays_[relay].socket->whenOpen(std::move(f));
}

void TorrentStrategy::subscribe(std::size_t relay, const std::string& rootTopic,
                                const std::string& selfTopic, MessageHandler handler) {
  subscribeWithOffers(
      relay, rootTopic, selfTopic,
      [handler = std::move(handler)](Delivery delivery) {
        handler(delivery.topic, delivery.message);
      },
      nullptr);
}

void TorrentStrategy::subscribeWithOffers(std::size_t relay, const std::string& rootTopic,
                                          const std::string&, DeliveryHandler handler,
                                          OfferSource getOffers) {
  if (relay >= relays_.size()) return;
  auto& r = relays_[relay];
  if (auto it = r.topics.find(rootTopic); it != r.topics.end()) {
    r.topics.erase(it);
  }
  auto topic = std::make_shared<Topic>();
  topic->relay = relay;
  topic->rootTopic = rootTopic;
  topic->infoHash = infoHash(rootTopic);
  topic->handler = std::move(handler);
  topic->getOffers = std::move(getOffers);
  r.topics[rootTopic] = topic;
  r.byInfoHash[topic->infoHash] = topic;
  restartTimer(topic);
  announceNow(topic);
}

void TorrentStrategy::unsubscribe(std::size_t relay, const std::string& rootTopic,
                                  const std::string&) {
  // As torrent.js: nothing is sent; the tracker drops us when the socket closes.
  if (relay >= relays_.size()) return;
  auto& r = relays_[relay];
  auto it = r.topics.find(rootTopic);
  if (it == r.topics.end()) return;
  auto topic = it->second;
  topic->timer.cancel();
  r.topics.erase(it);
  if (auto byHash = r.byInfoHash.find(topic->infoHash);
      byHash != r.byInfoHash.end() && byHash->second.lock() == topic) {
    r.byInfoHash.erase(byHash);
  }
}

std::optional<std::chrono::milliseconds> TorrentStrategy::announce(std::size_t relay,
                                                                   const std::string& rootTopic,
                                                                   const std::string&) {
  return announceInterval(relay, rootTopic);
}

std::optional<std::chrono::milliseconds> TorrentStrategy::announceInterval(
    std::size_t relay, const std::string& rootTopic) const {
  if (relay >= relays_.size()) return std::nullopt;
  auto it = relays_[relay].topics.find(rootTopic);
  if (it == relays_[relay].topics.end()) return std::nullopt;
  return it->second->interval;
}

void TorrentStrategy::signal(std::size_t relay, const std::string&, const std::string&) {
  g_debug("trystero: torrent: no topic messages over tracker %s",
          relay < relays_.size() ? relays_[relay].socket->url().c_str() : "?");
}

std::vector<RelaySocketInfo> TorrentStrategy::relaySockets() const {
  std::vector<RelaySocketInfo> out;
  for (const auto& relay : relays_) {
    out.push_back(room::describeRelaySocket(*relay.socket));
  }
  return out;
}

void TorrentStrategy::restartTimer(const std::shared_ptr<Topic>& topic) {
  std::weak_ptr<Topic> weak = topic;
  // A live topic means a live strategy: topics are owned by relays_ alone.
  topic->timer = loop_.every(topic->interval, [this, weak] {
    auto t = weak.lock();
    if (!t) return false;
    announceNow(t);
    return true;
  });
}

void TorrentStrategy::announceNow(const std::shared_ptr<Topic>& topic) {
  auto& socket = relays_[topic->relay].socket;
  if (!socket->isOpen()) return;  // the next open re-announces
  topic->announcedAtOpen = socket->stats().opens;
  if (!topic->getOffers) {
    socket->send(announceMessage(topic->infoHash, selfId_, {}));
    return;
  }
  std::weak_ptr<Topic> weak = topic;
  topic->getOffers(kOfferPoolSize, [this, weak](std::vector<OfferedPeer> offered) {
    auto t = weak.lock();
    if (!t) return;
    std::map<std::string, std::uint64_t> ids;
    std::vector<OutgoingOffer> offers;
    for (auto& offer : offered) {
      auto id = crypto::generateId(kHashLimit);
      ids[id] = offer.handle;
      offers.push_back({std::move(id), std::move(offer.offer)});
    }
    t->previousOffers = std::move(t->offers);
    t->offers = std::move(ids);
    relays_[t->relay].socket->send(announceMessage(t->infoHash, selfId_, offers));
  });
}

void TorrentStrategy::reannounce(std::size_t relay) {
  auto opens = relays_[relay].socket->stats().opens;
  std::vector<std::shared_ptr<Topic>> stale;
  for (auto& [root, topic] : relays_[relay].topics) {
    if (topic->announcedAtOpen != opens) stale.push_back(topic);
  }
  for (auto& topic : stale) {
    if (relays_[relay].topics.count(topic->rootTopic) == 0) continue;
    restartTimer(topic);
    announceNow(topic);
  }
}

bool TorrentStrategy::markHandled(const std::string& offerId) {
  if (!handled_.insert(offerId).second) return false;
  handledOrder_.push_back(offerId);
  if (handledOrder_.size() > kMaxHandledOffers) {
    handled_.erase(handledOrder_.front());
    handledOrder_.pop_front();
  }
  return true;
}

void TorrentStrategy::handleTrackerMessage(std::size_t relay, std::string_view text) {
  if (relay >= relays_.size()) return;
  const std::string& url = relays_[relay].socket->url();
  if (text.size() > kMaxTrackerMessageBytes) {
    g_debug("trystero: torrent: dropped a %zu byte message from %s", text.size(), url.c_str());
    return;
  }
  auto message = parseTrackerMessage(text, selfId_);
  if (!message) {
    g_debug("trystero: torrent: dropped a message from %s that is not a JSON object", url.c_str());
    return;
  }
  if (message->failure) {
    g_message("trystero: torrent tracker failure from %s - %s", url.c_str(),
              message->failure->c_str());
    return;
  }
  if (message->warning) {
    g_message("trystero: torrent tracker warning from %s - %s", url.c_str(),
              message->warning->c_str());
  }

  std::shared_ptr<Topic> topic;
  if (message->infoHash) {
    auto& byHash = relays_[relay].byInfoHash;
    if (auto it = byHash.find(*message->infoHash); it != byHash.end()) topic = it->second.lock();
  }
  if (topic && message->intervalSeconds) {
    auto next = nextAnnounceInterval(topic->interval, *message->intervalSeconds);
    if (next != topic->interval) {
      topic->interval = next;
      restartTimer(topic);
    }
  }

  using Kind = TrackerMessage::Kind;
  if (message->kind == Kind::None) return;
  if (message->kind == Kind::Invalid) {
    g_debug("trystero: torrent: dropped a message from %s: %s", url.c_str(),
            message->problem.c_str());
    return;
  }
  if (!topic) {
    g_debug("trystero: torrent: dropped a signal from %s for an unknown info_hash", url.c_str());
    return;
  }
  if (handled_.count(message->offerId)) {
    g_debug("trystero: torrent: dropped a repeated signal for offer %s from %s",
            message->offerId.c_str(), url.c_str());
    return;
  }

  Delivery delivery;
  delivery.topic = topic->rootTopic;
  delivery.message = std::move(message->signal);
  if (message->kind == Kind::Offer) {
    std::weak_ptr<Topic> weak = topic;
    delivery.reply = [this, weak, offerId = message->offerId, toPeerId = message->peerId](
                         const std::string&, const std::string& signal) {
      auto t = weak.lock();
      if (!t) return;
      auto answer = answerMessage(t->infoHash, selfId_, signal, offerId, toPeerId);
      if (!answer) {
        g_debug("trystero: torrent: no answer in signal");
        return;
      }
      relays_[t->relay].socket->send(*answer);
    };
  } else {
    // Only answers to offers we sent in this room over this tracker count.
    std::uint64_t handle = 0;
    for (auto* offers : {&topic->offers, &topic->previousOffers}) {
      if (auto it = offers->find(message->offerId); it != offers->end()) {
        handle = it->second;
        offers->erase(it);
        break;
      }
    }
    if (!handle) {
      g_debug("trystero: torrent: dropped an answer from %s for offer %s we never made",
              url.c_str(), message->offerId.c_str());
      return;
    }
    delivery.offerHandle = handle;
  }
  markHandled(message->offerId);
  auto handler = topic->handler;  // the handler may unsubscribe
  if (handler) handler(std::move(delivery));
}

}  // namespace trystero::strategies::torrent

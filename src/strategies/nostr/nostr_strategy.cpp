#include "strategies/nostr/nostr_strategy.hpp"

#include "room/registry.hpp"

#include <glib.h>

#include <algorithm>

namespace trystero::strategies::nostr {
namespace {

// Longest relay text quoted in a log line.
constexpr std::size_t kMaxLoggedText = 300;
constexpr int kComplaintsPerMinute = 10;
// Incoming WebSocket frames above this close the connection (libsoup's limit); messages above
// kMaxRelayMessageBytes but below it are dropped without reading them.
constexpr std::size_t kMaxFrameBytes = 1u << 20;

std::string clip(const std::string& text) {
  if (text.size() <= kMaxLoggedText) return text;
  // Cut at a UTF-8 boundary so the log line stays valid text.
  std::size_t cut = kMaxLoggedText;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

using Registry = std::map<std::pair<loop::Loop*, std::string>, std::weak_ptr<RelayConnection>>;

// Loop thread only (one map for all loops; each entry is only touched from its own loop).
Registry& registry() {
  static auto* map = new Registry();
  return *map;
}

}  // namespace

const std::vector<std::string>& defaultRelayUrls() {
  static const std::vector<std::string> urls = {
      "wss://black.nostrcity.club",
      "wss://ftp.halifax.rwth-aachen.de/nostr",
      "wss://nos.lol",
      "wss://nostr.cool110.xyz",
      "wss://nostr.data.haus",
      "wss://nostr.sathoarder.com",
      "wss://nostr.vulpem.com",
      "wss://relay.agorist.space",
      "wss://relay.binaryrobot.com",
      "wss://relay.damus.io",
      "wss://relay.fountain.fm",
      "wss://relay.mostro.network",
      "wss://relay.nostraddress.com",
      "wss://relay.nostrdice.com",
      "wss://relay.nostromo.social",
      "wss://relay.oldenburg.cool",
      "wss://relay.verified-nostr.com",
      "wss://yabu.me/v2",
  };
  return urls;
}

// ---- RelayConnection -------------------------------------------------------------------------

std::shared_ptr<RelayConnection> RelayConnection::get(loop::Loop& loop, const std::string& url) {
  auto& map = registry();
  std::erase_if(map, [](const auto& entry) { return entry.second.expired(); });
  auto& slot = map[{&loop, url}];
  if (auto existing = slot.lock()) return existing;
  auto connection = std::make_shared<RelayConnection>(PrivateTag{}, loop, url);
  connection->start();
  slot = connection;
  return connection;
}

RelayConnection::RelayConnection(PrivateTag, loop::Loop& loop, std::string url)
    : loop_(loop), url_(std::move(url)) {}

RelayConnection::~RelayConnection() {
  // Off the loop thread the RelaySocket's own destructor does the (posted) teardown.
  if (socket_ && loop_.isLoopThread()) socket_->close();
}

void RelayConnection::start() {
  auto callbacks = net::RelaySocket::Callbacks::forwardingTo(
      weak_from_this(), &RelayConnection::received, &RelayConnection::opened, nullptr,
      &RelayConnection::failed);
  net::WebSocket::Options options;
  options.maxIncomingPayload = kMaxFrameBytes;
  socket_ = net::RelaySocket::create(loop_, url_, std::move(callbacks), std::move(options));
}

void RelayConnection::received(std::string_view data, bool binary) {
  if (!binary) return handleText(data);
  stats_.messagesDropped++;
  g_debug("trystero: nostr relay %s sent a binary message; dropped", url_.c_str());
}

void RelayConnection::failed(const std::string& error) {
  g_debug("trystero: nostr relay: %s", error.c_str());
}

void RelayConnection::opened() {
  // Deviation from nostr.js, which sends its REQs once per socket and never again: a native
  // peer lives long enough to see relays restart, so every subscription not yet sent on this
  // connection is sent again (with a fresh `since`) each time the socket (re)opens.
  for (auto& [subId, subscription] : subscriptions_) {
    if (!socket_->isOpen()) return;
    if (subscription.sentOnOpen != socket_->stats().opens) sendReq(subId, subscription);
  }
}

void RelayConnection::sendReq(const std::string& subId, Subscription& subscription) {
  if (socket_->send(wire::makeReqMessage(subId, subscription.topic, wire::nowSeconds()))) {
    subscription.sentOnOpen = socket_->stats().opens;
  }
}

void RelayConnection::subscribe(const std::string& subId, const std::string& topic,
                                EventHandler handler) {
  auto& subscription = subscriptions_[subId];
  subscription.topic = topic;
  subscription.kind = wire::topicToKind(topic);
  subscription.handler = std::make_shared<EventHandler>(std::move(handler));
  subscription.sentOnOpen = 0;
  if (socket_->isOpen()) sendReq(subId, subscription);
}

void RelayConnection::unsubscribe(const std::string& subId) {
  auto it = subscriptions_.find(subId);
  if (it == subscriptions_.end()) return;
  subscriptions_.erase(it);
  if (socket_->isOpen()) socket_->send(wire::makeCloseMessage(subId));
}

bool RelayConnection::publish(const std::string& eventMessage) {
  return socket_->send(eventMessage);
}

RelaySocketInfo RelayConnection::info() const {
  auto info = room::describeRelaySocket(*socket_);
  info.url = url_;
  return info;
}

void RelayConnection::complain(const char* what, const std::string& text) {
  stats_.notices++;
  const auto now = loop::nowMs();
  if (now - complaintWindowMs_ >= 60000) {
    complaintWindowMs_ = now;
    complaintsInWindow_ = 0;
  }
  // nostr.js: console.warn(`Trystero: relay failure from ${client.url} - ${message}`).
  if (++complaintsInWindow_ <= kComplaintsPerMinute) {
    g_message("trystero: relay failure from %s - %s%s", url_.c_str(), what, clip(text).c_str());
  } else {
    g_debug("trystero: relay failure from %s - %s%s", url_.c_str(), what, clip(text).c_str());
  }
}

void RelayConnection::handleText(std::string_view text) {
  if (text.size() > wire::kMaxRelayMessageBytes) {
    stats_.messagesDropped++;
    g_debug("trystero: nostr relay %s sent %zu bytes in one message; dropped", url_.c_str(),
            text.size());
    return;
  }
  auto message = wire::parseRelayMessage(text);
  if (!message) {
    stats_.messagesDropped++;
    g_debug("trystero: malformed message from nostr relay %s: %s", url_.c_str(),
            clip(std::string(text)).c_str());
    return;
  }
  switch (message->type) {
    case wire::RelayMessage::Type::Event:
      handleEvent(*message);
      break;
    case wire::RelayMessage::Type::Notice:
      complain("", message->message);
      break;
    case wire::RelayMessage::Type::Ok:
      if (!message->accepted) {
        complain("", message->message);
      } else {
        g_debug("trystero: nostr relay %s accepted event %s", url_.c_str(), message->subId.c_str());
      }
      break;
    case wire::RelayMessage::Type::Eose:
      g_debug("trystero: nostr relay %s: end of stored events for %s", url_.c_str(),
              message->subId.c_str());
      break;
    case wire::RelayMessage::Type::Closed:
      // The relay ended one of our subscriptions. nostr.js ignores this; we say so and leave the
      // subscription to be sent again after the next reconnect rather than hammer the relay.
      if (auto it = subscriptions_.find(message->subId); it != subscriptions_.end()) {
        it->second.sentOnOpen = 0;
        complain("subscription closed: ", message->message);
      } else {
        g_debug("trystero: nostr relay %s closed unknown subscription", url_.c_str());
      }
      break;
    case wire::RelayMessage::Type::Auth:
      // NIP-42 authentication is not something trystero does.
      g_debug("trystero: nostr relay %s asked for AUTH; ignored", url_.c_str());
      break;
    case wire::RelayMessage::Type::Other:
      stats_.messagesDropped++;
      g_debug("trystero: nostr relay %s sent unknown message type %s", url_.c_str(),
              clip(message->verb).c_str());
      break;
  }
}

void RelayConnection::handleEvent(const wire::RelayMessage& message) {
  auto it = subscriptions_.find(message.subId);
  if (it == subscriptions_.end()) {
    // Late events for a subscription we closed are normal.
    stats_.eventsDropped++;
    return;
  }
  const Subscription& subscription = it->second;
  const wire::Event& event = message.event;
  // nostr.js hands any event on a known subscription to the room under the subscription's
  // topic and relies on the relay for the filter. We check the filter ourselves (the kind and
  // the ["x", topic] tag) so that a sloppy relay cannot feed one room's traffic to another, and
  // verify the id and signature (cheap, and every JS event carries valid ones). We do not
  // check created_at against `since`: neither does the JS, and peers' clocks differ.
  const bool tagged = std::any_of(event.tags.begin(), event.tags.end(), [&](const auto& tag) {
    return tag.size() >= 2 && tag[0] == "x" && tag[1] == subscription.topic;
  });
  if (event.kind != subscription.kind || !tagged) {
    stats_.eventsDropped++;
    g_debug("trystero: nostr relay %s sent an event outside its subscription; dropped",
            url_.c_str());
    return;
  }
  if (!wire::verifyEvent(event)) {
    stats_.eventsDropped++;
    g_debug("trystero: nostr relay %s sent event %s with a bad id or signature; dropped",
            url_.c_str(), event.id.c_str());
    return;
  }
  stats_.eventsDelivered++;
  // The handler may unsubscribe (even destroy the strategy): keep it and the topic alive.
  auto handler = subscription.handler;
  const std::string topic = subscription.topic;
  (*handler)(topic, event.content);
}

// ---- NostrStrategy ---------------------------------------------------------------------------

NostrStrategy::NostrStrategy(loop::Loop& loop, const std::vector<std::string>& relayUrls,
                             std::string selfId, std::shared_ptr<const wire::KeyPair> key)
    : selfId_(std::move(selfId)), key_(std::move(key)) {
  relays_.reserve(relayUrls.size());
  for (const auto& url : relayUrls) relays_.push_back(RelayConnection::get(loop, url));
}

NostrStrategy::~NostrStrategy() {
  for (auto& [key, ids] : subscriptions_) {
    relays_[key.first]->unsubscribe(ids.root);
    relays_[key.first]->unsubscribe(ids.self);
  }
}

void NostrStrategy::whenReady(std::size_t relay, std::function<void()> f) {
  relays_.at(relay)->whenOpen(std::move(f));
}

void NostrStrategy::subscribe(std::size_t relay, const std::string& rootTopic,
                              const std::string& selfTopic, MessageHandler handler) {
  auto& connection = relays_.at(relay);
  auto& ids = subscriptions_[{relay, rootTopic}];
  if (!ids.root.empty()) {
    connection->unsubscribe(ids.root);
    connection->unsubscribe(ids.self);
  }
  // nostr.js: genId(64) for each, one REQ per topic.
  ids.root = wire::makeSubscriptionId();
  ids.self = wire::makeSubscriptionId();
  auto shared = std::make_shared<MessageHandler>(std::move(handler));
  auto deliver = [shared](const std::string& topic, const std::string& content) {
    (*shared)(topic, content);
  };
  connection->subscribe(ids.root, rootTopic, deliver);
  connection->subscribe(ids.self, selfTopic, deliver);
}

void NostrStrategy::unsubscribe(std::size_t relay, const std::string& rootTopic,
                                const std::string&) {
  auto it = subscriptions_.find({relay, rootTopic});
  if (it == subscriptions_.end()) return;
  relays_.at(relay)->unsubscribe(it->second.root);
  relays_.at(relay)->unsubscribe(it->second.self);
  subscriptions_.erase(it);
}

std::optional<std::chrono::milliseconds> NostrStrategy::announce(std::size_t relay,
                                                                 const std::string& rootTopic,
                                                                 const std::string&) {
  auto& connection = relays_.at(relay);
  // Signing costs a few tens of microseconds; skip it when the send would be dropped anyway.
  if (connection->isOpen()) {
    connection->publish(wire::makeEventMessage(*key_, rootTopic, wire::makeAnnounceContent(selfId_),
                                               wire::nowSeconds()));
  }
  return std::nullopt;  // nostr.js keeps strategy.js's 5333 ms
}

void NostrStrategy::signal(std::size_t relay, const std::string& topic,
                           const std::string& message) {
  auto& connection = relays_.at(relay);
  if (connection->isOpen()) {
    connection->publish(wire::makeEventMessage(*key_, topic, message, wire::nowSeconds()));
  }
}

std::vector<RelaySocketInfo> NostrStrategy::relaySockets() const {
  std::vector<RelaySocketInfo> out;
  out.reserve(relays_.size());
  for (const auto& relay : relays_) out.push_back(relay->info());
  return out;
}

}  // namespace trystero::strategies::nostr

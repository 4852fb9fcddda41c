// trystero's Nostr strategy (nostr.js): rooms meet on public Nostr relays. Every signalling
// message is an ephemeral NIP-01 event (kind 20000-29999 derived from the topic) tagged
// ["x", topic] and signed with this process's BIP-340 key; peers subscribe with REQ filters on
// that kind and tag. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loop/loop.hpp"
#include "net/relay_socket.hpp"
#include "nostr/wire.hpp"
#include "room/strategy.hpp"

namespace trystero::strategies::nostr {

namespace wire = ::trystero::nostr::wire;

// nostr.js defaultRelayUrls, in its order, and how many of them a room uses.
const std::vector<std::string>& defaultRelayUrls();
inline constexpr std::size_t kDefaultRedundancy = 5;

// One relay: a reconnecting WebSocket and the subscriptions on it. Process-wide: every nostr
// strategy (and so every room) that uses a URL shares its connection. Loop thread only.
class RelayConnection : public std::enable_shared_from_this<RelayConnection> {
 public:
  // (subscription topic, event content)
  using EventHandler = std::function<void(const std::string& topic, const std::string& content)>;

  struct Stats {
    std::uint64_t eventsDelivered = 0;
    std::uint64_t eventsDropped = 0;    // unknown subscription, wrong kind/tag, bad id/signature
    std::uint64_t messagesDropped = 0;  // malformed, too large, binary, unknown verb
    std::uint64_t notices = 0;          // NOTICE, OK false, CLOSED
  };

  // The connection to url on loop, created (and connecting) on first use. Loop thread only.
  static std::shared_ptr<RelayConnection> get(loop::Loop& loop, const std::string& url);
  ~RelayConnection();
  RelayConnection(const RelayConnection&) = delete;
  RelayConnection& operator=(const RelayConnection&) = delete;

  const std::string& url() const { return url_; }
  bool isOpen() const { return socket_->isOpen(); }
  // f runs once the socket is open (now if it is).
  void whenOpen(std::function<void()> f) { socket_->whenOpen(std::move(f)); }

  // Sends REQ now if open, and again after every reconnect (see the .cpp). Events on subId are
  // delivered to handler while the subscription lasts. Replaces an existing subId.
  void subscribe(const std::string& subId, const std::string& topic, EventHandler handler);
  // Sends CLOSE (if open) and forgets the subscription. Unknown ids are ignored.
  void unsubscribe(const std::string& subId);
  // Sends an EVENT message; dropped unless open, as in the JS.
  bool publish(const std::string& eventMessage);

  RelaySocketInfo info() const;
  Stats stats() const { return stats_; }
  std::size_t subscriptionCount() const { return subscriptions_.size(); }

  // Everything the relay sends goes through here (public for tests).
  void handleText(std::string_view text);

 private:
  struct PrivateTag {};

 public:
  RelayConnection(PrivateTag, loop::Loop& loop, std::string url);

 private:
  struct Subscription {
    std::string topic;
    std::uint32_t kind = 0;
    std::shared_ptr<EventHandler> handler;
    std::uint64_t sentOnOpen = 0;  // the socket's open count when the REQ went out; 0: never
  };

  void start();
  void opened();
  void received(std::string_view data, bool binary);
  void failed(const std::string& error);
  void sendReq(const std::string& subId, Subscription& subscription);
  void handleEvent(const wire::RelayMessage& message);
  // Relay complaints go to g_message, at most a few per minute per relay.
  void complain(const char* what, const std::string& text);

  loop::Loop& loop_;
  const std::string url_;
  std::shared_ptr<net::RelaySocket> socket_;
  std::map<std::string, Subscription> subscriptions_;
  Stats stats_;
  std::int64_t complaintWindowMs_ = 0;
  int complaintsInWindow_ = 0;
};

// The room::Strategy of nostr.js: one relay per URL, two subscriptions (root and self topic)
// per room and relay, announce = {"peerId": selfId} on the root topic.
class NostrStrategy : public room::Strategy {
 public:
  NostrStrategy(loop::Loop& loop, const std::vector<std::string>& relayUrls, std::string selfId,
                std::shared_ptr<const wire::KeyPair> key = wire::processKeyPair());
  ~NostrStrategy() override;

  std::size_t relayCount() const override { return relays_.size(); }
  void whenReady(std::size_t relay, std::function<void()> f) override;
  void subscribe(std::size_t relay, const std::string& rootTopic, const std::string& selfTopic,
                 MessageHandler handler) override;
  void unsubscribe(std::size_t relay, const std::string& rootTopic,
                   const std::string& selfTopic) override;
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& rootTopic,
                                                    const std::string& selfTopic) override;
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override;
  std::vector<RelaySocketInfo> relaySockets() const override;

  const std::shared_ptr<RelayConnection>& relay(std::size_t i) const { return relays_.at(i); }
  const std::string& publicKeyHex() const { return key_->publicKeyHex(); }

 private:
  struct SubIds {
    std::string root, self;
  };

  std::string selfId_;
  std::shared_ptr<const wire::KeyPair> key_;
  std::vector<std::shared_ptr<RelayConnection>> relays_;
  std::map<std::pair<std::size_t, std::string>, SubIds> subscriptions_;  // (relay, root topic)
};

}  // namespace trystero::strategies::nostr

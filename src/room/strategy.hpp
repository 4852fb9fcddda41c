// A signalling medium (Nostr, MQTT, a tracker, ...) as the room engine sees it: a fixed list of
// relays, each of which can subscribe to topics, announce presence and carry a message to a
// topic. This is the counterpart of the {init, subscribe, announce} triple of strategy.js; an
// adapter knows nothing of WebRTC. Loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero::room {

class Strategy {
 public:
  // (topic, message text as received)
  using MessageHandler = std::function<void(const std::string&, const std::string&)>;

  virtual ~Strategy() = default;

  virtual std::size_t relayCount() const = 0;
  // f runs once relay i is connected (at once if it is).
  virtual void whenReady(std::size_t relay, std::function<void()> f) = 0;
  // Delivers messages published to either topic on relay i.
  virtual void subscribe(std::size_t relay, const std::string& rootTopic,
                         const std::string& selfTopic, MessageHandler handler) = 0;
  virtual void unsubscribe(std::size_t relay, const std::string& rootTopic,
                           const std::string& selfTopic) = 0;
  // Publishes our presence; may return the interval the medium wants until the next announce.
  virtual std::optional<std::chrono::milliseconds> announce(std::size_t relay,
                                                            const std::string& rootTopic,
                                                            const std::string& selfTopic) = 0;
  // Publishes one signalling message (offer/answer JSON text) to a topic.
  virtual void signal(std::size_t relay, const std::string& topic, const std::string& message) = 0;

  // Errors the medium reports about a room, in the server's words (a refused credential, access
  // the database rules deny): the engine hands them to the room's onJoinError. An empty
  // rootTopic concerns every room.
  using ErrorHandler = std::function<void(const std::string& rootTopic, const std::string& error)>;
  virtual void setErrorHandler(ErrorHandler handler) { (void)handler; }

  // The medium's connections, for getRelaySockets(); empty for media without sockets.
  virtual std::vector<RelaySocketInfo> relaySockets() const { return {}; }

  // true: when both peers offered, answer the remote's offer anyway instead of applying the
  // glare rule (the larger selfId's offer wins). For media over which a JS peer delivers at
  // most one signal to a given peer (Supabase: its per-peer channel is subscribed once), so that
  // a JS peer whose offer crossed ours never has to answer. Our own offer stays pending; if the
  // remote answers it too, the room keeps one of the two connections.
  virtual bool answersCrossedOffers() const { return false; }

  // --- Media whose announce carries offers (the WebTorrent tracker of torrent.js) ---
  //
  // strategy.js hands such media a getOffers(n) function and lets them attach routing to a
  // message: the answer to one of our offers names the offering peer (the JS `peer` field), and
  // the answer to a received offer goes back through a medium-made reply (the JS signalPeer
  // argument) instead of the peer's self topic.

  // A pooled offer as getOffers(n) yields it: the sealed {"type","sdp"} object as JSON text
  // (keys in the JS order) and a handle naming the offering peer for the answer's delivery.
  struct OfferedPeer {
    std::uint64_t handle = 0;
    std::string offer;
  };
  // getOffers(n, done): takes n offers from the engine's pool (topping it up as strategy.js
  // does) and calls done once all of them are gathered, with those that succeeded, in order.
  // done is not called when the room was left meanwhile. Offers nobody answered are destroyed
  // by the engine after the offer TTL; each handle is good for one answer.
  using OfferSource =
      std::function<void(std::size_t n, std::function<void(std::vector<OfferedPeer>)> done)>;
  using Reply = std::function<void(const std::string& topic, const std::string& message)>;
  struct Delivery {
    std::string topic;
    std::string message;  // as for MessageHandler: {peerId}, {peerId, offer} or {peerId, answer}
    // Non-zero: an answer to this OfferedPeer (the engine signals that very peer).
    std::uint64_t offerHandle = 0;
    // Set: how the answer to this offer is sent (instead of signal() to the peer's self topic).
    Reply reply;
  };
  using DeliveryHandler = std::function<void(Delivery)>;

  // What the engine calls to subscribe. The default forgets getOffers and forwards to
  // subscribe(); media that announce with offers override this instead.
  virtual void subscribeWithOffers(std::size_t relay, const std::string& rootTopic,
                                   const std::string& selfTopic, DeliveryHandler handler,
                                   OfferSource getOffers) {
    (void)getOffers;
    subscribe(relay, rootTopic, selfTopic,
              [handler = std::move(handler)](const std::string& topic, const std::string& text) {
                handler(Delivery{topic, text, 0, {}});
              });
  }
};

}  // namespace trystero::room

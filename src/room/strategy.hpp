// A signalling medium (Nostr, MQTT, a tracker, ...) as the room engine sees it: a fixed list of
// relays, each of which can subscribe to topics, announce presence and carry a message to a
// topic. This is the counterpart of the {init, subscribe, announce} triple of strategy.js; an
// adapter knows nothing of WebRTC. Loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
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

  // The medium's connections, for getRelaySockets(); empty for media without sockets.
  virtual std::vector<RelaySocketInfo> relaySockets() const { return {}; }
};

}  // namespace trystero::room

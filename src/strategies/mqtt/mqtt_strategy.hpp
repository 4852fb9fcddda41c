// trystero's MQTT strategy (mqtt.js): rooms meet on public MQTT brokers reached over WebSocket.
// As trystero@0.22.0 with mqtt.js 5 defaults, each relay is one MQTT 3.1.1 session (client id
// "mqttjs_" + 8 random hex digits, clean session, keep-alive 60 s) on a WebSocket with the
// "mqtt" subprotocol; a room subscribes (QoS 0) to its root and self topics, announces by
// publishing {"peerId": selfId} to the root topic and sends offers/answers by publishing them
// to the other peer's self topic.
//
// Connections come from net::RelaySocket: binary frames, and after a drop the shared
// reconnect backoff of the other relays (mqtt.js itself retries every second). After every
// (re)connect the adapter sends CONNECT, waits for CONNACK and resubscribes the active topics
// in one SUBSCRIBE, as mqtt.js does with resubscribe on. Publishes while no session is up are
// dropped (mqtt.js would queue QoS 0 publishes; signalling retries through the next announce
// anyway). A protocol violation by the broker, a refused CONNACK, no CONNACK within the connect
// timeout or no PINGRESP in time closes the WebSocket and lets the relay socket reconnect.
//
// Loop thread only (construction and destruction included).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "room/strategy.hpp"
#include "strategies/mqtt/mqtt_codec.hpp"
#include "trystero/trystero.hpp"

namespace trystero::strategies::mqtt {

// mqtt.js defaultRelayUrls, in its order, and how many a room uses (mqtt.js does not derive the
// choice from the appId: the first relayRedundancy of the list, by default all three).
const std::vector<std::string>& defaultRelayUrls();
inline constexpr std::size_t kDefaultRedundancy = 4;

class MqttStrategy : public room::Strategy {
 public:
  struct Options {
    std::chrono::seconds keepAlive{60};               // mqtt.js keepalive
    std::chrono::milliseconds connectTimeout{30000};  // mqtt.js connectTimeout (for CONNACK)
    std::size_t maxPacketSize = kDefaultMaxPacketSize;
  };

  struct RelayStats {
    std::uint64_t sessions = 0;  // CONNACKs accepted
    std::uint64_t packetsIn = 0;
    std::uint64_t packetsOut = 0;
    std::uint64_t publishesIn = 0;
    std::uint64_t publishesDelivered = 0;  // to a subscribed topic's handler
    std::uint64_t publishesOut = 0;
    std::uint64_t publishesDropped = 0;      // no session up
    std::uint64_t subscribesOut = 0;         // SUBSCRIBE packets
    std::uint64_t subscriptionsRefused = 0;  // SUBACK return code 0x80
    std::uint64_t pingsOut = 0;
    std::uint64_t pongsIn = 0;
    std::uint64_t connectionsDropped = 0;  // by us: protocol errors, refusals, timeouts
    std::string lastError;
  };

  MqttStrategy(loop::Loop& loop, std::vector<std::string> urls, std::string selfId,
               Options options);
  MqttStrategy(loop::Loop& loop, std::vector<std::string> urls, std::string selfId)
      : MqttStrategy(loop, std::move(urls), std::move(selfId), Options{}) {}
  // Sends DISCONNECT on live sessions and closes the sockets.
  ~MqttStrategy() override;
  MqttStrategy(const MqttStrategy&) = delete;
  MqttStrategy& operator=(const MqttStrategy&) = delete;

  std::size_t relayCount() const override { return relays_.size(); }
  // f runs (posted) once relay i has an MQTT session (CONNACK received), now if it has one.
  void whenReady(std::size_t relay, std::function<void()> f) override;
  void subscribe(std::size_t relay, const std::string& rootTopic, const std::string& selfTopic,
                 MessageHandler handler) override;
  void unsubscribe(std::size_t relay, const std::string& rootTopic,
                   const std::string& selfTopic) override;
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& rootTopic,
                                                    const std::string& selfTopic) override;
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override;

  // state: Open while an MQTT session is up (the WebSocket being open is not enough);
  // opens: sessions established; reconnects, messagesIn/Out: WebSocket level.
  std::vector<RelaySocketInfo> relaySockets() const override;

  // Diagnostics and tests.
  const std::string& clientId(std::size_t relay) const;
  bool sessionUp(std::size_t relay) const;
  RelayStats relayStats(std::size_t relay) const;
  std::vector<std::string> subscribedTopics(std::size_t relay) const;

 private:
  struct Relay;
  loop::Loop& loop_;
  std::string selfId_;
  std::vector<std::shared_ptr<Relay>> relays_;
};

// The factory behind trystero::mqtt::joinRoom: mqtt.js getRelays(config, defaultRelayUrls, 4).
std::unique_ptr<room::Strategy> makeStrategy(loop::Loop& loop, const Config& config,
                                             const std::string& selfId);

}  // namespace trystero::strategies::mqtt

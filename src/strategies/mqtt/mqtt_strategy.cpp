#include "strategies/mqtt/mqtt_strategy.hpp"

#include <glib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "crypto/crypto.hpp"
#include "net/relay_socket.hpp"
#include "room/registry.hpp"

namespace trystero::strategies::mqtt {

const std::vector<std::string>& defaultRelayUrls() {
  static const std::vector<std::string> urls = {
      "wss://test.mosquitto.org:8081/mqtt",
      "wss://broker.emqx.io:8084/mqtt",
      "wss://broker.hivemq.com:8884/mqtt",
  };
  return urls;
}

std::unique_ptr<room::Strategy> makeStrategy(loop::Loop& loop, const Config& config,
                                             const std::string& selfId) {
  // mqtt.js: getRelays(config, defaultRelayUrls, defaultRedundancy), no appId shuffle.
  return std::make_unique<MqttStrategy>(
      loop, room::selectRelays(config, defaultRelayUrls(), kDefaultRedundancy, false), selfId);
}

namespace {

// mqtt.js: `mqttjs_${Math.random().toString(16).substr(2, 8)}`.
std::string makeClientId() { return "mqttjs_" + crypto::hexEncode(crypto::randomBytes(4)); }

// mqtt.js's DefaultMessageIdProvider starts at a random id in [1, 65534].
std::uint16_t firstPacketId() {
  auto bytes = crypto::randomBytes(2);
  return static_cast<std::uint16_t>((bytes[0] << 8 | bytes[1]) % 65534 + 1);
}

const char* connackReason(std::uint8_t code) {
  switch (code) {
    case 1:
      return "unacceptable protocol version";
    case 2:
      return "identifier rejected";
    case 3:
      return "server unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
    default:
      return "unknown return code";
  }
}

// What Node's Buffer#toString() makes of the payload (mqtt.js hands trystero
// buffer.toString()): invalid UTF-8 becomes U+FFFD; unlike TextDecoder a BOM is kept.
std::string bufferToString(const std::string& bytes) {
  static constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (bytes.starts_with(kBom)) {
    return std::string(kBom) + crypto::textDecode(std::string_view(bytes).substr(kBom.size()));
  }
  return crypto::textDecode(bytes);
}

}  // namespace

struct MqttStrategy::Relay : std::enable_shared_from_this<Relay> {
  struct Subscription {
    std::string topic;
    std::shared_ptr<MessageHandler> handler;
  };

  loop::Loop& loop;
  const Options options;
  const std::string url;
  const std::string clientId = makeClientId();
  std::shared_ptr<net::RelaySocket> socket;
  Decoder decoder;
  bool awaitingConnack = false;  // CONNECT sent on the current connection
  bool sessionUp = false;        // CONNACK accepted on the current connection
  bool closed = false;           // the strategy is gone
  std::uint64_t connection = 0;  // changes whenever a connection starts or ends
  std::vector<std::function<void()>> ready;
  std::vector<Subscription> subscriptions;  // in subscription order, as mqtt.js resubscribes
  std::uint16_t nextPacketId = firstPacketId();
  loop::Timer connackTimer;
  loop::Timer keepAliveTimer;
  int keepAliveTicks = 0;
  RelayStats stats;

  Relay(loop::Loop& l, const Options& o, std::string u)
      : loop(l), options(o), url(std::move(u)), decoder(o.maxPacketSize) {}

  void start() {
    auto callbacks = net::RelaySocket::Callbacks::forwardingTo(
        weak_from_this(), &Relay::received, &Relay::opened, &Relay::ended, &Relay::failed);
    net::WebSocket::Options ws;
    ws.protocols = {"mqtt"};
    // A frame may pack several packets; each packet is bounded by the decoder.
    ws.maxIncomingPayload = std::max<std::size_t>(4 * options.maxPacketSize, 64 * 1024);
    socket = net::RelaySocket::create(loop, url, std::move(callbacks), std::move(ws));
  }

  void close() {
    if (closed) return;
    if (sessionUp) send(encodeDisconnect());  // as mqtt.js end()
    closed = true;
    endConnection();
    ready.clear();
    subscriptions.clear();
    if (socket) socket->close();
  }

  std::uint16_t takePacketId() {
    auto id = nextPacketId;
    nextPacketId = nextPacketId == 65535 ? 1 : static_cast<std::uint16_t>(nextPacketId + 1);
    return id;
  }

  bool send(const Bytes& packet) {
    if (!socket || !socket->sendBinary(packet)) return false;
    stats.packetsOut++;
    return true;
  }

  bool publish(const std::string& topic, const std::string& message) {
    if (!sessionUp || !send(encodePublish(topic, message))) {
      stats.publishesDropped++;
      return false;
    }
    stats.publishesOut++;
    return true;
  }

  void sendSubscribe(const std::vector<std::string>& topics) {
    if (topics.empty()) return;
    if (send(encodeSubscribe(takePacketId(), topics))) stats.subscribesOut++;
  }

  Subscription* find(const std::string& topic) {
    for (auto& s : subscriptions) {
      if (s.topic == topic) return &s;
    }
    return nullptr;
  }

  // Forgets the per-connection state (timers, decoder, session).
  void endConnection() {
    connection++;
    sessionUp = false;
    awaitingConnack = false;
    keepAliveTicks = 0;
    connackTimer.cancel();
    keepAliveTimer.cancel();
    decoder.reset();
  }

  // Gives up on the current connection; the relay socket reconnects.
  void drop(const std::string& why) {
    stats.connectionsDropped++;
    stats.lastError = why;
    g_debug("trystero: mqtt broker %s: %s; reconnecting", url.c_str(), why.c_str());
    endConnection();
    if (auto ws = socket ? socket->socket() : nullptr) ws->close(4000, "mqtt protocol error");
  }

  void failed(const std::string& error) { g_debug("trystero: mqtt %s", error.c_str()); }

  void opened() {
    if (closed) return;
    endConnection();
    awaitingConnack = true;
    send(encodeConnect({clientId, static_cast<std::uint16_t>(options.keepAlive.count()), true}));
    std::weak_ptr<Relay> weak = weak_from_this();
    const auto current = connection;
    connackTimer = loop.after(options.connectTimeout, [weak, current] {
      auto self = weak.lock();
      if (!self || self->connection != current) return;
      self->connackTimer = {};
      if (self->awaitingConnack) self->drop("no CONNACK within the connect timeout");
    });
  }

  void ended(int code, const std::string& reason) {
    if (sessionUp) {
      g_debug("trystero: mqtt broker %s closed (%d %s)", url.c_str(), code, reason.c_str());
    }
    endConnection();
  }

  void received(std::string_view data, bool binary) {
    if (closed || (!awaitingConnack && !sessionUp)) return;  // dropped: the close is under way
    if (!binary) return drop("text frame (MQTT over WebSocket uses binary frames)");
    decoder.append(data);
    const auto current = connection;
    auto self = shared_from_this();  // a handler may release the strategy
    while (auto packet = decoder.next()) {
      stats.packetsIn++;
      handle(*packet);
      if (closed || connection != current) return;
    }
    if (decoder.failed()) drop(decoder.error());
  }

  void startKeepAlive() {
    // mqtt.js KeepaliveManager: a tick every keepalive / 2; PINGREQ on the second tick since
    // the last answer from the broker, and the connection is given up on the third.
    auto half = std::chrono::milliseconds(options.keepAlive) / 2;
    if (half.count() <= 0) return;
    std::weak_ptr<Relay> weak = weak_from_this();
    const auto current = connection;
    keepAliveTimer = loop.every(half, [weak, current] {
      auto self = weak.lock();
      if (!self || self->connection != current) return false;
      self->keepAliveTicks++;
      if (self->keepAliveTicks == 2) {
        if (self->send(encodePingreq())) self->stats.pingsOut++;
      } else if (self->keepAliveTicks > 2) {
        self->keepAliveTimer = {};
        self->drop("no PINGRESP within the keep-alive period");
        return false;
      }
      return true;
    });
  }

  void handle(const Packet& packet) {
    if (awaitingConnack) {
      if (packet.type != PacketType::Connack) {
        return drop(std::string("expected CONNACK, got ") + toString(packet.type));
      }
      if (packet.returnCode != 0) {
        return drop(std::string("connection refused: ") + connackReason(packet.returnCode));
      }
      awaitingConnack = false;
      sessionUp = true;
      stats.sessions++;
      connackTimer.cancel();
      startKeepAlive();
      // mqtt.js _resubscribe: every active topic in one SUBSCRIBE.
      std::vector<std::string> topics;
      for (const auto& s : subscriptions) topics.push_back(s.topic);
      sendSubscribe(topics);
      auto queue = std::move(ready);
      ready.clear();
      for (auto& f : queue) loop.post(std::move(f));
      return;
    }
    if (packet.type != PacketType::Publish) keepAliveTicks = 0;  // mqtt.js reschedulePing
    switch (packet.type) {
      case PacketType::Connack:
        return drop("duplicate CONNACK");
      case PacketType::Publish: {
        stats.publishesIn++;
        // Only answered if a broker ignores the QoS 0 we asked for.
        if (packet.qos == 1) send(encodePuback(packet.packetId));
        if (packet.qos == 2) send(encodePubrec(packet.packetId));
        auto* subscription = find(packet.topic);
        if (!subscription) return;
        auto handler = subscription->handler;  // the handler may unsubscribe
        stats.publishesDelivered++;
        (*handler)(packet.topic, bufferToString(packet.payload));
        return;
      }
      case PacketType::Pubrel:
        send(encodePubcomp(packet.packetId));
        return;
      case PacketType::Suback:
        stats.subscriptionsRefused += static_cast<std::uint64_t>(
            std::count(packet.returnCodes.begin(), packet.returnCodes.end(), 0x80));
        return;
      case PacketType::Pingresp:
        stats.pongsIn++;
        return;
      default:  // UNSUBACK, and acks of QoS 1/2 publishes we never send
        return;
    }
  }
};

MqttStrategy::MqttStrategy(loop::Loop& loop, std::vector<std::string> urls, std::string selfId,
                           Options options)
    : loop_(loop), selfId_(std::move(selfId)) {
  for (auto& url : urls) {
    relays_.push_back(std::make_shared<Relay>(loop, options, std::move(url)));
    relays_.back()->start();
  }
}

MqttStrategy::~MqttStrategy() {
  for (auto& relay : relays_) relay->close();
}

void MqttStrategy::whenReady(std::size_t relay, std::function<void()> f) {
  auto& r = *relays_.at(relay);
  if (r.closed || !f) return;
  if (r.sessionUp) {
    loop_.post(std::move(f));
  } else {
    r.ready.push_back(std::move(f));
  }
}

void MqttStrategy::subscribe(std::size_t relay, const std::string& rootTopic,
                             const std::string& selfTopic, MessageHandler handler) {
  auto& r = *relays_.at(relay);
  if (r.closed) return;
  auto shared = std::make_shared<MessageHandler>(std::move(handler));
  for (const auto* topic : {&rootTopic, &selfTopic}) {
    if (auto* existing = r.find(*topic)) {
      existing->handler = shared;  // mqtt.js does not subscribe a topic twice
      continue;
    }
    r.subscriptions.push_back({*topic, shared});
    // mqtt.js: client.subscribe(rootTopic); client.subscribe(selfTopic) - a packet each.
    // Without a session the topic goes out with the resubscription after CONNACK.
    if (r.sessionUp) r.sendSubscribe({*topic});
  }
}

void MqttStrategy::unsubscribe(std::size_t relay, const std::string& rootTopic,
                               const std::string& selfTopic) {
  auto& r = *relays_.at(relay);
  for (const auto* topic : {&rootTopic, &selfTopic}) {
    auto it = std::find_if(r.subscriptions.begin(), r.subscriptions.end(),
                           [&](const Relay::Subscription& s) { return s.topic == *topic; });
    if (it == r.subscriptions.end()) continue;
    r.subscriptions.erase(it);
    if (r.sessionUp) r.send(encodeUnsubscribe(r.takePacketId(), {*topic}));
  }
}

std::optional<std::chrono::milliseconds> MqttStrategy::announce(std::size_t relay,
                                                                const std::string& rootTopic,
                                                                const std::string&) {
  // mqtt.js: client.publish(rootTopic, toJson({peerId: selfId})).
  relays_.at(relay)->publish(rootTopic, nlohmann::json{{"peerId", selfId_}}.dump());
  return std::nullopt;
}

void MqttStrategy::signal(std::size_t relay, const std::string& topic, const std::string& message) {
  relays_.at(relay)->publish(topic, message);
}

std::vector<RelaySocketInfo> MqttStrategy::relaySockets() const {
  std::vector<RelaySocketInfo> out;
  for (const auto& r : relays_) {
    RelaySocketInfo info;
    info.state = RelaySocketInfo::State::Closed;
    if (r->socket) info = room::describeRelaySocket(*r->socket);
    info.url = r->url;
    // The relay is usable only once the MQTT session is up, not when the WebSocket opens.
    if (info.state == RelaySocketInfo::State::Open && !r->sessionUp) {
      info.state = RelaySocketInfo::State::Connecting;
    }
    info.opens = r->stats.sessions;
    out.push_back(std::move(info));
  }
  return out;
}

const std::string& MqttStrategy::clientId(std::size_t relay) const {
  return relays_.at(relay)->clientId;
}

bool MqttStrategy::sessionUp(std::size_t relay) const { return relays_.at(relay)->sessionUp; }

MqttStrategy::RelayStats MqttStrategy::relayStats(std::size_t relay) const {
  return relays_.at(relay)->stats;
}

std::vector<std::string> MqttStrategy::subscribedTopics(std::size_t relay) const {
  std::vector<std::string> out;
  for (const auto& s : relays_.at(relay)->subscriptions) out.push_back(s.topic);
  return out;
}

}  // namespace trystero::strategies::mqtt

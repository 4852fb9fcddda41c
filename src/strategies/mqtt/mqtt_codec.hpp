// A small MQTT 3.1.1 codec: the client's side of what trystero's MQTT strategy (mqtt.js 5 with
// its defaults: protocol level 4, clean session, keep-alive 60 s, QoS 0) puts on the wire.
//
// Why a codec of our own instead of a library: Debian 12 packages two MQTT client libraries and
// neither fits. libmosquitto (libmosquitto-dev 2.0.11) has no WebSocket transport in its client
// (WebSockets exist only in the broker); it opens its own TCP socket and drives it from its own
// thread (mosquitto_loop_start) or through its own read/write/misc calls. Eclipse Paho C
// (libpaho-mqtt-dev 1.3.12) does speak ws:// and wss://, but over its own sockets and OpenSSL
// setup, with its own background threads calling back on them. trystero-cpp's relays all run on
// one GLib loop through net::RelaySocket (libsoup WebSocket, the shared JS-like reconnect
// backoff, pause/resume, counters); either library would bypass that and add a second threading
// model. What trystero needs of MQTT is a handful of fixed packets (CONNECT, SUBSCRIBE,
// UNSUBSCRIBE, PUBLISH at QoS 0, PINGREQ, DISCONNECT and their answers), a few hundred lines.
//
// The encoders produce exactly the bytes mqtt.js/mqtt-packet write for the same packets (see
// tests/unit/strategies/vectors). The Decoder reads what a broker sends to a client; it is
// incremental (packets may be split across WebSocket frames or packed several to a frame),
// checks the remaining-length encoding (at most 4 bytes), bounds the packet size before
// buffering the body, validates each packet's fixed flags and layout, and rejects packets a
// broker never sends. After the first error it stays failed: the connection must be dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::strategies::mqtt {

using Bytes = std::vector<std::uint8_t>;

enum class PacketType : std::uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
};

const char* toString(PacketType type);

// Largest remaining length the encoding can express (4 bytes of 7 bits).
inline constexpr std::size_t kMaxRemainingLength = 268'435'455;
// Default bound on an incoming packet's remaining length.
inline constexpr std::size_t kDefaultMaxPacketSize = 1u << 20;

// The remaining-length field: 1-4 bytes, 7 bits each, least significant group first. Throws
// std::length_error beyond kMaxRemainingLength.
void appendRemainingLength(Bytes& out, std::size_t length);

// ---------------------------------------------------------------------------------------------
// Client -> broker. Strings longer than 65535 bytes and packets longer than kMaxRemainingLength
// throw std::length_error.

struct ConnectOptions {
  std::string clientId;
  std::uint16_t keepAliveSeconds = 60;
  bool cleanSession = true;
};
// Protocol name "MQTT", level 4, no will, user name or password.
Bytes encodeConnect(const ConnectOptions& options);

// QoS 0 when packetId is 0; otherwise qos (1 or 2) with that packet id.
Bytes encodePublish(std::string_view topic, std::string_view payload, std::uint8_t qos = 0,
                    std::uint16_t packetId = 0, bool retain = false, bool dup = false);

// One SUBSCRIBE for all topics, each with the requested QoS.
Bytes encodeSubscribe(std::uint16_t packetId, const std::vector<std::string>& topics,
                      std::uint8_t qos = 0);
Bytes encodeUnsubscribe(std::uint16_t packetId, const std::vector<std::string>& topics);
Bytes encodePingreq();
Bytes encodeDisconnect();
// Acknowledgements of QoS 1/2 publishes (a broker only sends those if asked to; we ask QoS 0).
Bytes encodePuback(std::uint16_t packetId);
Bytes encodePubrec(std::uint16_t packetId);
Bytes encodePubcomp(std::uint16_t packetId);

// ---------------------------------------------------------------------------------------------
// Broker -> client.

struct Packet {
  PacketType type = PacketType::Pingresp;
  std::uint16_t packetId = 0;  // PUBLISH with QoS > 0, PUBACK..PUBCOMP, SUBACK, UNSUBACK
  // CONNACK
  bool sessionPresent = false;
  std::uint8_t returnCode = 0;
  // PUBLISH
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::string topic;    // bytes as sent (MQTT requires UTF-8; not checked)
  std::string payload;  // raw bytes
  // SUBACK: one per topic, 0-2 granted QoS or 0x80 failure
  std::vector<std::uint8_t> returnCodes;
};

class Decoder {
 public:
  explicit Decoder(std::size_t maxPacketSize = kDefaultMaxPacketSize)
      : maxPacketSize_(maxPacketSize) {}

  // Buffers more of the stream. Ignored once failed.
  void append(std::span<const std::uint8_t> data);
  void append(std::string_view data);

  // The next complete packet, or nullopt when more data is needed or the stream is broken
  // (then failed() is true and error() says why).
  std::optional<Packet> next();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes buffered but not yet consumed.
  std::size_t buffered() const { return buffer_.size() - offset_; }
  // Forgets everything, failure included (for a new connection).
  void reset();

 private:
  std::optional<Packet> fail(std::string error);

  std::size_t maxPacketSize_;
  std::vector<std::uint8_t> buffer_;
  std::size_t offset_ = 0;  // start of the unconsumed data in buffer_
  std::string error_;
};

}  // namespace trystero::strategies::mqtt

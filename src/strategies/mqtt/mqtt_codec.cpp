#include "strategies/mqtt/mqtt_codec.hpp"

#include <stdexcept>

namespace trystero::strategies::mqtt {

namespace {

constexpr std::uint8_t header(PacketType type, std::uint8_t flags = 0) {
  return static_cast<std::uint8_t>((static_cast<std::uint8_t>(type) << 4) | (flags & 0x0F));
}

void appendU16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value & 0xFF));
}

void appendString(Bytes& out, std::string_view text) {
  if (text.size() > 0xFFFF) throw std::length_error("mqtt: string longer than 65535 bytes");
  appendU16(out, static_cast<std::uint16_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
}

// Fixed header + body.
Bytes packet(std::uint8_t first, const Bytes& body) {
  Bytes out;
  out.reserve(body.size() + 5);
  out.push_back(first);
  appendRemainingLength(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes packetIdOnly(std::uint8_t first, std::uint16_t packetId) {
  Bytes body;
  appendU16(body, packetId);
  return packet(first, body);
}

std::uint16_t readU16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned>(p[0]) << 8) | p[1]);
}

}  // namespace

const char* toString(PacketType type) {
  switch (type) {
    case PacketType::Connect:
      return "CONNECT";
    case PacketType::Connack:
      return "CONNACK";
    case PacketType::Publish:
      return "PUBLISH";
    case PacketType::Puback:
      return "PUBACK";
    case PacketType::Pubrec:
      return "PUBREC";
    case PacketType::Pubrel:
      return "PUBREL";
    case PacketType::Pubcomp:
      return "PUBCOMP";
    case PacketType::Subscribe:
      return "SUBSCRIBE";
    case PacketType::Suback:
      return "SUBACK";
    case PacketType::Unsubscribe:
      return "UNSUBSCRIBE";
    case PacketType::Unsuback:
      return "UNSUBACK";
    case PacketType::Pingreq:
      return "PINGREQ";
    case PacketType::Pingresp:
      return "PINGRESP";
    case PacketType::Disconnect:
      return "DISCONNECT";
  }
  return "?";
}

void appendRemainingLength(Bytes& out, std::size_t length) {
  if (length > kMaxRemainingLength) {
    throw std::length_error("mqtt: packet longer than the remaining length can express");
  }
  do {
    auto digit = static_cast<std::uint8_t>(length % 128);
    length /= 128;
    if (length > 0) digit |= 0x80;
    out.push_back(digit);
  } while (length > 0);
}

Bytes encodeConnect(const ConnectOptions& options) {
  Bytes body;
  appendString(body, "MQTT");
  body.push_back(4);                             // protocol level: 3.1.1
  body.push_back(options.cleanSession ? 2 : 0);  // connect flags
  appendU16(body, options.keepAliveSeconds);
  appendString(body, options.clientId);
  return packet(header(PacketType::Connect), body);
}

Bytes encodePublish(std::string_view topic, std::string_view payload, std::uint8_t qos,
                    std::uint16_t packetId, bool retain, bool dup) {
  if (packetId == 0) qos = 0;
  if (qos > 2) throw std::invalid_argument("mqtt: QoS must be 0, 1 or 2");
  Bytes body;
  body.reserve(topic.size() + payload.size() + 4);
  appendString(body, topic);
  if (qos > 0) appendU16(body, packetId);
  body.insert(body.end(), payload.begin(), payload.end());
  auto flags = static_cast<std::uint8_t>((dup && qos > 0 ? 8 : 0) | (qos << 1) | (retain ? 1 : 0));
  return packet(header(PacketType::Publish, flags), body);
}

Bytes encodeSubscribe(std::uint16_t packetId, const std::vector<std::string>& topics,
                      std::uint8_t qos) {
  if (qos > 2) throw std::invalid_argument("mqtt: QoS must be 0, 1 or 2");
  Bytes body;
  appendU16(body, packetId);
  for (const auto& topic : topics) {
    appendString(body, topic);
    body.push_back(qos);
  }
  return packet(header(PacketType::Subscribe, 2), body);
}

Bytes encodeUnsubscribe(std::uint16_t packetId, const std::vector<std::string>& topics) {
  Bytes body;
  appendU16(body, packetId);
  for (const auto& topic : topics) appendString(body, topic);
  return packet(header(PacketType::Unsubscribe, 2), body);
}

Bytes encodePingreq() { return {header(PacketType::Pingreq), 0}; }
Bytes encodeDisconnect() { return {header(PacketType::Disconnect), 0}; }
Bytes encodePuback(std::uint16_t packetId) {
  return packetIdOnly(header(PacketType::Puback), packetId);
}
Bytes encodePubrec(std::uint16_t packetId) {
  return packetIdOnly(header(PacketType::Pubrec), packetId);
}
Bytes encodePubcomp(std::uint16_t packetId) {
  return packetIdOnly(header(PacketType::Pubcomp), packetId);
}

// ---------------------------------------------------------------------------------------------

void Decoder::append(std::span<const std::uint8_t> data) {
  if (failed() || data.empty()) return;
  if (offset_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
}

void Decoder::append(std::string_view data) {
  append(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                       data.size()));
}

void Decoder::reset() {
  buffer_.clear();
  buffer_.shrink_to_fit();
  offset_ = 0;
  error_.clear();
}

std::optional<Packet> Decoder::fail(std::string error) {
  error_ = "mqtt: " + std::move(error);
  buffer_.clear();
  buffer_.shrink_to_fit();
  offset_ = 0;
  return std::nullopt;
}

namespace {

// The fixed header's type and flags, checked before waiting for anything else: an error, or
// empty when the broker may send this.
std::string checkFixedHeader(PacketType type, std::uint8_t flags) {
  switch (type) {
    case PacketType::Connect:
    case PacketType::Subscribe:
    case PacketType::Unsubscribe:
    case PacketType::Pingreq:
    case PacketType::Disconnect:
      return std::string("unexpected ") + toString(type) + " from a broker";
    case PacketType::Publish:
      if (((flags >> 1) & 3) == 3) return "PUBLISH with QoS 3";
      if ((flags & 8) && ((flags >> 1) & 3) == 0) return "PUBLISH with DUP at QoS 0";
      return "";
    case PacketType::Pubrel:
      return flags != 2 ? "PUBREL with header flags other than 0010" : "";
    default:
      return flags != 0 ? std::string(toString(type)) + " with nonzero header flags" : "";
  }
}

std::string decodePublish(std::uint8_t flags, const std::uint8_t* body, std::size_t length,
                          Packet& packet) {
  packet.qos = (flags >> 1) & 3;
  packet.retain = flags & 1;
  packet.dup = flags & 8;
  if (length < 2) return "PUBLISH without a topic";
  const std::size_t topicLength = readU16(body);
  std::size_t at = 2 + topicLength;
  if (topicLength == 0) return "PUBLISH with an empty topic";
  if (at > length) return "PUBLISH topic longer than the packet";
  packet.topic.assign(reinterpret_cast<const char*>(body + 2), topicLength);
  if (packet.qos > 0) {
    if (at + 2 > length) return "PUBLISH without its packet id";
    packet.packetId = readU16(body + at);
    if (packet.packetId == 0) return "PUBLISH with packet id 0";
    at += 2;
  }
  packet.payload.assign(reinterpret_cast<const char*>(body + at), length - at);
  return "";
}

// A whole packet's variable header and payload into packet: an error, or empty.
std::string decodeBody(PacketType type, std::uint8_t flags, const std::uint8_t* body,
                       std::size_t length, Packet& packet) {
  packet.type = type;
  switch (type) {
    case PacketType::Connack:
      if (length != 2) return "CONNACK with remaining length " + std::to_string(length);
      if (body[0] & 0xFE) return "CONNACK with reserved acknowledge flags set";
      packet.sessionPresent = body[0] & 1;
      packet.returnCode = body[1];
      return "";
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
    case PacketType::Unsuback:
      if (length != 2) {
        return std::string(toString(type)) + " with remaining length " + std::to_string(length);
      }
      packet.packetId = readU16(body);
      return packet.packetId == 0 ? std::string(toString(type)) + " with packet id 0" : "";
    case PacketType::Pingresp:
      return length != 0 ? "PINGRESP with a body" : "";
    case PacketType::Suback:
      if (length < 3) return "SUBACK without return codes";
      packet.packetId = readU16(body);
      if (packet.packetId == 0) return "SUBACK with packet id 0";
      for (std::size_t i = 2; i < length; ++i) {
        const std::uint8_t code = body[i];
        if (code > 2 && code != 0x80) return "SUBACK with return code " + std::to_string(code);
        packet.returnCodes.push_back(code);
      }
      return "";
    case PacketType::Publish:
      return decodePublish(flags, body, length, packet);
    default:
      return "unexpected packet type";  // unreachable: checkFixedHeader filtered it
  }
}

}  // namespace

std::optional<Packet> Decoder::next() {
  if (failed()) return std::nullopt;
  const std::size_t available = buffer_.size() - offset_;
  if (available == 0) {
    buffer_.clear();
    offset_ = 0;
    return std::nullopt;
  }
  const std::uint8_t* p = buffer_.data() + offset_;

  const unsigned typeBits = p[0] >> 4;
  const std::uint8_t flags = p[0] & 0x0F;
  if (typeBits == 0 || typeBits == 15) {
    return fail("reserved packet type " + std::to_string(typeBits));
  }
  const auto type = static_cast<PacketType>(typeBits);
  if (auto error = checkFixedHeader(type, flags); !error.empty()) return fail(std::move(error));

  // Remaining length: 1 to 4 bytes.
  std::size_t length = 0;
  std::size_t pos = 1;
  for (unsigned shift = 0;; shift += 7) {
    if (pos >= available) return std::nullopt;  // need more
    const std::uint8_t digit = p[pos++];
    length |= static_cast<std::size_t>(digit & 0x7F) << shift;
    if (!(digit & 0x80)) break;
    if (pos == 5) return fail("remaining length longer than 4 bytes");
  }
  if (length > maxPacketSize_) {
    return fail(std::string(toString(type)) + " of " + std::to_string(length) +
                " bytes exceeds the limit of " + std::to_string(maxPacketSize_));
  }
  if (available - pos < length) return std::nullopt;  // need more

  Packet packet;
  if (auto error = decodeBody(type, flags, p + pos, length, packet); !error.empty()) {
    return fail(std::move(error));
  }
  offset_ += pos + length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
    if (buffer_.capacity() > 256 * 1024) buffer_.shrink_to_fit();  // after a large packet
  }
  return packet;
}

}  // namespace trystero::strategies::mqtt

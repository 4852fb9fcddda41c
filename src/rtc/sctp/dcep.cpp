#include "rtc/sctp/dcep.hpp"

#include <algorithm>

namespace trystero::rtc::dcep {

namespace {

constexpr std::uint32_t kPpidString = 51;
constexpr std::uint32_t kPpidBinary = 53;
constexpr std::uint32_t kPpidStringEmpty = 56;
constexpr std::uint32_t kPpidBinaryEmpty = 57;
// Deprecated and not supported: 52 (binary partial), 54 (string partial).

// Message types and channel types.
constexpr std::uint8_t kAck = 0x02;
constexpr std::uint8_t kOpen = 0x03;
constexpr std::uint8_t kChannelReliable = 0x00;
constexpr std::uint8_t kChannelPartialRexmit = 0x01;
constexpr std::uint8_t kChannelPartialTimed = 0x02;
constexpr std::uint8_t kChannelUnorderedBit = 0x80;
constexpr std::uint16_t kPriorityLow = 256;
constexpr std::size_t kOpenHeader = 12;

std::uint16_t readBe16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t readBe32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
void writeBe16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void writeBe32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

}  // namespace

std::optional<MessageKind> messageKind(std::uint32_t ppid) {
  switch (ppid) {
    case kPpidString:
      return MessageKind{false, false};
    case kPpidBinary:
      return MessageKind{true, false};
    case kPpidStringEmpty:
      return MessageKind{false, true};
    case kPpidBinaryEmpty:
      return MessageKind{true, true};
    default:
      return std::nullopt;
  }
}

std::uint32_t ppidFor(MessageKind kind) {
  if (kind.empty) return kind.binary ? kPpidBinaryEmpty : kPpidStringEmpty;
  return kind.binary ? kPpidBinary : kPpidString;
}

std::vector<std::uint8_t> buildOpen(const std::string& label, const std::string& protocol) {
  std::vector<std::uint8_t> message(kOpenHeader + label.size() + protocol.size());
  message[0] = kOpen;
  message[1] = kChannelReliable;
  writeBe16(&message[2], kPriorityLow);
  writeBe32(&message[4], 0);
  writeBe16(&message[8], static_cast<std::uint16_t>(label.size()));
  writeBe16(&message[10], static_cast<std::uint16_t>(protocol.size()));
  std::copy(label.begin(), label.end(), message.begin() + kOpenHeader);
  std::copy(protocol.begin(), protocol.end(),
            message.begin() + static_cast<std::ptrdiff_t>(kOpenHeader + label.size()));
  return message;
}

std::span<const std::uint8_t> ack() {
  static const std::uint8_t kAckMessage[] = {kAck};
  return kAckMessage;
}

bool isAck(std::span<const std::uint8_t> message) { return !message.empty() && message[0] == kAck; }

std::optional<Open> parseOpen(std::span<const std::uint8_t> message) {
  if (message.size() < kOpenHeader || message[0] != kOpen) return std::nullopt;
  std::uint8_t channelType = message[1];
  std::uint32_t reliability = readBe32(&message[4]);
  std::size_t labelLength = readBe16(&message[8]);
  std::size_t protocolLength = readBe16(&message[10]);
  if (kOpenHeader + labelLength + protocolLength != message.size()) return std::nullopt;
  using Policy = SctpAssociation::StreamOptions::Policy;
  Open open;
  switch (channelType & static_cast<std::uint8_t>(~kChannelUnorderedBit)) {
    case kChannelReliable:
      break;
    case kChannelPartialRexmit:
      open.options.policy = Policy::MaxRetransmits;
      open.options.value = reliability;
      break;
    case kChannelPartialTimed:
      open.options.policy = Policy::MaxLifetime;
      open.options.value = reliability;
      break;
    default:
      return std::nullopt;
  }
  open.options.unordered = (channelType & kChannelUnorderedBit) != 0;
  const char* text = reinterpret_cast<const char*>(message.data()) + kOpenHeader;
  open.label.assign(text, labelLength);
  open.protocol.assign(text + labelLength, protocolLength);
  return open;
}

}  // namespace trystero::rtc::dcep

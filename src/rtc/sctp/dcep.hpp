// The wire format of data channel messages: the Data Channel Establishment Protocol (RFC 8832)
// and the payload protocol identifiers of RFC 8831 section 8.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rtc/sctp/sctp_association.hpp"

namespace trystero::rtc::dcep {

// Payload protocol identifier of DCEP messages (OPEN, ACK).
inline constexpr std::uint32_t kPpid = 50;

// What a user message's PPID says about it; nullopt for PPIDs not supported (the deprecated
// partial ones, unknown ones).
struct MessageKind {
  bool binary = false;
  bool empty = false;  // RFC 8831 section 6.6: sent as one byte that is not part of the message
};
std::optional<MessageKind> messageKind(std::uint32_t ppid);
// The PPID a user message goes out with.
std::uint32_t ppidFor(MessageKind kind);

// DATA_CHANNEL_OPEN for a reliable, ordered channel of "low" priority (the W3C default). The
// label and protocol must fit in 16-bit lengths.
std::vector<std::uint8_t> buildOpen(const std::string& label, const std::string& protocol);
// DATA_CHANNEL_ACK.
std::span<const std::uint8_t> ack();

bool isAck(std::span<const std::uint8_t> message);

struct Open {
  std::string label;
  std::string protocol;
  SctpAssociation::StreamOptions options;  // from the channel type and reliability parameter
};
// nullopt: not an OPEN, malformed, or of an unknown channel type.
std::optional<Open> parseOpen(std::span<const std::uint8_t> message);

}  // namespace trystero::rtc::dcep

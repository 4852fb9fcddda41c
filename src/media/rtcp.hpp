// RTCP compound packets (RFC 3550 section 6) and the feedback messages a video receiver sends
// (RFC 4585 generic NACK and PLI, RFC 5104 FIR). Parsing copies what it keeps, so the result
// does not refer to the buffer. Types this layer does not model (XR, APP, REMB, transport-cc...)
// come back as UnknownRtcp, so a compound with them still yields its other packets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "media/byte_io.hpp"

namespace trystero::media {

struct ReportBlock {
  std::uint32_t ssrc = 0;
  std::uint8_t fractionLost = 0;
  std::int32_t cumulativeLost = 0;  // 24-bit signed on the wire
  std::uint32_t extendedHighestSequence = 0;
  std::uint32_t jitter = 0;
  std::uint32_t lastSenderReport = 0;
  std::uint32_t delaySinceLastSenderReport = 0;
  bool operator==(const ReportBlock&) const = default;
};

struct SenderReport {
  std::uint32_t ssrc = 0;
  std::uint64_t ntpTimestamp = 0;
  std::uint32_t rtpTimestamp = 0;
  std::uint32_t packetCount = 0;
  std::uint32_t octetCount = 0;
  std::vector<ReportBlock> reports;
  bool operator==(const SenderReport&) const = default;
};

struct ReceiverReport {
  std::uint32_t ssrc = 0;
  std::vector<ReportBlock> reports;
  bool operator==(const ReceiverReport&) const = default;
};

inline constexpr std::uint8_t kSdesCname = 1;

struct SdesItem {
  std::uint8_t type = 0;
  std::string value;
  bool operator==(const SdesItem&) const = default;
};

struct SdesChunk {
  std::uint32_t ssrc = 0;
  std::vector<SdesItem> items;
  bool operator==(const SdesChunk&) const = default;
  const std::string* cname() const;
};

struct SourceDescription {
  std::vector<SdesChunk> chunks;
  bool operator==(const SourceDescription&) const = default;
};

struct Goodbye {
  std::vector<std::uint32_t> ssrcs;
  std::string reason;
  bool operator==(const Goodbye&) const = default;
};

// RTPFB FMT 1: each entry is a lost packet id plus a bitmask of the 16 that follow it.
struct GenericNack {
  struct Entry {
    std::uint16_t packetId = 0;
    std::uint16_t lostBitmask = 0;
    bool operator==(const Entry&) const = default;
  };
  std::uint32_t senderSsrc = 0;
  std::uint32_t mediaSsrc = 0;
  std::vector<Entry> entries;
  bool operator==(const GenericNack&) const = default;

  std::vector<std::uint16_t> lostSequenceNumbers() const;
  // Packs sorted-or-not sequence numbers into as few entries as the bitmasks allow.
  static GenericNack fromLost(std::uint32_t senderSsrc, std::uint32_t mediaSsrc,
                              std::vector<std::uint16_t> lost);
};

struct PictureLossIndication {  // PSFB FMT 1
  std::uint32_t senderSsrc = 0;
  std::uint32_t mediaSsrc = 0;
  bool operator==(const PictureLossIndication&) const = default;
};

struct FullIntraRequest {  // PSFB FMT 4
  struct Entry {
    std::uint32_t ssrc = 0;
    std::uint8_t sequenceNumber = 0;
    bool operator==(const Entry&) const = default;
  };
  std::uint32_t senderSsrc = 0;
  std::vector<Entry> entries;
  bool operator==(const FullIntraRequest&) const = default;
};

struct UnknownRtcp {
  std::uint8_t packetType = 0;
  std::uint8_t countOrFormat = 0;
  Bytes body;  // after the 4-byte header, padding removed
  bool operator==(const UnknownRtcp&) const = default;
};

using RtcpPacket = std::variant<SenderReport, ReceiverReport, SourceDescription, Goodbye,
                                GenericNack, PictureLossIndication, FullIntraRequest, UnknownRtcp>;

inline constexpr std::uint8_t kRtcpSenderReport = 200;
inline constexpr std::uint8_t kRtcpReceiverReport = 201;
inline constexpr std::uint8_t kRtcpSourceDescription = 202;
inline constexpr std::uint8_t kRtcpGoodbye = 203;
inline constexpr std::uint8_t kRtcpTransportFeedback = 205;
inline constexpr std::uint8_t kRtcpPayloadFeedback = 206;

// The whole compound or nothing: a length field that does not land exactly on the next packet
// (or the end) leaves no way to trust the packets after it. Padding is honoured on any packet
// (RFC 3550 allows it only on the last, but being lenient costs nothing here).
std::optional<std::vector<RtcpPacket>> parseRtcpCompound(ByteView data);

// Fails on what the wire cannot carry: more than 31 report blocks, SSRCs or chunks, an SDES
// item or BYE reason longer than 255 bytes, a packet longer than 2^18 bytes.
std::optional<Bytes> serializeRtcpCompound(const std::vector<RtcpPacket>& packets);

}  // namespace trystero::media

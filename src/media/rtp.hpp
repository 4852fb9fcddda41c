// RTP packets (RFC 3550) with RFC 8285 header extensions, and RTP/RTCP demultiplexing on one
// transport (RFC 5761). A parsed packet's spans point into the buffer it was parsed from, so the
// buffer must outlive it; no payload is copied until a depacketizer needs to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/byte_io.hpp"

namespace trystero::media {

inline constexpr std::size_t kRtpFixedHeaderSize = 12;
inline constexpr std::size_t kRtpMaxCsrcs = 15;
// RFC 8285 profile values in the extension header: "defined by profile" of RFC 3550 section 5.3.1.
inline constexpr std::uint16_t kOneByteExtensionProfile = 0xBEDE;
inline constexpr std::uint16_t kTwoByteExtensionProfile = 0x1000;  // low 4 bits: appbits

struct RtpExtension {
  std::uint8_t id = 0;
  ByteView data;
};

struct RtpPacket {
  bool marker = false;
  std::uint8_t payloadType = 0;
  std::uint16_t sequenceNumber = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::vector<std::uint32_t> csrcs;
  // RFC 8285 elements when the extension block uses the one- or two-byte form. A block of another
  // profile is kept whole in unknownExtensionProfile/unknownExtensionData instead, untouched.
  std::vector<RtpExtension> extensions;
  std::optional<std::uint16_t> unknownExtensionProfile;
  ByteView unknownExtensionData;
  ByteView payload;
  // Bytes of padding, including the count byte itself (RFC 3550: the last byte counts itself).
  std::uint8_t paddingSize = 0;

  const RtpExtension* findExtension(std::uint8_t id) const;
};

// Accepts only version 2 and lengths (CSRCs, extension words, padding) that fit in the buffer.
// One-byte elements end at ID 15 (RFC 8285 section 4.2: stop parsing); ID 0 bytes are padding.
std::optional<RtpPacket> parseRtp(ByteView packet);

// Writes the one-byte form when every element fits it (IDs 1-14, 1-16 bytes), else the two-byte
// form. Fails on more than 15 CSRCs, an element with ID 0 or more than 255 bytes, a payload type
// above 127, or both elements and an unknown block.
std::optional<Bytes> serializeRtp(const RtpPacket& packet);

// Extends 16-bit sequence numbers to 64 bits: each value is taken as the one nearest (within
// 2^15) to the previous value seen, so reordering and wrap-around are both handled. The first
// value maps to itself; values before it around a wrap come out negative.
class SequenceUnwrapper {
 public:
  std::int64_t unwrap(std::uint16_t sequenceNumber);

 private:
  std::optional<std::int64_t> last_;
};

// RFC 5761 section 4: on a muxed transport, RTCP packet types 192-223 land where an RTP marker
// bit and payload type 64-95 would, payload types RTP must therefore not use. Both kinds need
// version 2 in the first byte; anything else is neither.
enum class RtpKind { kRtp, kRtcp, kNeither };
RtpKind classifyRtpOrRtcp(ByteView packet);

}  // namespace trystero::media

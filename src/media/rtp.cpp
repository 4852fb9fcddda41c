#include "media/rtp.hpp"

#include <algorithm>

namespace trystero::media {

namespace {

bool parseOneByteElements(ByteView block, std::vector<RtpExtension>& out) {
  std::size_t at = 0;
  while (at < block.size()) {
    const std::uint8_t id = block[at] >> 4;
    if (id == 0) {  // padding between elements
      ++at;
      continue;
    }
    if (id == 15) return true;
    const std::size_t length = (block[at] & 0x0F) + 1u;
    ++at;
    if (length > block.size() - at) return false;
    out.push_back({id, block.subspan(at, length)});
    at += length;
  }
  return true;
}

bool parseTwoByteElements(ByteView block, std::vector<RtpExtension>& out) {
  std::size_t at = 0;
  while (at < block.size()) {
    const std::uint8_t id = block[at];
    if (id == 0) {
      ++at;
      continue;
    }
    if (block.size() - at < 2) return false;
    const std::size_t length = block[at + 1];
    at += 2;
    if (length > block.size() - at) return false;
    out.push_back({id, block.subspan(at, length)});
    at += length;
  }
  return true;
}

}  // namespace

const RtpExtension* RtpPacket::findExtension(std::uint8_t id) const {
  auto found = std::find_if(extensions.begin(), extensions.end(),
                            [id](const RtpExtension& extension) { return extension.id == id; });
  return found == extensions.end() ? nullptr : &*found;
}

std::optional<RtpPacket> parseRtp(ByteView data) {
  if (data.size() < kRtpFixedHeaderSize || data[0] >> 6 != 2) return std::nullopt;
  const bool hasPadding = data[0] & 0x20;
  const bool hasExtension = data[0] & 0x10;
  const std::size_t csrcCount = data[0] & 0x0F;
  RtpPacket packet;
  packet.marker = data[1] & 0x80;
  packet.payloadType = data[1] & 0x7F;
  packet.sequenceNumber = readU16(data, 2);
  packet.timestamp = readU32(data, 4);
  packet.ssrc = readU32(data, 8);
  std::size_t at = kRtpFixedHeaderSize;
  if (data.size() - at < csrcCount * 4) return std::nullopt;
  for (std::size_t i = 0; i < csrcCount; ++i, at += 4) packet.csrcs.push_back(readU32(data, at));
  if (hasExtension) {
    if (data.size() - at < 4) return std::nullopt;
    const std::uint16_t profile = readU16(data, at);
    const std::size_t length = std::size_t{readU16(data, at + 2)} * 4;
    at += 4;
    if (data.size() - at < length) return std::nullopt;
    ByteView block = data.subspan(at, length);
    at += length;
    if (profile == kOneByteExtensionProfile) {
      if (!parseOneByteElements(block, packet.extensions)) return std::nullopt;
    } else if ((profile & 0xFFF0) == kTwoByteExtensionProfile) {
      if (!parseTwoByteElements(block, packet.extensions)) return std::nullopt;
    } else {
      packet.unknownExtensionProfile = profile;
      packet.unknownExtensionData = block;
    }
  }
  std::size_t end = data.size();
  if (hasPadding) {
    const std::uint8_t padding = data[end - 1];
    if (padding == 0 || padding > end - at) return std::nullopt;
    packet.paddingSize = padding;
    end -= padding;
  }
  packet.payload = data.subspan(at, end - at);
  return packet;
}

std::optional<Bytes> serializeRtp(const RtpPacket& packet) {
  if (packet.csrcs.size() > kRtpMaxCsrcs || packet.payloadType > 127) return std::nullopt;
  if (!packet.extensions.empty() && packet.unknownExtensionProfile) return std::nullopt;
  if (packet.unknownExtensionData.size() % 4 != 0 ||
      packet.unknownExtensionData.size() / 4 > 0xFFFF) {
    return std::nullopt;
  }
  bool oneByte = true;
  for (const RtpExtension& extension : packet.extensions) {
    if (extension.id == 0 || extension.data.size() > 255) return std::nullopt;
    if (extension.id > 14 || extension.data.empty() || extension.data.size() > 16) oneByte = false;
  }
  Bytes elements;
  for (const RtpExtension& extension : packet.extensions) {
    if (oneByte) {
      appendU8(elements,
               static_cast<std::uint8_t>(extension.id << 4 | (extension.data.size() - 1)));
    } else {
      appendU8(elements, extension.id);
      appendU8(elements, static_cast<std::uint8_t>(extension.data.size()));
    }
    appendBytes(elements, extension.data);
  }
  elements.resize((elements.size() + 3) / 4 * 4, 0);
  if (elements.size() / 4 > 0xFFFF) return std::nullopt;

  const bool hasExtension = !packet.extensions.empty() || packet.unknownExtensionProfile;
  Bytes out;
  out.reserve(kRtpFixedHeaderSize + packet.csrcs.size() * 4 + 4 + elements.size() +
              packet.unknownExtensionData.size() + packet.payload.size() + packet.paddingSize);
  appendU8(out, static_cast<std::uint8_t>(0x80 | (packet.paddingSize ? 0x20 : 0) |
                                          (hasExtension ? 0x10 : 0) | packet.csrcs.size()));
  appendU8(out, static_cast<std::uint8_t>((packet.marker ? 0x80 : 0) | packet.payloadType));
  appendU16(out, packet.sequenceNumber);
  appendU32(out, packet.timestamp);
  appendU32(out, packet.ssrc);
  for (std::uint32_t csrc : packet.csrcs) appendU32(out, csrc);
  if (packet.unknownExtensionProfile) {
    appendU16(out, *packet.unknownExtensionProfile);
    appendU16(out, static_cast<std::uint16_t>(packet.unknownExtensionData.size() / 4));
    appendBytes(out, packet.unknownExtensionData);
  } else if (hasExtension) {
    appendU16(out, oneByte ? kOneByteExtensionProfile : kTwoByteExtensionProfile);
    appendU16(out, static_cast<std::uint16_t>(elements.size() / 4));
    appendBytes(out, elements);
  }
  appendBytes(out, packet.payload);
  if (packet.paddingSize) {
    out.resize(out.size() + packet.paddingSize - 1, 0);
    appendU8(out, packet.paddingSize);
  }
  return out;
}

std::int64_t SequenceUnwrapper::unwrap(std::uint16_t sequenceNumber) {
  if (!last_) {
    last_ = sequenceNumber;
    return *last_;
  }
  const auto delta = static_cast<std::int16_t>(
      static_cast<std::uint16_t>(sequenceNumber - static_cast<std::uint16_t>(*last_)));
  *last_ += delta;
  return *last_;
}

RtpKind classifyRtpOrRtcp(ByteView packet) {
  if (packet.size() < 2 || packet[0] >> 6 != 2) return RtpKind::kNeither;
  const int payloadType = packet[1] & 0x7F;
  if (payloadType >= 64 && payloadType <= 95) return RtpKind::kRtcp;
  return packet.size() >= kRtpFixedHeaderSize ? RtpKind::kRtp : RtpKind::kNeither;
}

}  // namespace trystero::media

#include "media/rtcp.hpp"

#include <algorithm>

namespace trystero::media {

namespace {

constexpr std::size_t kReportBlockSize = 24;
constexpr std::size_t kMaxCount = 31;
constexpr std::uint8_t kNackFormat = 1;
constexpr std::uint8_t kPliFormat = 1;
constexpr std::uint8_t kFirFormat = 4;

ReportBlock readReportBlock(ByteView data, std::size_t at) {
  ReportBlock block;
  block.ssrc = readU32(data, at);
  block.fractionLost = data[at + 4];
  const std::uint32_t lost = readU24(data, at + 5);
  block.cumulativeLost = (lost & 0x800000) ? static_cast<std::int32_t>(lost) - 0x1000000
                                           : static_cast<std::int32_t>(lost);
  block.extendedHighestSequence = readU32(data, at + 8);
  block.jitter = readU32(data, at + 12);
  block.lastSenderReport = readU32(data, at + 16);
  block.delaySinceLastSenderReport = readU32(data, at + 20);
  return block;
}

std::optional<std::vector<ReportBlock>> readReportBlocks(ByteView body, std::size_t at,
                                                         std::size_t count) {
  if (body.size() < at || (body.size() - at) / kReportBlockSize < count) return std::nullopt;
  std::vector<ReportBlock> blocks;
  for (std::size_t i = 0; i < count; ++i) blocks.push_back(readReportBlock(body, at + i * 24));
  return blocks;
}

std::optional<RtcpPacket> parseSdes(ByteView body, std::size_t count) {
  SourceDescription sdes;
  std::size_t at = 0;
  for (std::size_t chunk = 0; chunk < count; ++chunk) {
    if (body.size() - at < 4) return std::nullopt;
    SdesChunk parsed{.ssrc = readU32(body, at), .items = {}};
    at += 4;
    while (true) {
      if (at >= body.size()) return std::nullopt;  // chunks end with a null item
      const std::uint8_t type = body[at];
      if (type == 0) {
        ++at;
        break;
      }
      if (body.size() - at < 2 || body[at + 1] > body.size() - at - 2) return std::nullopt;
      const std::size_t length = body[at + 1];
      parsed.items.push_back(
          {type, std::string(reinterpret_cast<const char*>(body.data() + at + 2), length)});
      at += 2 + length;
    }
    at = (at + 3) / 4 * 4;  // null octets fill the chunk to a word
    if (at > body.size()) return std::nullopt;
    sdes.chunks.push_back(std::move(parsed));
  }
  return sdes;
}

std::optional<RtcpPacket> parseBye(ByteView body, std::size_t count) {
  if (body.size() / 4 < count) return std::nullopt;
  Goodbye bye;
  for (std::size_t i = 0; i < count; ++i) bye.ssrcs.push_back(readU32(body, i * 4));
  const std::size_t at = count * 4;
  if (at < body.size()) {
    const std::size_t length = body[at];
    if (length > body.size() - at - 1) return std::nullopt;
    bye.reason.assign(reinterpret_cast<const char*>(body.data() + at + 1), length);
  }
  return bye;
}

std::optional<RtcpPacket> parseOne(std::uint8_t type, std::uint8_t count, ByteView body) {
  switch (type) {
    case kRtcpSenderReport: {
      if (body.size() < 24) return std::nullopt;
      auto blocks = readReportBlocks(body, 24, count);
      if (!blocks) return std::nullopt;
      return SenderReport{readU32(body, 0),  readU64(body, 4),  readU32(body, 12),
                          readU32(body, 16), readU32(body, 20), std::move(*blocks)};
    }
    case kRtcpReceiverReport: {
      if (body.size() < 4) return std::nullopt;
      auto blocks = readReportBlocks(body, 4, count);
      if (!blocks) return std::nullopt;
      return ReceiverReport{readU32(body, 0), std::move(*blocks)};
    }
    case kRtcpSourceDescription:
      return parseSdes(body, count);
    case kRtcpGoodbye:
      return parseBye(body, count);
    case kRtcpTransportFeedback:
      if (count == kNackFormat) {
        if (body.size() < 8 || body.size() % 4 != 0) return std::nullopt;
        GenericNack nack{readU32(body, 0), readU32(body, 4), {}};
        for (std::size_t at = 8; at < body.size(); at += 4) {
          nack.entries.push_back({readU16(body, at), readU16(body, at + 2)});
        }
        return nack;
      }
      break;
    case kRtcpPayloadFeedback:
      if (count == kPliFormat) {
        if (body.size() < 8) return std::nullopt;
        return PictureLossIndication{readU32(body, 0), readU32(body, 4)};
      }
      if (count == kFirFormat) {
        if (body.size() < 8 || body.size() % 8 != 0) return std::nullopt;
        FullIntraRequest fir{readU32(body, 0), {}};
        for (std::size_t at = 8; at < body.size(); at += 8) {
          fir.entries.push_back({readU32(body, at), body[at + 4]});
        }
        return fir;
      }
      break;
    default:
      break;
  }
  return UnknownRtcp{type, count, Bytes(body.begin(), body.end())};
}

void writeReportBlock(Bytes& out, const ReportBlock& block) {
  appendU32(out, block.ssrc);
  appendU8(out, block.fractionLost);
  const std::int32_t lost = std::clamp(block.cumulativeLost, -0x800000, 0x7FFFFF);
  appendU24(out, static_cast<std::uint32_t>(lost) & 0xFFFFFF);
  appendU32(out, block.extendedHighestSequence);
  appendU32(out, block.jitter);
  appendU32(out, block.lastSenderReport);
  appendU32(out, block.delaySinceLastSenderReport);
}

struct PacketBody {
  std::uint8_t type = 0;
  std::uint8_t count = 0;
  Bytes body;
};

std::optional<PacketBody> writeBody(const RtcpPacket& packet) {
  PacketBody out;
  auto tooMany = [](std::size_t n) { return n > kMaxCount; };
  bool ok = std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, SenderReport>) {
          if (tooMany(p.reports.size())) return false;
          out.type = kRtcpSenderReport;
          out.count = static_cast<std::uint8_t>(p.reports.size());
          appendU32(out.body, p.ssrc);
          appendU64(out.body, p.ntpTimestamp);
          appendU32(out.body, p.rtpTimestamp);
          appendU32(out.body, p.packetCount);
          appendU32(out.body, p.octetCount);
          for (const auto& block : p.reports) writeReportBlock(out.body, block);
        } else if constexpr (std::is_same_v<T, ReceiverReport>) {
          if (tooMany(p.reports.size())) return false;
          out.type = kRtcpReceiverReport;
          out.count = static_cast<std::uint8_t>(p.reports.size());
          appendU32(out.body, p.ssrc);
          for (const auto& block : p.reports) writeReportBlock(out.body, block);
        } else if constexpr (std::is_same_v<T, SourceDescription>) {
          if (tooMany(p.chunks.size())) return false;
          out.type = kRtcpSourceDescription;
          out.count = static_cast<std::uint8_t>(p.chunks.size());
          for (const auto& chunk : p.chunks) {
            appendU32(out.body, chunk.ssrc);
            for (const auto& item : chunk.items) {
              if (item.type == 0 || item.value.size() > 255) return false;
              appendU8(out.body, item.type);
              appendU8(out.body, static_cast<std::uint8_t>(item.value.size()));
              out.body.insert(out.body.end(), item.value.begin(), item.value.end());
            }
            // At least one null octet ends the item list, then more fill the word.
            appendU8(out.body, 0);
            out.body.resize((out.body.size() + 3) / 4 * 4, 0);
          }
        } else if constexpr (std::is_same_v<T, Goodbye>) {
          if (tooMany(p.ssrcs.size()) || p.reason.size() > 255) return false;
          out.type = kRtcpGoodbye;
          out.count = static_cast<std::uint8_t>(p.ssrcs.size());
          for (std::uint32_t ssrc : p.ssrcs) appendU32(out.body, ssrc);
          if (!p.reason.empty()) {
            appendU8(out.body, static_cast<std::uint8_t>(p.reason.size()));
            out.body.insert(out.body.end(), p.reason.begin(), p.reason.end());
            out.body.resize((out.body.size() + 3) / 4 * 4, 0);
          }
        } else if constexpr (std::is_same_v<T, GenericNack>) {
          out.type = kRtcpTransportFeedback;
          out.count = kNackFormat;
          appendU32(out.body, p.senderSsrc);
          appendU32(out.body, p.mediaSsrc);
          for (const auto& entry : p.entries) {
            appendU16(out.body, entry.packetId);
            appendU16(out.body, entry.lostBitmask);
          }
        } else if constexpr (std::is_same_v<T, PictureLossIndication>) {
          out.type = kRtcpPayloadFeedback;
          out.count = kPliFormat;
          appendU32(out.body, p.senderSsrc);
          appendU32(out.body, p.mediaSsrc);
        } else if constexpr (std::is_same_v<T, FullIntraRequest>) {
          out.type = kRtcpPayloadFeedback;
          out.count = kFirFormat;
          appendU32(out.body, p.senderSsrc);
          appendU32(out.body, 0);  // RFC 5104 section 4.3.1.2: media source SSRC unused, 0
          for (const auto& entry : p.entries) {
            appendU32(out.body, entry.ssrc);
            appendU8(out.body, entry.sequenceNumber);
            appendU24(out.body, 0);
          }
        } else {
          if (p.countOrFormat > kMaxCount || p.body.size() % 4 != 0) return false;
          out.type = p.packetType;
          out.count = p.countOrFormat;
          out.body = p.body;
        }
        return true;
      },
      packet);
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace

const std::string* SdesChunk::cname() const {
  for (const SdesItem& item : items) {
    if (item.type == kSdesCname) return &item.value;
  }
  return nullptr;
}

std::vector<std::uint16_t> GenericNack::lostSequenceNumbers() const {
  std::vector<std::uint16_t> lost;
  for (const Entry& entry : entries) {
    lost.push_back(entry.packetId);
    for (int bit = 0; bit < 16; ++bit) {
      if (entry.lostBitmask & (1u << bit)) {
        lost.push_back(static_cast<std::uint16_t>(entry.packetId + bit + 1));
      }
    }
  }
  return lost;
}

GenericNack GenericNack::fromLost(std::uint32_t senderSsrc, std::uint32_t mediaSsrc,
                                  std::vector<std::uint16_t> lost) {
  GenericNack nack{senderSsrc, mediaSsrc, {}};
  // Sorted in wrap-around order starting at the first: a list crossing 65535 -> 0 stays in order.
  if (!lost.empty()) {
    const std::uint16_t base = lost.front();
    std::sort(lost.begin(), lost.end(), [base](std::uint16_t a, std::uint16_t b) {
      return static_cast<std::uint16_t>(a - base) < static_cast<std::uint16_t>(b - base);
    });
    lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
  }
  for (std::uint16_t sequence : lost) {
    if (!nack.entries.empty()) {
      Entry& last = nack.entries.back();
      const std::uint16_t distance = static_cast<std::uint16_t>(sequence - last.packetId);
      if (distance >= 1 && distance <= 16) {
        last.lostBitmask |= static_cast<std::uint16_t>(1u << (distance - 1));
        continue;
      }
    }
    nack.entries.push_back({sequence, 0});
  }
  return nack;
}

std::optional<std::vector<RtcpPacket>> parseRtcpCompound(ByteView data) {
  if (data.empty()) return std::nullopt;
  std::vector<RtcpPacket> packets;
  std::size_t at = 0;
  while (at < data.size()) {
    if (data.size() - at < 4 || data[at] >> 6 != 2) return std::nullopt;
    const bool padded = data[at] & 0x20;
    const std::uint8_t count = data[at] & 0x1F;
    const std::uint8_t type = data[at + 1];
    const std::size_t length = (std::size_t{readU16(data, at + 2)} + 1) * 4;
    if (length > data.size() - at) return std::nullopt;
    ByteView body = data.subspan(at + 4, length - 4);
    if (padded) {
      if (body.empty() || body.back() == 0 || body.back() > body.size()) return std::nullopt;
      body = body.first(body.size() - body.back());
    }
    auto packet = parseOne(type, count, body);
    if (!packet) return std::nullopt;
    packets.push_back(std::move(*packet));
    at += length;
  }
  return packets;
}

std::optional<Bytes> serializeRtcpCompound(const std::vector<RtcpPacket>& packets) {
  Bytes out;
  for (const RtcpPacket& packet : packets) {
    auto written = writeBody(packet);
    if (!written || written->body.size() % 4 != 0 || written->body.size() / 4 > 0xFFFF) {
      return std::nullopt;
    }
    appendU8(out, static_cast<std::uint8_t>(0x80 | written->count));
    appendU8(out, written->type);
    appendU16(out, static_cast<std::uint16_t>(written->body.size() / 4));
    appendBytes(out, written->body);
  }
  return out;
}

}  // namespace trystero::media

#include "media/h264.hpp"

#include <algorithm>

#include "media/payload_split.hpp"

namespace trystero::media {

namespace {

constexpr std::uint8_t kStartCode[] = {0, 0, 0, 1};

std::uint8_t nalType(std::uint8_t header) { return header & 0x1F; }

// The NAL units a STAP-A carries, or nothing when its sizes do not tile it exactly.
std::optional<std::vector<ByteView>> stapAUnits(ByteView payload) {
  std::vector<ByteView> units;
  std::size_t at = 1;
  while (at < payload.size()) {
    if (payload.size() - at < 2) return std::nullopt;
    const std::size_t size = readU16(payload, at);
    at += 2;
    if (size == 0 || size > payload.size() - at) return std::nullopt;
    units.push_back(payload.subspan(at, size));
    at += size;
  }
  if (units.empty()) return std::nullopt;
  return units;
}

// ITU-T H.264 7.3.3: first_mb_in_slice is the slice header's first ue(v); a leading 1 bit is 0.
bool firstSliceOfPicture(std::uint8_t type, ByteView afterHeader) {
  return (type == kH264NalSlice || type == kH264NalIdr) && !afterHeader.empty() &&
         (afterHeader[0] & 0x80);
}

// The first NAL unit's type and the bytes after its header, through STAP-A and FU-A.
struct FirstUnit {
  std::uint8_t type = 0;
  ByteView rest;
  bool fragmentStart = true;
};
std::optional<FirstUnit> firstUnit(ByteView payload) {
  if (payload.empty()) return std::nullopt;
  const std::uint8_t type = nalType(payload[0]);
  if (type == kH264StapA) {
    auto units = stapAUnits(payload);
    if (!units) return std::nullopt;
    return FirstUnit{nalType((*units)[0][0]), (*units)[0].subspan(1), true};
  }
  if (type == kH264FuA) {
    if (payload.size() < 2) return std::nullopt;
    return FirstUnit{nalType(payload[1]), payload.subspan(2), (payload[1] & 0x80) != 0};
  }
  return FirstUnit{type, payload.subspan(1), true};
}

}  // namespace

std::vector<ByteView> splitAnnexB(ByteView stream) {
  std::vector<ByteView> units;
  // Positions just after each 00 00 01.
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i + 2 < stream.size(); ++i) {
    if (stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1) {
      starts.push_back(i + 3);
      i += 2;
    }
  }
  if (starts.empty()) {
    if (!stream.empty()) units.push_back(stream);
    return units;
  }
  for (std::size_t n = 0; n < starts.size(); ++n) {
    std::size_t end = n + 1 < starts.size() ? starts[n + 1] - 3 : stream.size();
    while (end > starts[n] && stream[end - 1] == 0) --end;
    if (end > starts[n]) units.push_back(stream.subspan(starts[n], end - starts[n]));
  }
  return units;
}

std::vector<Bytes> packetizeH264(ByteView frame, std::size_t maxPayloadSize) {
  std::vector<Bytes> payloads;
  if (maxPayloadSize < 3) return payloads;
  const std::vector<ByteView> units = splitAnnexB(frame);
  std::size_t n = 0;
  while (n < units.size()) {
    const ByteView unit = units[n];
    if (unit.size() > maxPayloadSize) {
      // FU-A: indicator (F, NRI of the unit; type 28), FU header (S, E, type), a piece.
      const std::uint8_t indicator = static_cast<std::uint8_t>((unit[0] & 0xE0) | kH264FuA);
      std::size_t at = 1;
      const auto pieces = splitEvenly(unit.size() - 1, maxPayloadSize - 2);
      for (std::size_t p = 0; p < pieces.size(); ++p) {
        Bytes payload = {indicator, static_cast<std::uint8_t>((p == 0 ? 0x80 : 0) |
                                                              (p + 1 == pieces.size() ? 0x40 : 0) |
                                                              nalType(unit[0]))};
        appendBytes(payload, unit.subspan(at, pieces[p]));
        at += pieces[p];
        payloads.push_back(std::move(payload));
      }
      ++n;
      continue;
    }
    // Aggregate as many following units as fit; one alone goes as a single NAL unit packet.
    std::size_t end = n + 1;
    std::size_t aggregateSize = 1 + 2 + unit.size();
    // STAP-A sizes are 16 bits: a larger unit (under a budget above 64 KiB) goes alone.
    while (unit.size() <= 0xFFFF && end < units.size() && units[end].size() <= 0xFFFF &&
           aggregateSize + 2 + units[end].size() <= maxPayloadSize) {
      aggregateSize += 2 + units[end].size();
      ++end;
    }
    if (end == n + 1) {
      payloads.emplace_back(unit.begin(), unit.end());
    } else {
      std::uint8_t nri = 0;
      for (std::size_t k = n; k < end; ++k) nri = std::max<std::uint8_t>(nri, units[k][0] & 0x60);
      Bytes payload = {static_cast<std::uint8_t>(nri | kH264StapA)};
      for (std::size_t k = n; k < end; ++k) {
        appendU16(payload, static_cast<std::uint16_t>(units[k].size()));
        appendBytes(payload, units[k]);
      }
      payloads.push_back(std::move(payload));
    }
    n = end;
  }
  return payloads;
}

bool H264Format::isValid(ByteView payload) const {
  if (payload.empty() || (payload[0] & 0x80)) return false;  // the F bit flags a broken unit
  const std::uint8_t type = nalType(payload[0]);
  if (type >= 1 && type <= 23) return true;
  if (type == kH264StapA) return stapAUnits(payload).has_value();
  if (type == kH264FuA) {
    // RFC 6184 5.8: S and E are never both set; a fragment carries at least one byte.
    return payload.size() > 2 && (payload[1] & 0xC0) != 0xC0;
  }
  return false;  // STAP-B, MTAP, FU-B and reserved types are not packetization-mode 1
}

bool H264Format::beginsFrame(ByteView payload) const {
  auto unit = firstUnit(payload);
  if (!unit || !unit->fragmentStart) return false;
  return unit->type == kH264NalAud || unit->type == kH264NalSps ||
         firstSliceOfPicture(unit->type, unit->rest);
}

bool H264Format::beginsKeyframe(ByteView payload) const {
  auto unit = firstUnit(payload);
  return unit && unit->fragmentStart && beginsFrame(payload) &&
         (unit->type == kH264NalSps || unit->type == kH264NalIdr);
}

std::optional<EncodedFrame> H264Format::assemble(std::span<const ByteView> payloads) const {
  EncodedFrame frame;
  bool inFragment = false;
  auto addUnitStart = [&frame](std::uint8_t header) {
    appendBytes(frame.data, kStartCode);
    appendU8(frame.data, header);
    const std::uint8_t type = nalType(header);
    if (type == kH264NalIdr || type == kH264NalSps) frame.keyframe = true;
  };
  for (ByteView payload : payloads) {
    if (!isValid(payload)) return std::nullopt;
    const std::uint8_t type = nalType(payload[0]);
    if (type == kH264FuA) {
      const bool start = payload[1] & 0x80;
      if (start == inFragment) return std::nullopt;  // a start inside a unit, or a middle outside
      if (start) {
        addUnitStart(static_cast<std::uint8_t>((payload[0] & 0xE0) | nalType(payload[1])));
      }
      appendBytes(frame.data, payload.subspan(2));
      inFragment = !(payload[1] & 0x40);
      continue;
    }
    if (inFragment) return std::nullopt;
    if (type == kH264StapA) {
      const auto units = stapAUnits(payload);  // a named optional: it must outlive the loop
      if (!units) return std::nullopt;
      for (ByteView unit : *units) {
        addUnitStart(unit[0]);
        appendBytes(frame.data, unit.subspan(1));
      }
    } else {
      addUnitStart(payload[0]);
      appendBytes(frame.data, payload.subspan(1));
    }
  }
  if (inFragment) return std::nullopt;
  return frame;
}

FrameAssembler makeH264Depacketizer(FrameAssembler::Limits limits) {
  return FrameAssembler(std::make_unique<H264Format>(), limits);
}

}  // namespace trystero::media

#include "media/vp8.hpp"

#include "media/payload_split.hpp"

namespace trystero::media {

std::optional<Vp8Descriptor> parseVp8Descriptor(ByteView payload) {
  if (payload.empty()) return std::nullopt;
  Vp8Descriptor d;
  const std::uint8_t first = payload[0];
  d.nonReference = first & 0x20;
  d.startOfPartition = first & 0x10;
  d.partitionIndex = first & 0x07;
  std::size_t at = 1;
  if (first & 0x80) {
    if (payload.size() <= at) return std::nullopt;
    const std::uint8_t extension = payload[at++];
    if (extension & 0x80) {  // I
      if (payload.size() <= at) return std::nullopt;
      if (payload[at] & 0x80) {
        if (payload.size() - at < 2) return std::nullopt;
        d.longPictureId = true;
        d.pictureId = readU16(payload, at) & 0x7FFF;
        at += 2;
      } else {
        d.pictureId = payload[at++];
      }
    }
    if (extension & 0x40) {  // L
      if (payload.size() <= at) return std::nullopt;
      d.tl0PicIdx = payload[at++];
    }
    if (extension & 0x30) {  // T or K share one byte
      if (payload.size() <= at) return std::nullopt;
      const std::uint8_t byte = payload[at++];
      if (extension & 0x20) {
        d.temporalLayer = byte >> 6;
        d.layerSync = byte & 0x20;
      }
      if (extension & 0x10) d.keyIndex = byte & 0x1F;
    }
  }
  if (at >= payload.size()) return std::nullopt;
  d.size = at;
  return d;
}

Bytes writeVp8Descriptor(const Vp8Descriptor& d) {
  Bytes out;
  const bool extended = d.pictureId || d.tl0PicIdx || d.temporalLayer || d.keyIndex;
  appendU8(out,
           static_cast<std::uint8_t>((extended ? 0x80 : 0) | (d.nonReference ? 0x20 : 0) |
                                     (d.startOfPartition ? 0x10 : 0) | (d.partitionIndex & 0x07)));
  if (!extended) return out;
  appendU8(out, static_cast<std::uint8_t>((d.pictureId ? 0x80 : 0) | (d.tl0PicIdx ? 0x40 : 0) |
                                          (d.temporalLayer ? 0x20 : 0) | (d.keyIndex ? 0x10 : 0)));
  if (d.pictureId) {
    if (d.longPictureId || *d.pictureId > 0x7F) {
      appendU16(out, static_cast<std::uint16_t>(0x8000 | (*d.pictureId & 0x7FFF)));
    } else {
      appendU8(out, static_cast<std::uint8_t>(*d.pictureId));
    }
  }
  if (d.tl0PicIdx) appendU8(out, *d.tl0PicIdx);
  if (d.temporalLayer || d.keyIndex) {
    appendU8(out,
             static_cast<std::uint8_t>((d.temporalLayer.value_or(0) & 0x03) << 6 |
                                       (d.layerSync ? 0x20 : 0) | (d.keyIndex.value_or(0) & 0x1F)));
  }
  return out;
}

bool isVp8Keyframe(ByteView frame) { return !frame.empty() && (frame[0] & 0x01) == 0; }

Vp8Packetizer::Vp8Packetizer(std::optional<std::uint16_t> firstPictureId)
    : pictureId_(firstPictureId) {
  if (pictureId_) *pictureId_ &= 0x7FFF;
}

std::vector<Bytes> Vp8Packetizer::packetize(ByteView frame, std::size_t maxPayloadSize) {
  Vp8Descriptor descriptor;
  descriptor.pictureId = pictureId_;
  descriptor.longPictureId = pictureId_.has_value();
  const std::size_t descriptorSize = writeVp8Descriptor(descriptor).size();
  std::vector<Bytes> payloads;
  if (frame.empty() || maxPayloadSize <= descriptorSize) return payloads;
  std::size_t at = 0;
  for (std::size_t part : splitEvenly(frame.size(), maxPayloadSize - descriptorSize)) {
    descriptor.startOfPartition = at == 0;
    Bytes payload = writeVp8Descriptor(descriptor);
    appendBytes(payload, frame.subspan(at, part));
    payloads.push_back(std::move(payload));
    at += part;
  }
  if (pictureId_) *pictureId_ = (*pictureId_ + 1) & 0x7FFF;
  return payloads;
}

bool Vp8Format::isValid(ByteView payload) const { return parseVp8Descriptor(payload).has_value(); }

bool Vp8Format::beginsFrame(ByteView payload) const {
  auto descriptor = parseVp8Descriptor(payload);
  return descriptor && descriptor->beginsFrame();
}

bool Vp8Format::beginsKeyframe(ByteView payload) const {
  auto descriptor = parseVp8Descriptor(payload);
  return descriptor && descriptor->beginsFrame() &&
         isVp8Keyframe(payload.subspan(descriptor->size));
}

std::optional<EncodedFrame> Vp8Format::assemble(std::span<const ByteView> payloads) const {
  EncodedFrame frame;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    auto descriptor = parseVp8Descriptor(payloads[i]);
    if (!descriptor || (i == 0 && !descriptor->beginsFrame())) return std::nullopt;
    appendBytes(frame.data, payloads[i].subspan(descriptor->size));
  }
  frame.keyframe = isVp8Keyframe(frame.data);
  return frame;
}

FrameAssembler makeVp8Depacketizer(FrameAssembler::Limits limits) {
  return FrameAssembler(std::make_unique<Vp8Format>(), limits);
}

}  // namespace trystero::media

// VP8 over RTP (RFC 7741): the payload descriptor, a packetizer and the payload format rules
// the FrameAssembler reassembles VP8 frames with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/byte_io.hpp"
#include "media/frame_assembler.hpp"

namespace trystero::media {

struct Vp8Descriptor {
  bool nonReference = false;               // N
  bool startOfPartition = false;           // S
  std::uint8_t partitionIndex = 0;         // PID, 0-7
  std::optional<std::uint16_t> pictureId;  // 7 or 15 bits
  bool longPictureId = false;              // the M bit: pictureId took 15 bits
  std::optional<std::uint8_t> tl0PicIdx;
  std::optional<std::uint8_t> temporalLayer;  // TID, with layerSync (Y)
  bool layerSync = false;
  std::optional<std::uint8_t> keyIndex;  // KEYIDX
  std::size_t size = 0;                  // bytes the descriptor took

  bool beginsFrame() const { return startOfPartition && partitionIndex == 0; }
};

// Nullopt when the descriptor runs past the payload or leaves no VP8 bytes after it.
std::optional<Vp8Descriptor> parseVp8Descriptor(ByteView payload);
Bytes writeVp8Descriptor(const Vp8Descriptor& descriptor);

// RFC 6386 section 9.1: bit 0 of the frame tag is 0 on a keyframe.
bool isVp8Keyframe(ByteView frame);

class Vp8Packetizer {
 public:
  // With a picture ID (15 bits, incremented per frame, as browsers send it) unless told not to.
  explicit Vp8Packetizer(std::optional<std::uint16_t> firstPictureId = 0);

  // Payloads of at most maxPayloadSize bytes, of near-equal sizes; the caller sets the marker on
  // the last. Empty when the frame is empty or the budget leaves no room for VP8 bytes.
  std::vector<Bytes> packetize(ByteView frame, std::size_t maxPayloadSize);

 private:
  std::optional<std::uint16_t> pictureId_;
};

class Vp8Format final : public PayloadFormat {
 public:
  bool isValid(ByteView payload) const override;
  bool beginsFrame(ByteView payload) const override;
  bool beginsKeyframe(ByteView payload) const override;
  std::optional<EncodedFrame> assemble(std::span<const ByteView> payloads) const override;
};

FrameAssembler makeVp8Depacketizer(FrameAssembler::Limits limits = {});

}  // namespace trystero::media

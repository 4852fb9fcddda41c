// H.264 over RTP (RFC 6184), packetization-mode 1: single NAL unit packets, STAP-A aggregates
// and FU-A fragments. Frames are Annex B byte streams (NAL units behind 00 00 00 01) both ways.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "media/byte_io.hpp"
#include "media/frame_assembler.hpp"

namespace trystero::media {

inline constexpr std::uint8_t kH264NalSlice = 1;
inline constexpr std::uint8_t kH264NalIdr = 5;
inline constexpr std::uint8_t kH264NalSps = 7;
inline constexpr std::uint8_t kH264NalPps = 8;
inline constexpr std::uint8_t kH264NalAud = 9;
inline constexpr std::uint8_t kH264StapA = 24;
inline constexpr std::uint8_t kH264FuA = 28;

// The NAL units of an Annex B stream, start codes and trailing zero bytes removed. Input without
// a start code is taken as one NAL unit.
std::vector<ByteView> splitAnnexB(ByteView stream);

// Small NAL units are aggregated into STAP-A, large ones split into FU-A; the caller sets the
// marker on the last payload. Empty when the frame has no NAL units or the budget is under 3.
std::vector<Bytes> packetizeH264(ByteView annexBFrame, std::size_t maxPayloadSize);

class H264Format final : public PayloadFormat {
 public:
  bool isValid(ByteView payload) const override;
  bool beginsFrame(ByteView payload) const override;
  bool beginsKeyframe(ByteView payload) const override;
  std::optional<EncodedFrame> assemble(std::span<const ByteView> payloads) const override;
};

FrameAssembler makeH264Depacketizer(FrameAssembler::Limits limits = {});

}  // namespace trystero::media

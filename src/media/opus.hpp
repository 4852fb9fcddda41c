// Opus over RTP (RFC 7587): one Opus packet per RTP packet, 48 kHz clock. The marker bit means
// "first packet of a talkspurt" here, not "end of frame", so it is the sender's choice.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "media/byte_io.hpp"
#include "media/frame_assembler.hpp"

namespace trystero::media {

// One payload, the frame itself; empty when the frame is empty or over the budget (Opus frames
// cannot be split across packets).
std::vector<Bytes> packetizeOpus(ByteView frame, std::size_t maxPayloadSize);

// RFC 6716 section 3.1: samples at 48 kHz in an Opus packet, from its TOC byte (and frame count
// byte for code 3). Nullopt for a packet too short to say or longer than 120 ms.
std::optional<std::size_t> opusPacketSamples(ByteView packet);

class OpusFormat final : public PayloadFormat {
 public:
  bool isValid(ByteView payload) const override { return !payload.empty(); }
  bool beginsFrame(ByteView) const override { return true; }
  bool beginsKeyframe(ByteView) const override { return true; }
  bool endsFrame(bool, ByteView) const override { return true; }
  std::optional<EncodedFrame> assemble(std::span<const ByteView> payloads) const override;
};

// Every packet is a frame and comes out at once (audio prefers a gap to a delay); one that
// arrives after a later one is late and dropped.
FrameAssembler makeOpusDepacketizer(FrameAssembler::Limits limits = {});

}  // namespace trystero::media

#include "media/opus.hpp"

namespace trystero::media {

std::vector<Bytes> packetizeOpus(ByteView frame, std::size_t maxPayloadSize) {
  if (frame.empty() || frame.size() > maxPayloadSize) return {};
  return {Bytes(frame.begin(), frame.end())};
}

std::optional<std::size_t> opusPacketSamples(ByteView packet) {
  if (packet.empty()) return std::nullopt;
  const unsigned config = packet[0] >> 3;
  std::size_t frameSamples;
  if (config < 12) {  // SILK: 10, 20, 40, 60 ms
    static constexpr std::size_t kSilk[] = {480, 960, 1920, 2880};
    frameSamples = kSilk[config % 4];
  } else if (config < 16) {  // hybrid: 10, 20 ms
    frameSamples = config % 2 == 0 ? 480 : 960;
  } else {  // CELT: 2.5, 5, 10, 20 ms
    static constexpr std::size_t kCelt[] = {120, 240, 480, 960};
    frameSamples = kCelt[config % 4];
  }
  std::size_t frames;
  switch (packet[0] & 0x03) {
    case 0:
      frames = 1;
      break;
    case 1:
    case 2:
      frames = 2;
      break;
    default:
      if (packet.size() < 2) return std::nullopt;
      frames = packet[1] & 0x3F;
      break;
  }
  const std::size_t samples = frames * frameSamples;
  if (samples == 0 || samples > 5760) return std::nullopt;  // 120 ms is Opus's limit
  return samples;
}

std::optional<EncodedFrame> OpusFormat::assemble(std::span<const ByteView> payloads) const {
  if (payloads.size() != 1) return std::nullopt;
  return EncodedFrame{Bytes(payloads[0].begin(), payloads[0].end()), 0, true};
}

FrameAssembler makeOpusDepacketizer(FrameAssembler::Limits limits) {
  return FrameAssembler(std::make_unique<OpusFormat>(), limits);
}

}  // namespace trystero::media

// Turns frames into numbered RTP packets and feeds packets to an assembler, for the payload
// format tests.
#pragma once

#include <initializer_list>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "media/frame_assembler.hpp"

namespace trystero::media::testing {

struct SentPacket {
  std::uint16_t sequenceNumber = 0;
  std::uint32_t timestamp = 0;
  bool marker = false;
  Bytes payload;
};

inline void appendFrame(std::vector<SentPacket>& out, std::uint16_t& nextSequence,
                        std::uint32_t timestamp, const std::vector<Bytes>& payloads) {
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    out.push_back({nextSequence++, timestamp, i + 1 == payloads.size(), payloads[i]});
  }
}

struct Collected {
  std::vector<EncodedFrame> frames;
  std::size_t framesLost = 0;
};

inline Collected feed(FrameAssembler& assembler, const std::vector<SentPacket>& packets) {
  Collected collected;
  for (const SentPacket& packet : packets) {
    auto result =
        assembler.push(packet.sequenceNumber, packet.timestamp, packet.marker, packet.payload);
    collected.framesLost += result.framesLost;
    for (auto& frame : result.frames) collected.frames.push_back(std::move(frame));
  }
  return collected;
}

// Reorders within windows of `window` packets and repeats some, as a jittery network would.
inline std::vector<SentPacket> jitter(std::vector<SentPacket> packets, std::size_t window,
                                      unsigned seed) {
  std::mt19937 random(seed);
  for (std::size_t at = 0; at < packets.size(); at += window) {
    std::shuffle(
        packets.begin() + static_cast<std::ptrdiff_t>(at),
        packets.begin() + static_cast<std::ptrdiff_t>(std::min(at + window, packets.size())),
        random);
  }
  std::vector<SentPacket> out;
  for (const SentPacket& packet : packets) {
    out.push_back(packet);
    if (random() % 5 == 0) out.push_back(packet);
  }
  return out;
}

// Bytes written out as a list of small ints, as the RFC figures show them.
inline Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

inline Bytes patternBytes(std::size_t size, std::uint8_t first, std::uint8_t seed) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(seed + i * 7);
  if (!out.empty()) out[0] = first;
  return out;
}

}  // namespace trystero::media::testing

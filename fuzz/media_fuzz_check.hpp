// What the media fuzzers share: aborting on a broken invariant, and reading the input as a
// sequence of RTP packets for the depacketizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "media/frame_assembler.hpp"

namespace trystero::media::fuzzing {

inline void check(bool condition, const char* fuzzer, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "%s: invariant violated: %s\n", fuzzer, what);
  std::abort();
}

// Each record: sequence number (2 bytes), timestamp step (1 byte, in 3000s: a frame per step),
// flags (1 byte: bit 0 marker), payload length (1 byte), payload. Small limits so that eviction
// and the reorder window are reached within a short input.
inline void feedDepacketizer(FrameAssembler& assembler, const FrameAssembler::Limits& limits,
                             std::span<const std::uint8_t> input, const char* fuzzer) {
  std::uint32_t timestamp = 0;
  std::size_t at = 0;
  auto checkResult = [&](const AssemblyResult& result) {
    for (const EncodedFrame& frame : result.frames) {
      check(frame.data.size() <= limits.maxFrameBytes * 2, fuzzer, "frame size bound");
    }
    check(assembler.waitingPackets() <= limits.maxPackets, fuzzer, "waiting packets bound");
  };
  while (input.size() - at >= 5) {
    const auto sequence = static_cast<std::uint16_t>(input[at] << 8 | input[at + 1]);
    timestamp += input[at + 2] * 3000u;
    const bool marker = input[at + 3] & 1;
    const std::size_t length = std::min<std::size_t>(input[at + 4], input.size() - at - 5);
    at += 5;
    checkResult(assembler.push(sequence, timestamp, marker, input.subspan(at, length)));
    at += length;
  }
  checkResult(assembler.skipMissing());
}

}  // namespace trystero::media::fuzzing

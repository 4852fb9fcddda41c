// What a video receiver asks its sender when packets go missing, as a browser does: the missing
// packets at once (RTCP generic NACK; the sender answers from the packets it still holds), and a
// keyframe (PLI) when a frame is lost anyway, so that decoding does not stall until the sender's
// next keyframe (browsers send keyframes only when asked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace trystero::media {

class LossRecovery {
 public:
  struct Limits {
    // A longer gap is not worth asking for packet by packet (the sender restarted, or a burst
    // longer than the reassembly would wait for): the keyframe request covers it.
    std::size_t maxMissingPerGap = 64;
    // A packet this far behind the newest is no resend (senders hold far fewer): the sender
    // started over, so gaps count from it.
    int restartBehind = 3000;
    std::int64_t keyframeIntervalMs = 300;  // at most one loss-driven request per interval
  };

  LossRecovery() = default;
  explicit LossRecovery(Limits limits) : limits_(limits) {}

  // Each packet as it arrives (before reassembly); returns the sequence numbers to ask for now:
  // those skipped between the newest packet so far and this one. Late, reordered and resent
  // packets ask for nothing. Each missing packet is asked for once.
  std::vector<std::uint16_t> onPacket(std::uint16_t sequenceNumber);
  // Frames the reassembly gave up on; true when a keyframe should be asked for now.
  bool onFramesLost(std::size_t framesLost, std::int64_t nowMs);

  std::uint64_t packetsAskedFor() const { return asked_; }

 private:
  Limits limits_;
  std::optional<std::uint16_t> newest_;
  std::optional<std::int64_t> lastKeyframeRequestMs_;
  std::uint64_t asked_ = 0;
};

}  // namespace trystero::media

// What a video receiver asks its sender when packets go missing, as a browser does: the missing
// packets at once (RTCP generic NACK; the sender answers from the packets it still holds), again
// a few times while they stay missing, and a keyframe (PLI) when a frame is lost anyway, so that
// decoding does not stall until the sender's next keyframe (browsers send keyframes only when
// asked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
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
    // A packet still missing is asked for again after this long (a round trip on most links),
    // up to maxRequests times in all, while it is at most 2 * maxMissingPerGap behind the newest
    // (so at most that many are followed).
    std::int64_t retryIntervalMs = 100;
    int maxRequests = 3;
    std::int64_t keyframeIntervalMs = 300;  // at most one loss-driven request per interval
  };

  LossRecovery() = default;
  explicit LossRecovery(Limits limits) : limits_(limits) {}

  // Each packet as it arrives (before reassembly), at nowMs on any monotonic clock; returns the
  // sequence numbers to ask for now: those a gap before this packet skipped, and those asked
  // for before that are still missing and due again. Late, reordered and resent packets ask for
  // nothing new.
  std::vector<std::uint16_t> onPacket(std::uint16_t sequenceNumber, std::int64_t nowMs);
  // Those asked for before that are still missing and due again at nowMs (for a timer: a
  // sender may pause with a packet missing).
  std::vector<std::uint16_t> due(std::int64_t nowMs);
  // When the next of them is due; nullopt when none is missing.
  std::optional<std::int64_t> nextDueMs() const;
  // Whether packets were given up on (asked for maxRequests times, too old to follow, or in a
  // gap too long to ask for) since the last call: the reassembly should stop waiting for them.
  bool takeGivenUp() { return std::exchange(givenUp_, false); }
  // Frames the reassembly gave up on; true when a keyframe should be asked for now.
  bool onFramesLost(std::size_t framesLost, std::int64_t nowMs);

  std::uint64_t packetsAskedFor() const { return asked_; }  // requests, repeats included
  std::size_t outstanding() const { return missing_.size(); }
  const Limits& limits() const { return limits_; }

 private:
  struct Missing {
    std::int64_t askedAtMs = 0;
    int requests = 0;
  };
  void forgetOld();

  Limits limits_;
  std::optional<std::uint16_t> newest_;
  std::map<std::uint16_t, Missing> missing_;
  std::optional<std::int64_t> lastKeyframeRequestMs_;
  std::uint64_t asked_ = 0;
  bool givenUp_ = false;
};

}  // namespace trystero::media

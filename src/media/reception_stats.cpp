#include "media/reception_stats.hpp"

#include <algorithm>
#include <cmath>

namespace trystero::media {

namespace {
// RFC 3550 A.1: how far the sequence may jump ahead and still count as the same stream, and
// how far back a packet may come and count as reordered.
constexpr std::uint16_t kMaxDropout = 3000;
constexpr std::uint16_t kMaxMisorder = 100;
constexpr std::uint32_t kSequenceModulo = 1u << 16;
}  // namespace

void ReceptionStats::onPacket(std::uint16_t sequenceNumber, std::uint32_t rtpTimestamp,
                              std::int64_t arrivalUs) {
  if (received_ == 0) {
    baseSequence_ = maxSequence_ = sequenceNumber;
  } else {
    const std::uint16_t delta = static_cast<std::uint16_t>(sequenceNumber - maxSequence_);
    if (delta < kMaxDropout) {
      if (sequenceNumber < maxSequence_) cycles_ += kSequenceModulo;
      maxSequence_ = sequenceNumber;
    } else if (delta <= kSequenceModulo - kMaxMisorder) {
      // A big jump: the sender restarted its sequence, or this is a stray. Two in a row that
      // follow each other mean a restart.
      if (badSequence_ && *badSequence_ == sequenceNumber) {
        *this = ReceptionStats(clockRate_);
        onPacket(sequenceNumber, rtpTimestamp, arrivalUs);
        return;
      }
      badSequence_ = static_cast<std::uint16_t>(sequenceNumber + 1);
      return;
    }
    // else: late or duplicated, counted as received as A.1 does
  }
  badSequence_.reset();
  received_++;

  // A.8: interarrival jitter, in timestamp units.
  const std::int64_t arrival = arrivalUs * static_cast<std::int64_t>(clockRate_) / 1000000;
  const std::int64_t transit = arrival - static_cast<std::int64_t>(rtpTimestamp);
  if (lastTransit_) {
    // Timestamps wrap at 2^32; the difference of two transits is taken modulo that.
    const auto d = static_cast<std::int32_t>(static_cast<std::uint32_t>(transit - *lastTransit_));
    jitter_ += (std::abs(static_cast<double>(d)) - jitter_) / 16.0;
  }
  lastTransit_ = transit;
}

void ReceptionStats::onSenderReport(std::uint64_t ntpTimestamp, std::int64_t arrivalUs) {
  lastSenderReport_ = static_cast<std::uint32_t>(ntpTimestamp >> 16);
  lastSenderReportArrivalUs_ = arrivalUs;
}

std::int64_t ReceptionStats::packetsLost() const {
  if (received_ == 0) return 0;
  const std::int64_t expected = static_cast<std::int64_t>(extendedHighest()) - baseSequence_ + 1;
  return expected - static_cast<std::int64_t>(received_);
}

ReportBlock ReceptionStats::report(std::uint32_t ssrc, std::int64_t nowUs) {
  ReportBlock block;
  block.ssrc = ssrc;
  block.extendedHighestSequence = extendedHighest();
  // 24 bits, signed, clamped as A.3 says.
  block.cumulativeLost =
      static_cast<std::int32_t>(std::clamp<std::int64_t>(packetsLost(), -0x800000, 0x7FFFFF));
  const std::uint64_t expected =
      received_ == 0 ? 0 : static_cast<std::uint64_t>(extendedHighest() - baseSequence_ + 1);
  const std::int64_t expectedInterval = static_cast<std::int64_t>(expected - expectedPrior_);
  const std::int64_t receivedInterval = static_cast<std::int64_t>(received_ - receivedPrior_);
  const std::int64_t lostInterval = expectedInterval - receivedInterval;
  expectedPrior_ = expected;
  receivedPrior_ = received_;
  if (expectedInterval > 0 && lostInterval > 0) {
    block.fractionLost = static_cast<std::uint8_t>(
        std::min<std::int64_t>(255, (lostInterval << 8) / expectedInterval));
  }
  block.jitter = static_cast<std::uint32_t>(jitter_);
  if (lastSenderReportArrivalUs_ != 0 || lastSenderReport_ != 0) {
    block.lastSenderReport = lastSenderReport_;
    // In units of 1/65536 s.
    block.delaySinceLastSenderReport =
        static_cast<std::uint32_t>((nowUs - lastSenderReportArrivalUs_) * 65536 / 1000000);
  }
  return block;
}

}  // namespace trystero::media

// What the receiver of one RTP stream (one SSRC) tells its sender in RTCP report blocks
// (RFC 3550 section 6.4 and appendix A): packets lost, the highest sequence number seen,
// interarrival jitter, and the echo of the last sender report, from which the sender measures
// the round trip. Browsers show these as remote-inbound-rtp; without them a sender has no loss
// or RTT figures for what it sends us.
#pragma once

#include <cstdint>
#include <optional>

#include "media/rtcp.hpp"

namespace trystero::media {

class ReceptionStats {
 public:
  // clockRate: of the stream's RTP timestamps, for jitter in timestamp units.
  explicit ReceptionStats(std::uint32_t clockRate) : clockRate_(clockRate) {}

  // Each packet that passed SRTP, with its arrival time on any monotonic clock.
  void onPacket(std::uint16_t sequenceNumber, std::uint32_t rtpTimestamp, std::int64_t arrivalUs);
  // A sender report about this stream: its NTP time is echoed in the next report blocks.
  void onSenderReport(std::uint64_t ntpTimestamp, std::int64_t arrivalUs);

  bool hasPackets() const { return received_ > 0; }
  std::uint64_t packetsReceived() const { return received_; }
  std::int64_t packetsLost() const;          // expected minus received; negative with duplicates
  double jitter() const { return jitter_; }  // RTP timestamp units

  // The block for the next report; starts a new interval for the fraction lost.
  ReportBlock report(std::uint32_t ssrc, std::int64_t nowUs);

 private:
  std::uint32_t extendedHighest() const { return cycles_ + maxSequence_; }

  std::uint32_t clockRate_;
  std::uint64_t received_ = 0;
  std::uint16_t baseSequence_ = 0, maxSequence_ = 0;
  std::uint32_t cycles_ = 0;                  // sequence number wraps, shifted left 16
  std::optional<std::uint32_t> badSequence_;  // a jump that must repeat before we resync
  std::uint64_t expectedPrior_ = 0, receivedPrior_ = 0;
  std::optional<std::int64_t> lastTransit_;
  double jitter_ = 0;
  std::uint32_t lastSenderReport_ = 0;  // middle 32 bits of its NTP time
  std::int64_t lastSenderReportArrivalUs_ = 0;
};

}  // namespace trystero::media

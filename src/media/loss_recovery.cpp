#include "media/loss_recovery.hpp"

namespace trystero::media {

std::vector<std::uint16_t> LossRecovery::onPacket(std::uint16_t sequenceNumber) {
  if (!newest_) {
    newest_ = sequenceNumber;
    return {};
  }
  // Distance forward from the newest packet, modulo 2^16: negative for a packet from the past.
  const auto ahead =
      static_cast<std::int16_t>(static_cast<std::uint16_t>(sequenceNumber - *newest_));
  if (ahead < -limits_.restartBehind) newest_ = sequenceNumber;
  if (ahead <= 0) return {};
  std::vector<std::uint16_t> missing;
  const auto skipped = static_cast<std::size_t>(ahead - 1);
  if (skipped > 0 && skipped <= limits_.maxMissingPerGap) {
    missing.reserve(skipped);
    for (std::uint16_t s = static_cast<std::uint16_t>(*newest_ + 1); s != sequenceNumber; ++s) {
      missing.push_back(s);
    }
    asked_ += missing.size();
  }
  newest_ = sequenceNumber;
  return missing;
}

bool LossRecovery::onFramesLost(std::size_t framesLost, std::int64_t nowMs) {
  if (framesLost == 0) return false;
  if (lastKeyframeRequestMs_ && nowMs - *lastKeyframeRequestMs_ < limits_.keyframeIntervalMs) {
    return false;
  }
  lastKeyframeRequestMs_ = nowMs;
  return true;
}

}  // namespace trystero::media

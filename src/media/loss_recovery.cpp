#include "media/loss_recovery.hpp"

namespace trystero::media {

namespace {

// How far `later` is ahead of `earlier`, modulo 2^16: negative when it is behind.
int distance(std::uint16_t earlier, std::uint16_t later) {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(later - earlier));
}

}  // namespace

std::vector<std::uint16_t> LossRecovery::onPacket(std::uint16_t sequenceNumber,
                                                  std::int64_t nowMs) {
  std::vector<std::uint16_t> ask;
  if (!newest_) {
    newest_ = sequenceNumber;
    return ask;
  }
  missing_.erase(sequenceNumber);
  const int ahead = distance(*newest_, sequenceNumber);
  if (ahead < -limits_.restartBehind) {
    givenUp_ = givenUp_ || !missing_.empty();
    missing_.clear();
    newest_ = sequenceNumber;
  } else if (ahead > 0) {
    const auto skipped = static_cast<std::size_t>(ahead - 1);
    if (skipped > limits_.maxMissingPerGap) givenUp_ = true;  // for a keyframe to cover
    if (skipped > 0 && skipped <= limits_.maxMissingPerGap) {
      for (auto s = static_cast<std::uint16_t>(*newest_ + 1); s != sequenceNumber; ++s) {
        missing_[s] = {nowMs, 1};
        ask.push_back(s);
      }
    }
    newest_ = sequenceNumber;
    forgetOld();
  }
  asked_ += ask.size();
  auto again = due(nowMs);
  ask.insert(ask.end(), again.begin(), again.end());
  return ask;
}

std::vector<std::uint16_t> LossRecovery::due(std::int64_t nowMs) {
  std::vector<std::uint16_t> ask;
  for (auto it = missing_.begin(); it != missing_.end();) {
    auto& entry = it->second;
    if (nowMs - entry.askedAtMs < limits_.retryIntervalMs) {
      ++it;
    } else if (entry.requests >= limits_.maxRequests) {
      it = missing_.erase(it);  // given up: the reassembly loses its frame
      givenUp_ = true;
    } else {
      entry.askedAtMs = nowMs;
      entry.requests++;
      ask.push_back(it->first);
      ++it;
    }
  }
  asked_ += ask.size();
  return ask;
}

// Packets further behind the newest than two gaps may be long are no longer followed: they are
// given up on.
void LossRecovery::forgetOld() {
  if (std::erase_if(missing_, [&](const auto& entry) {
        const int behind = distance(entry.first, *newest_);
        return behind <= 0 || static_cast<std::size_t>(behind) > 2 * limits_.maxMissingPerGap;
      }) > 0) {
    givenUp_ = true;
  }
}

std::optional<std::int64_t> LossRecovery::nextDueMs() const {
  std::optional<std::int64_t> next;
  for (const auto& [sequence, entry] : missing_) {
    const auto due = entry.askedAtMs + limits_.retryIntervalMs;
    if (!next || due < *next) next = due;
  }
  return next;
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

#include "media/frame_assembler.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace trystero::media {

FrameAssembler::FrameAssembler(std::unique_ptr<PayloadFormat> format)
    : FrameAssembler(std::move(format), Limits{}) {}

FrameAssembler::FrameAssembler(std::unique_ptr<PayloadFormat> format, Limits limits)
    : format_(std::move(format)), limits_(limits) {
  if (limits_.maxPackets == 0) limits_.maxPackets = 1;
}

AssemblyResult FrameAssembler::push(std::uint16_t sequenceNumber, std::uint32_t timestamp,
                                    bool marker, ByteView payload) {
  AssemblyResult result;
  const bool filler = payload.empty();
  if (!filler && !format_->isValid(payload)) {
    ++stats_.invalidPackets;
    return result;
  }
  const std::int64_t sequence = unwrapper_.unwrap(sequenceNumber);
  if (lastSettled_ && sequence <= *lastSettled_) {
    ++stats_.latePackets;
    return result;
  }
  if (packets_.contains(sequence)) {
    ++stats_.duplicatePackets;
    return result;
  }
  // A packet far ahead of everything waiting means those will never complete within the bounds.
  while (!packets_.empty() &&
         sequence - packets_.begin()->first >= static_cast<std::int64_t>(limits_.maxPackets)) {
    evictOldestFrame(result);
  }
  if (lastSettled_ && sequence - *lastSettled_ > static_cast<std::int64_t>(limits_.maxPackets)) {
    ++result.framesLost;
    ++stats_.framesLost;
    lastSettled_.reset();
  }
  while (packets_.size() >= limits_.maxPackets) evictOldestFrame(result);
  if (lastSettled_ && sequence <= *lastSettled_) {  // older than all it made room by evicting
    ++stats_.latePackets;
    return result;
  }
  packets_.emplace(sequence, Waiting{timestamp, !filler && format_->endsFrame(marker, payload),
                                     filler, Bytes(payload.begin(), payload.end())});
  newest_ = std::max(newest_, sequence);
  while (emitOne(result, false)) {
  }
  return result;
}

AssemblyResult FrameAssembler::skipMissing() {
  AssemblyResult result;
  if (emitOne(result, true)) {
    while (emitOne(result, false)) {
    }
  }
  return result;
}

bool FrameAssembler::somethingMissingBefore(std::int64_t start) const {
  if (!lastSettled_) return true;
  std::int64_t waiting = 0;
  for (auto it = packets_.begin(); it != packets_.end() && it->first < start; ++it, ++waiting) {
    if (!it->second.filler) return true;  // part of a frame that is not complete
  }
  return waiting < start - 1 - *lastSettled_;
}

bool FrameAssembler::startIsKnown(std::int64_t start) const {
  if (lastSettled_ && start - 1 == *lastSettled_) return true;
  if (packets_.contains(start - 1)) return true;  // it belongs to another frame (or is filler)
  const Waiting& first = packets_.at(start);
  if (!format_->beginsFrame(first.payload)) return false;
  // A same-timestamp packet further back means the gap is inside this frame.
  for (auto it = packets_.begin(); it != packets_.end() && it->first < start; ++it) {
    if (!it->second.filler && it->second.timestamp == first.timestamp) return false;
  }
  return true;
}

std::size_t FrameAssembler::dropBefore(std::int64_t sequence) {
  std::set<std::uint32_t> framesDropped;
  const bool gap =
      lastSettled_ && sequence - 1 > *lastSettled_ &&
      static_cast<std::int64_t>(std::distance(packets_.begin(), packets_.lower_bound(sequence))) <
          sequence - 1 - *lastSettled_;
  while (!packets_.empty() && packets_.begin()->first < sequence) {
    if (!packets_.begin()->second.filler) framesDropped.insert(packets_.begin()->second.timestamp);
    packets_.erase(packets_.begin());
  }
  return std::max<std::size_t>(framesDropped.size(), gap ? 1 : 0);
}

void FrameAssembler::evictOldestFrame(AssemblyResult& result) {
  const Waiting& oldest = packets_.begin()->second;
  const std::uint32_t timestamp = oldest.timestamp;
  const bool filler = oldest.filler;
  std::int64_t last = packets_.begin()->first;
  for (auto it = packets_.begin(); it != packets_.end(); ++it) {
    if (it->second.filler || it->second.timestamp != timestamp) break;
    last = it->first;
  }
  packets_.erase(packets_.begin(), packets_.upper_bound(last));
  lastSettled_ = last;
  if (!filler) {
    ++result.framesLost;
    ++stats_.framesLost;
  }
}

bool FrameAssembler::emitOne(AssemblyResult& result, bool skipHoles) {
  // The first frame that is complete and whose start is known: later ones wait behind it.
  std::optional<std::pair<std::int64_t, std::int64_t>> candidate;  // start, end
  bool keyframeReady = false;
  for (auto endIt = packets_.begin(); endIt != packets_.end(); ++endIt) {
    if (!endIt->second.endsFrame) continue;
    const std::uint32_t timestamp = endIt->second.timestamp;
    std::int64_t start = endIt->first;
    for (auto it = std::make_reverse_iterator(endIt); it != packets_.rend(); ++it) {
      if (it->first != start - 1 || it->second.filler || it->second.timestamp != timestamp) break;
      start = it->first;
    }
    if (!startIsKnown(start)) continue;
    if (!candidate) {
      candidate = {start, endIt->first};
      // Packets before it are waiting only when some before them are missing.
      if (!somethingMissingBefore(start)) break;
    }
    if (format_->beginsKeyframe(packets_.at(start).payload)) {
      keyframeReady = true;
      break;
    }
  }
  if (!candidate) return false;
  const auto [start, end] = *candidate;
  const std::int64_t holeFrom = lastSettled_ ? *lastSettled_ : packets_.begin()->first;
  const bool waited = newest_ - holeFrom > static_cast<std::int64_t>(limits_.maxReorderPackets);
  if (somethingMissingBefore(start) && !skipHoles && !keyframeReady && !waited) return false;

  const std::size_t lost = dropBefore(start);
  result.framesLost += lost;
  stats_.framesLost += lost;
  std::vector<ByteView> payloads;
  std::size_t bytes = 0;
  for (auto it = packets_.begin(); it != packets_.end() && it->first <= end; ++it) {
    payloads.emplace_back(it->second.payload);
    bytes += it->second.payload.size();
  }
  std::optional<EncodedFrame> frame;
  if (bytes <= limits_.maxFrameBytes) frame = format_->assemble(payloads);
  if (frame) frame->rtpTimestamp = packets_.at(end).timestamp;
  packets_.erase(packets_.begin(), packets_.upper_bound(end));
  lastSettled_ = end;
  if (!frame) {
    ++result.framesLost;
    ++stats_.framesLost;
    return true;
  }
  result.frames.push_back(std::move(*frame));
  ++stats_.framesEmitted;
  return true;
}

}  // namespace trystero::media

#include "room/remote_track.hpp"

#include <algorithm>

#include "loop/loop.hpp"
#include "media/h264.hpp"
#include "media/opus.hpp"
#include "media/rtp.hpp"
#include "media/vp8.hpp"
#include "rtc/sdp/sdp_text.hpp"

namespace trystero {

namespace {

using rtc::sdp::text::equalsIgnoreCase;

}  // namespace

std::shared_ptr<RemoteTrack::State> RemoteTrack::State::create(std::string id, std::string kind,
                                                               std::string codec,
                                                               std::uint32_t clockRate) {
  std::unique_ptr<media::FrameAssembler> assembler;
  if (equalsIgnoreCase(codec, "VP8")) {
    assembler = std::make_unique<media::FrameAssembler>(media::makeVp8Depacketizer());
  } else if (equalsIgnoreCase(codec, "H264")) {
    assembler = std::make_unique<media::FrameAssembler>(media::makeH264Depacketizer());
  } else if (equalsIgnoreCase(codec, "opus")) {
    assembler = std::make_unique<media::FrameAssembler>(media::makeOpusDepacketizer());
  } else {
    return nullptr;
  }
  auto state = std::make_shared<State>();
  state->id = std::move(id);
  state->kind = std::move(kind);
  state->codec = std::move(codec);
  state->clockRate = clockRate;
  state->assembler_ = std::move(assembler);
  return state;
}

void RemoteTrack::State::end() {
  std::function<void()> handler;
  {
    std::lock_guard lock(handlerMutex);
    if (ended.exchange(true)) return;
    handler = std::move(onEnded);
    onEnded = nullptr;
    onFrame = nullptr;
  }
  retryTimer_.cancel();
  if (handler) handler();
}

void RemoteTrack::State::recoverLostPackets(
    loop::Loop& loop, std::function<void(std::vector<std::uint16_t>)> request) {
  loop_ = &loop;
  requestRetransmission_ = std::move(request);
}

void RemoteTrack::State::askFor(std::vector<std::uint16_t> missing) {
  if (!missing.empty()) requestRetransmission_(std::move(missing));
}

// Packets still missing are asked for again when due even if nothing arrives meanwhile (the
// sender paused, or the frame waiting for them was its last for now).
void RemoteTrack::State::askAgainLater() {
  if (retryTimer_ || ended) return;
  auto next = lossRecovery_.nextDueMs();
  if (!next) return;
  const auto delay = std::max<std::int64_t>(1, *next - loop_->nowMs());
  retryTimer_ = loop_->after(std::chrono::milliseconds(delay), [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->ended) return;
    self->retryTimer_ = {};
    const auto now = self->loop_->nowMs();
    self->askFor(self->lossRecovery_.due(now));
    media::AssemblyResult result;
    self->stopWaitingForGivenUp(result, now);
    self->settle(std::move(result), now);
    self->askAgainLater();
  });
}

// A packet given up on leaves its frame lost for good: the sender is asked for a keyframe at
// once, and the frames behind the hole go on as soon as the first of them is complete (now, or
// with a later packet), rather than after the assembler's reorder window.
void RemoteTrack::State::stopWaitingForGivenUp(media::AssemblyResult& result, std::int64_t nowMs) {
  if (lossRecovery_.takeGivenUp()) {
    skipPending_ = true;
    if (keyframeRequester && lossRecovery_.onFramesLost(1, nowMs)) keyframeRequester();
  }
  if (result.framesLost > 0) skipPending_ = false;  // the assembler gave up on it by itself
  if (!skipPending_) return;
  auto skipped = assembler_->skipMissing();
  if (skipped.frames.empty() && skipped.framesLost == 0) return;  // nothing complete behind yet
  skipPending_ = false;
  result.framesLost += skipped.framesLost;
  for (auto& frame : skipped.frames) result.frames.push_back(std::move(frame));
}

void RemoteTrack::State::push(std::span<const std::uint8_t> bytes) {
  if (ended) return;
  auto packet = media::parseRtp(bytes);
  if (!packet) return;
  const auto now = loop_ ? loop_->nowMs() : loop::nowMs();
  if (requestRetransmission_) askFor(lossRecovery_.onPacket(packet->sequenceNumber, now));
  auto result = assembler_->push(*packet);
  if (requestRetransmission_) {
    stopWaitingForGivenUp(result, now);
    askAgainLater();
  }
  settle(std::move(result), now);
}

// Frames the assembler completed go to the handler; frames it lost count, and a lost video
// frame makes us ask for a keyframe: the decoder has lost its reference until the next one,
// which a browser sends only when asked.
void RemoteTrack::State::settle(media::AssemblyResult result, std::int64_t nowMs) {
  framesLost += result.framesLost;
  if (result.framesLost > 0 && kind == "video" && keyframeRequester &&
      lossRecovery_.onFramesLost(result.framesLost, nowMs)) {
    keyframeRequester();
  }
  if (result.frames.empty()) return;
  std::shared_ptr<std::function<void(const MediaFrame&)>> handler;
  {
    std::lock_guard lock(handlerMutex);
    handler = onFrame;
  }
  for (auto& frame : result.frames) {
    if (ended) return;  // the handler may have ended the track: no frame follows
    framesReceived++;
    if (!handler || !*handler) continue;
    (*handler)(MediaFrame{std::move(frame.data), frame.rtpTimestamp, frame.keyframe});
  }
}

const std::string& RemoteTrack::id() const { return state_->id; }
const std::string& RemoteTrack::kind() const { return state_->kind; }
const std::string& RemoteTrack::codec() const { return state_->codec; }
std::uint32_t RemoteTrack::clockRate() const { return state_->clockRate; }
std::uint64_t RemoteTrack::framesReceived() const { return state_->framesReceived; }
std::uint64_t RemoteTrack::framesLost() const { return state_->framesLost; }

void RemoteTrack::requestKeyframe() {
  if (state_->keyframeRequester) state_->keyframeRequester();
}

bool RemoteTrack::ended() const { return state_->ended; }

void RemoteTrack::onEnded(std::function<void()> f) {
  {
    std::lock_guard lock(state_->handlerMutex);
    if (!state_->ended) {
      state_->onEnded = std::move(f);
      return;
    }
  }
  if (f) f();
}

void RemoteTrack::onFrame(std::function<void(const MediaFrame&)> f) {
  std::lock_guard lock(state_->handlerMutex);
  state_->onFrame = std::make_shared<std::function<void(const MediaFrame&)>>(std::move(f));
}

}  // namespace trystero

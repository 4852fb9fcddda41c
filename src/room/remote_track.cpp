#include "room/remote_track.hpp"

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
  if (retryTimer_ || lossRecovery_.outstanding() == 0) return;
  retryTimer_ = loop_->after(std::chrono::milliseconds(lossRecovery_.limits().retryIntervalMs),
                             [weak = weak_from_this()] {
                               auto self = weak.lock();
                               if (!self || self->ended) return;
                               self->retryTimer_ = {};
                               self->askFor(self->lossRecovery_.due(self->loop_->nowMs()));
                               self->askAgainLater();
                             });
}

void RemoteTrack::State::push(std::span<const std::uint8_t> bytes) {
  if (ended) return;
  auto packet = media::parseRtp(bytes);
  if (!packet) return;
  const auto now = loop_ ? loop_->nowMs() : loop::nowMs();
  if (requestRetransmission_) {
    askFor(lossRecovery_.onPacket(packet->sequenceNumber, now));
    askAgainLater();
  }
  auto result = assembler_->push(*packet);
  framesLost += result.framesLost;
  // A lost video frame leaves the decoder without its reference until the next keyframe, which
  // a browser sends only when asked.
  if (kind == "video" && keyframeRequester && lossRecovery_.onFramesLost(result.framesLost, now)) {
    keyframeRequester();
  }
  if (result.frames.empty()) return;
  std::shared_ptr<std::function<void(const MediaFrame&)>> handler;
  {
    std::lock_guard lock(handlerMutex);
    handler = onFrame;
  }
  for (auto& frame : result.frames) {
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

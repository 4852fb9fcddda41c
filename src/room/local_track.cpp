#include "room/local_track.hpp"

#include <stdexcept>

#include "crypto/crypto.hpp"
#include "loop/loop.hpp"
#include "room/room_core.hpp"

namespace trystero {

std::shared_ptr<LocalTrack> LocalTrack::create(const std::string& kind, const std::string& codec,
                                               const std::string& id) {
  const bool audio = kind == "audio" && codec == "opus";
  const bool video = kind == "video" && (codec == "VP8" || codec == "H264");
  if (!audio && !video) {
    throw std::invalid_argument(
        "trystero: a local track is audio/opus, video/VP8 or video/H264, not " + kind + "/" +
        codec);
  }
  auto state = std::make_shared<State>();
  state->id = id.empty() ? crypto::generateId(20) : id;
  state->kind = kind;
  state->codec = codec;
  state->clockRate = audio ? 48000 : 90000;
  return std::make_shared<LocalTrack>(std::move(state));
}

const std::string& LocalTrack::id() const { return state_->id; }
const std::string& LocalTrack::kind() const { return state_->kind; }
const std::string& LocalTrack::codec() const { return state_->codec; }
std::uint32_t LocalTrack::clockRate() const { return state_->clockRate; }
std::uint64_t LocalTrack::framesSent() const { return state_->framesSent; }

void LocalTrack::sendFrame(MediaFrame frame) {
  auto shared = std::make_shared<const MediaFrame>(std::move(frame));
  loop::Loop::shared().post([state = state_, shared] { state->fanOut(*shared); });
}

void LocalTrack::onKeyframeRequest(std::function<void(const std::string&)> f) {
  state_->setKeyframeHandler(std::move(f));
}

void LocalTrack::State::setKeyframeHandler(std::function<void(const std::string&)> f) {
  std::lock_guard lock(mutex_);
  onKeyframe_ = std::move(f);
}

void LocalTrack::State::keyframeRequested(const std::string& peerId) {
  std::function<void(const std::string&)> handler;
  {
    std::lock_guard lock(mutex_);
    handler = onKeyframe_;
  }
  if (handler) handler(peerId);
}

void LocalTrack::State::fanOut(const MediaFrame& frame) {
  // Sending never changes the bindings, so they are walked in place; the ones whose room or
  // section is gone are dropped on the way.
  bool sent = false;
  std::erase_if(bindings, [&](const Binding& binding) {
    auto core = binding.core.lock();
    if (!core) return true;
    auto outcome = core->sendTrackFrame(binding.peerId, binding.mid, frame);
    sent = sent || outcome == RoomCore::TrackSend::kSent;
    return outcome == RoomCore::TrackSend::kGone;
  });
  if (sent) framesSent++;
}

}  // namespace trystero

// What stands behind a trystero::LocalTrack: its description, the user's keyframe handler and
// where its frames go. Frames are pushed from any thread and fanned out on the loop thread to
// every (room, peer, section) the track was added to.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero {

struct LocalTrack::State {
  std::string id, kind, codec;
  std::uint32_t clockRate = 0;
  std::atomic<std::uint64_t> framesSent{0};

  // One peer the track goes to: the room that added it, the peer and the section's mid.
  struct Binding {
    std::weak_ptr<RoomCore> core;
    std::string peerId, mid;
  };
  std::vector<Binding> bindings;  // loop thread only

  void setKeyframeHandler(std::function<void(const std::string&)> f);
  // Loop thread: a peer asked for a keyframe.
  void keyframeRequested(const std::string& peerId);
  // Loop thread: the frame to every binding; bindings whose room or section is gone are dropped.
  void fanOut(const MediaFrame& frame);

 private:
  std::mutex mutex_;
  std::function<void(const std::string&)> onKeyframe_;  // guarded by mutex_
};

}  // namespace trystero

// README "Audio and video", the native way: an echo bot. Every track a peer sends (a browser's
// camera and microphone after its room.addStream) goes straight back to that peer as a stream of
// ours, so the browser's onPeerStream plays its own picture and voice. Frames are forwarded as
// they are, encoded: from the next keyframe on, and a keyframe request from the peer's receiver
// becomes one toward its sender.
#include <trystero/nostr.hpp>

#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto room = trystero::nostr::joinRoom(exampleConfig(argc, argv, "echo_chamber"), "mirror");
  std::mutex mutex;
  std::vector<std::shared_ptr<trystero::LocalTrack>> echoes;  // kept for the room's lifetime

  room->onPeerTrack([&, weakRoom = std::weak_ptr(room)](
                        std::shared_ptr<trystero::RemoteTrack> track, const std::string& streamId,
                        const std::string& peerId, const trystero::Metadata&) {
    std::cout << peerId << " sends " << track->kind() << " (" << track->codec() << ")\n";
    auto echo = trystero::LocalTrack::create(track->kind(), track->codec());
    echo->onKeyframeRequest([weakTrack = std::weak_ptr(track)](const std::string&) {
      if (auto source = weakTrack.lock()) source->requestKeyframe();
    });
    auto started = std::make_shared<bool>(false);  // network thread only
    track->onFrame([echo, started](const trystero::MediaFrame& frame) {
      if (!*started && !frame.keyframe) return;
      *started = true;
      echo->sendFrame(frame);
    });
    {
      std::lock_guard lock(mutex);
      echoes.push_back(echo);
    }
    if (auto r = weakRoom.lock()) r->addStream({"echo-" + streamId, {echo}}, peerId);
  });

  std::this_thread::sleep_for(exampleSeconds(argc, argv, 600));
}

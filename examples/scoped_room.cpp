// README "React hooks": the C++ idiom is a RAII handle that leaves the room when it goes out of
// scope, so a component (window, game level, session object) owns its room.
#include <trystero/nostr.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "example_config.hpp"

class ChatPanel {
 public:
  ChatPanel(const trystero::Config& config, const std::string& roomId)
      : room_(trystero::nostr::joinRoom(config, roomId)), message_(room_->makeAction("message")) {
    message_.receive(
        [](const trystero::Payload& text, const std::string& peerId, const trystero::Metadata&) {
          std::cout << peerId << ": " << text.text() << "\n";
        });
    room_->onPeerJoin([this](const std::string& peerId) { message_.send("hello!", peerId); });
  }

 private:
  trystero::ScopedRoom room_;  // leaves in ~ChatPanel
  trystero::Action message_;
};

int main(int argc, char** argv) {
  auto config = exampleConfig(argc, argv, "san_narciso_3d");
  {
    ChatPanel panel(config, "yoyodyne");
    std::this_thread::sleep_for(exampleSeconds(argc, argv, 15));
  }  // left the room here
}

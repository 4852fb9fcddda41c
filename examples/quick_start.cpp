// README "Quick start": run two of these (e.g. next to `trystero relay`) and they greet each other.
//   ./example_quick_start --relay ws://127.0.0.1:7447 --local
#include <trystero/nostr.hpp>

#include <future>
#include <iostream>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto config = exampleConfig(argc, argv, "trystero-quick-start");  // --relay URL, --local
  trystero::ScopedRoom room(trystero::nostr::joinRoom(config, "lobby"));
  auto [sendHello, getHello, helloProgress] = room->makeAction("hello");

  std::promise<void> greeted;
  getHello([&greeted](const trystero::Payload& hello, const std::string& peerId, const auto&) {
    std::cout << peerId << " says: " << hello.text() << std::endl;  // on the network thread
    greeted.set_value();
  });
  room->onPeerJoin([sendHello](const std::string& peerId) {
    sendHello("hello from " + trystero::selfId(), peerId);
  });

  auto arrived = greeted.get_future().wait_for(std::chrono::seconds(30));
  return arrived == std::future_status::ready ? 0 : 1;  // ScopedRoom leaves the room
}

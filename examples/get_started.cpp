// README "Get started" and "Listen for events".
#include <trystero/nostr.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto config = exampleConfig(argc, argv, "san_narciso_3d");
  auto room = trystero::nostr::joinRoom(config, "yoyodyne");

  room->onPeerJoin([](const std::string& peerId) { std::cout << peerId << " joined\n"; });
  room->onPeerLeave([](const std::string& peerId) { std::cout << peerId << " left\n"; });
  std::cout << "my peer ID is " << trystero::selfId() << "\n";

  std::this_thread::sleep_for(exampleSeconds(argc, argv, 10));
  room->leave().get();  // to unsubscribe from events, leave the room
}

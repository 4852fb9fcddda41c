// README "Broadcast events": letting users name themselves.
#include <trystero/nostr.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto room = trystero::nostr::joinRoom(exampleConfig(argc, argv, "san_narciso_3d"), "yoyodyne");
  // callbacks run on the network thread, one at a time; the mutex is for main's own reads
  std::mutex mutex;
  std::map<std::string, std::string> idsToNames;
  auto [sendName, getName, onNameProgress] = room->makeAction("name");

  // tell other peers currently in the room our name
  sendName("Oedipa");

  // tell newcomers
  room->onPeerJoin([sendName](const std::string& peerId) { sendName("Oedipa", peerId); });

  // listen for peers naming themselves
  getName([&](const trystero::Payload& name, const std::string& peerId, const trystero::Metadata&) {
    std::lock_guard lock(mutex);
    idsToNames[peerId] = name.text();
  });

  room->onPeerLeave([&](const std::string& peerId) {
    std::lock_guard lock(mutex);
    auto it = idsToNames.find(peerId);
    std::cout << (it != idsToNames.end() ? it->second : "a weird stranger") << " left\n";
  });

  std::this_thread::sleep_for(exampleSeconds(argc, argv, 20));
  room->leave().get();
}

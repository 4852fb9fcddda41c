// README API: getRelaySockets(), pauseRelayReconnection(), resumeRelayReconnection(), and
// choosing a strategy.
#include <trystero/mqtt.hpp>
#include <trystero/nostr.hpp>
#include <trystero/torrent.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto config = exampleConfig(argc, argv, "san_narciso_3d");
  std::string strategy = argc > 1 ? argv[argc - 1] : "nostr";
  auto room = strategy == "mqtt"      ? trystero::mqtt::joinRoom(config, "yoyodyne")
              : strategy == "torrent" ? trystero::torrent::joinRoom(config, "yoyodyne")
                                      : trystero::nostr::joinRoom(config, "yoyodyne");
  std::this_thread::sleep_for(exampleSeconds(argc, argv, 3));
  auto sockets = strategy == "mqtt"      ? trystero::mqtt::getRelaySockets()
                 : strategy == "torrent" ? trystero::torrent::getRelaySockets()
                                         : trystero::nostr::getRelaySockets();
  for (const auto& socket : sockets) {
    std::cout << socket.url << ": "
              << (socket.state == trystero::RelaySocketInfo::State::Open ? "open" : "not open")
              << ", " << socket.messagesIn << " messages in\n";
  }
  // e.g. when the device goes offline
  trystero::pauseRelayReconnection();
  // and when it is back
  trystero::resumeRelayReconnection();
  room->leave().get();
}

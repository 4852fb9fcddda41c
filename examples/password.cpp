// README "Encryption": a shared password encrypts the SDP; peers without it cannot join.
#include <trystero/nostr.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto config = exampleConfig(argc, argv, "kinneret");
  config.password = "MuchoMaa$";
  auto room =
      trystero::nostr::joinRoom(config, "w_a_s_t_e__v_i_p", [](const trystero::JoinError& e) {
        std::cerr << "could not join " << e.roomId << " with " << e.peerId << ": " << e.error
                  << "\n";
      });
  room->onPeerJoin(
      [](const std::string& peerId) { std::cout << peerId << " knows the password\n"; });
  std::this_thread::sleep_for(exampleSeconds(argc, argv, 15));
}

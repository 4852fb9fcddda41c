// README "Broadcast events": custom actions with JSON payloads.
#include <trystero/nostr.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto room = trystero::nostr::joinRoom(exampleConfig(argc, argv, "san_narciso_3d"), "yoyodyne");
  auto [sendDrink, getDrink, onDrinkProgress] = room->makeAction("drink");

  room->onPeerJoin([sendDrink](const std::string& friendId) {
    // buy drink for a friend
    sendDrink(nlohmann::json{{"drink", "negroni"}, {"withIce", true}}, friendId);
    // buy round for the house (second argument omitted)
    sendDrink(nlohmann::json{{"drink", "mezcal"}, {"withIce", false}});
  });

  // listen for drinks sent to you
  getDrink([](const trystero::Payload& data, const std::string& peerId, const trystero::Metadata&) {
    const auto& drink = data.json();
    std::cout << "got a " << drink["drink"].get<std::string>() << " with"
              << (drink["withIce"].get<bool>() ? "" : "out") << " ice from " << peerId << "\n";
  });

  std::this_thread::sleep_for(exampleSeconds(argc, argv, 20));
}

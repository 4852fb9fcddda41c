// README "Strategies", Firebase: rooms in your Realtime Database. Run two of these with the
// same database URL; each says hello to every peer it meets and prints what arrives.
//   ./example_firebase https://my-db.firebaseio.com [--auth TOKEN] [--local] [--seconds N]
//   ./example_firebase "http://127.0.0.1:9000?ns=my-db" --local    (a local database)
#include <trystero/firebase.hpp>

#include <iostream>
#include <string>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]).starts_with("--")) {
    std::cerr << "usage: " << argv[0] << " DATABASE_URL [--auth TOKEN] [--local] [--seconds N]\n";
    return 2;
  }
  auto config = exampleConfig(argc, argv, argv[1]);  // the appId is the database URL
  for (int i = 2; i + 1 < argc; ++i) {
    // Only for databases whose rules want sign-in (a Firebase ID token, say).
    if (std::string(argv[i]) == "--auth") config.firebaseAuthToken = argv[i + 1];
  }
  // A refused token or rules that deny us arrive here, in the database's own words.
  trystero::ScopedRoom room(
      trystero::firebase::joinRoom(config, "lobby", [](const trystero::JoinError& error) {
        std::cerr << "join error: " << error.error << std::endl;
      }));
  auto [sendHello, getHello, helloProgress] = room->makeAction("hello");
  getHello([](const trystero::Payload& hello, const std::string& peerId, const auto&) {
    std::cout << peerId << " says: " << hello.text() << std::endl;  // on the network thread
  });
  room->onPeerJoin([sendHello](const std::string& peerId) {
    std::cout << peerId << " joined" << std::endl;
    sendHello("hello from " + trystero::selfId(), peerId);
  });
  room->onPeerLeave([](const std::string& peerId) { std::cout << peerId << " left" << std::endl; });

  std::this_thread::sleep_for(exampleSeconds(argc, argv, 30));
  // Who is in the room, as getOccupants sees it from outside (ourselves included).
  auto occupants = trystero::firebase::getOccupants(config, "lobby").get();
  std::cout << occupants.size() << " in the room" << std::endl;
}

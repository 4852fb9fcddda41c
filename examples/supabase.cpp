// README "Strategies", Supabase: rooms over your project's Realtime broadcast channels. Run two
// of these with the same project URL and anon key; each says hello to every peer it meets and
// prints what arrives.
//   ./example_supabase https://<project-ref>.supabase.co ANON_KEY [--local] [--seconds N]
#include <trystero/supabase.hpp>

#include <iostream>
#include <string>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  if (argc < 3 || std::string(argv[1]).starts_with("--") ||
      std::string(argv[2]).starts_with("--")) {
    std::cerr << "usage: " << argv[0] << " PROJECT_URL ANON_KEY [--local] [--seconds N]\n";
    return 2;
  }
  auto config = exampleConfig(argc, argv, argv[1]);  // the appId is the project URL
  config.supabaseKey = argv[2];                      // Project Settings -> API
  trystero::ScopedRoom room(trystero::supabase::joinRoom(config, "lobby"));
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
}

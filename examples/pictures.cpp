// README "Broadcast events": binary data such as images.
#include <trystero/nostr.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto room = trystero::nostr::joinRoom(exampleConfig(argc, argv, "san_narciso_3d"), "yoyodyne");
  auto [sendPic, getPic, onPicProgress] = room->makeAction("pic");

  // any bytes are sent as binary
  std::ifstream file("picture.png", std::ios::binary);
  trystero::Bytes picture((std::istreambuf_iterator<char>(file)), {});
  room->onPeerJoin([sendPic, picture](const std::string& peerId) { sendPic(picture, peerId); });

  // binary data is received as bytes; interpret it in a way that makes sense
  getPic([](const trystero::Payload& data, const std::string& peerId, const trystero::Metadata&) {
    std::cout << "got a picture (" << data.bytes().size() << " bytes) from " << peerId << "\n";
    std::ofstream("from-" + peerId + ".png", std::ios::binary)
        .write(reinterpret_cast<const char*>(data.bytes().data()),
               static_cast<std::streamsize>(data.bytes().size()));
  });

  std::this_thread::sleep_for(exampleSeconds(argc, argv, 20));
}

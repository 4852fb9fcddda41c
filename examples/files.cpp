// README "Advanced": binary metadata, action promises and progress updates.
#include <trystero/nostr.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "example_config.hpp"

int main(int argc, char** argv) {
  auto room = trystero::nostr::joinRoom(exampleConfig(argc, argv, "san_narciso_3d"), "yoyodyne");
  auto [sendFile, getFile, onFileProgress] = room->makeAction("file");

  getFile([](const trystero::Payload& data, const std::string& peerId,
             const trystero::Metadata& metadata) {
    std::cout << "got a file (" << (*metadata)["name"] << ") from " << peerId << " with type "
              << (*metadata)["type"] << ", " << data.bytes().size() << " bytes\n";
  });

  // receivers see progress too, with the metadata of the transmission
  onFileProgress([](double percent, const std::string& peerId, const trystero::Metadata& meta) {
    std::cout << percent * 100 << "% done receiving "
              << (meta ? meta->value("name", "?") : std::string("?")) << " from " << peerId << "\n";
  });

  room->onPeerJoin([sendFile](const std::string&) {
    trystero::Bytes buffer(4 * 1024 * 1024, 0x42);
    // to send metadata, pass a third argument; std::nullopt broadcasts to the whole room
    auto done =
        sendFile(buffer, std::nullopt,
                 nlohmann::json{{"name", "The Courierʼs Tragedy"}, {"type", "application/pdf"}},
                 // progress per receiving peer, between 0 and 1
                 [](double percent, const std::string& peerId) {
                   std::cout << "sent " << percent * 100 << "% to " << peerId << "\n";
                 });
    // the future completes when every chunk went out; then() never blocks the network thread
    done.then([](const trystero::Future<void>&) { std::cout << "done sending to all peers\n"; });
  });

  std::this_thread::sleep_for(exampleSeconds(argc, argv, 30));
  room->leave().get();
}

// Runs trystero::nostr::RelayServer for the interop tests (tests/interop/relay_server.test.mjs).
//
//   nostr_relay_server [--port P] [--host H] [--max-message-bytes N] [--events-per-second R]
//                      [--event-burst N] [--verbose]
//
// Prints {"event":"listening","url":"ws://127.0.0.1:P","port":P} once listening, serves until
// stdin ends, then prints {"event":"stats",...} and exits 0. --verbose logs to stderr. A failure
// to listen prints {"event":"error","message":...} and exits 1.
#include <trystero/relay_server.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  trystero::nostr::RelayServerOptions options;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--port") {
      options.port = static_cast<std::uint16_t>(std::stoul(value()));
    } else if (arg == "--host") {
      options.host = value();
    } else if (arg == "--max-message-bytes") {
      options.maxMessageBytes = std::stoul(value());
    } else if (arg == "--events-per-second") {
      options.eventsPerSecond = std::stod(value());
    } else if (arg == "--event-burst") {
      options.eventBurst = std::stoul(value());
    } else if (arg == "--verbose") {
      verbose = true;
    } else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  if (verbose) {
    options.log = [](const std::string& line) { std::cerr << "[relay] " << line << std::endl; };
  }
  try {
    trystero::nostr::RelayServer server(options);
    std::cout << nlohmann::json{{"event", "listening"},
                                {"url", server.url()},
                                {"port", server.port()}}
              << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    auto s = server.stats();
    std::cout << nlohmann::json{{"event", "stats"},
                                {"connections", s.connections},
                                {"connectionsAccepted", s.connectionsAccepted},
                                {"eventsAccepted", s.eventsAccepted},
                                {"eventsRejected", s.eventsRejected},
                                {"deliveries", s.deliveries},
                                {"notices", s.notices}}
              << std::endl;
  } catch (const std::exception& e) {
    std::cout << nlohmann::json{{"event", "error"}, {"message", e.what()}} << std::endl;
    return 1;
  }
  return 0;
}

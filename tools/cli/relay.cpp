// `trystero relay`: the built-in Nostr relay (trystero::nostr::RelayServer) as a program.
#include <trystero/relay_server.hpp>

#include <condition_variable>
#include <mutex>

#include "commands.hpp"

namespace trystero::cli {

int runRelay(const Options& options, Output& out) {
  nostr::RelayServerOptions relayOptions;
  relayOptions.host = options.host;
  relayOptions.port = options.port;
  if (options.verbosity > 0) {
    relayOptions.log = [&out](const std::string& message) { out.verbose("relay: " + message); };
  }
  std::mutex mutex;
  std::condition_variable stopped;
  bool stop = false;
  watchTerminationSignals([&](int) {
    std::lock_guard lock(mutex);
    stop = true;
    stopped.notify_all();
  });

  std::unique_ptr<nostr::RelayServer> server;
  try {
    server = std::make_unique<nostr::RelayServer>(relayOptions);
  } catch (const std::exception& e) {
    out.error(e.what());
    watchTerminationSignals({});
    return kFailed;
  }
  out.line({{"event", "listening"}, {"url", server->url()}},
           "relay listening on " + server->url() + "\n  C++:  trystero chat ROOM --relay " +
               server->url() + "\n  JS:   joinRoom({appId, relayUrls: ['" + server->url() +
               "']}, room)  // trystero/nostr");

  std::unique_lock lock(mutex);
  while (!stop) {
    stopped.wait_for(lock, std::chrono::seconds(30));
    if (stop || options.verbosity <= 0) continue;
    auto stats = server->stats();
    out.verbose("relay: " + std::to_string(stats.connections) + " connections, " +
                std::to_string(stats.eventsAccepted) + " events accepted, " +
                std::to_string(stats.eventsRejected) + " rejected, " +
                std::to_string(stats.deliveries) + " deliveries");
  }
  lock.unlock();
  watchTerminationSignals({});
  server.reset();
  out.event({{"event", "stopped"}}, "relay stopped");
  return kOk;
}

}  // namespace trystero::cli

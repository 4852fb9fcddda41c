// The public trystero::firebase API over the process-wide strategy registry, and the database
// connections it shares with getOccupants().
#include "trystero/firebase.hpp"

#include <map>
#include <stdexcept>

#include "crypto/crypto.hpp"
#include "room/registry.hpp"
#include "strategies/firebase/firebase_strategy.hpp"

namespace trystero::firebase {

namespace {

using strategies::firebase::Connection;

constexpr const char* kStrategyName = "firebase";
constexpr std::chrono::seconds kOccupantsTimeout{30};

strategies::firebase::DatabaseUrl parseOrThrow(const std::string& appId) {
  auto db = strategies::firebase::parseDatabaseUrl(appId);
  if (!db) {
    throw std::invalid_argument(
        "trystero: firebase appId must be a database URL (http(s)://...): " + appId);
  }
  return *db;
}

// One connection per database URL, as firebase.js keeps one Database per appId (and per token:
// getOccupants with another token than the rooms' must not read with theirs). Loop thread.
std::shared_ptr<Connection> connectionFor(loop::Loop& loop, const Config& config) {
  static auto* connections =
      new std::map<std::pair<std::string, std::string>, std::shared_ptr<Connection>>();
  auto& connection = (*connections)[{config.appId, config.firebaseAuthToken}];
  if (!connection) {
    Connection::Options options;
    options.authToken = config.firebaseAuthToken;
    connection = std::make_shared<Connection>(loop, parseOrThrow(config.appId), options);
    connection->start();
  }
  return connection;
}

std::string rootPathOf(const Config& config) {
  return config.rootPath.empty() ? strategies::firebase::kDefaultRootPath : config.rootPath;
}

}  // namespace

std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError) {
  if (!config.appId.empty()) parseOrThrow(config.appId);
  return room::joinWithStrategy(
      kStrategyName, config, roomId, std::move(onJoinError),
      [](loop::Loop& loop, const Config& first, const std::string& selfId) {
        return std::make_unique<strategies::firebase::FirebaseStrategy>(connectionFor(loop, first),
                                                                        rootPathOf(first), selfId);
      });
}

Future<std::vector<std::string>> getOccupants(const Config& config, const std::string& roomId) {
  if (config.appId.empty()) throw std::invalid_argument("trystero: config is missing appId");
  if (roomId.empty()) throw std::invalid_argument("trystero: roomId argument required");
  parseOrThrow(config.appId);
  Promise<std::vector<std::string>> promise;
  auto future = promise.future();
  // firebase.js: onValue(ref(db, `${rootPath}/${sha1(topicPath(libName, appId, roomId))}`),
  // {onlyOnce: true}); the one-shot `g` is not used (firebase-server ignores it).
  const std::string path = strategies::firebase::joinPath(strategies::firebase::splitPath(
      rootPathOf(config) + "/" + crypto::topicHash("Trystero@" + config.appId + "@" + roomId)));
  auto& loop = loop::Loop::shared();
  loop.post([&loop, config, path, promise] {
    auto connection = connectionFor(loop, config);
    // The listen, the refusal handler and the deadline; whichever settles first ends all three.
    struct State {
      std::uint64_t listener = 0;
      std::uint64_t refusals = 0;
      loop::Timer deadline;
    };
    auto state = std::make_shared<State>();
    std::weak_ptr<Connection> weak = connection;
    auto finish = [weak, state] {
      state->deadline.cancel();
      if (auto c = weak.lock()) {
        c->unlisten(state->listener);
        c->removeRefusalHandler(state->refusals);
      }
    };
    state->refusals =
        connection->addRefusalHandler([path, promise, finish](const Connection::Refusal& refusal) {
          if (refusal.path != path || (refusal.action != "q" && refusal.action != "c")) return;
          auto p = promise;
          p.reject("trystero: firebase getOccupants: " + refusal.describe());
          finish();
        });
    state->listener = connection->listen(path, [promise, finish](const nlohmann::json& value) {
      auto p = promise;
      p.resolve(strategies::firebase::occupantsOf(value));
      finish();
    });
    state->deadline = loop.after(kOccupantsTimeout, [promise, finish] {
      auto p = promise;
      p.reject("trystero: firebase getOccupants: no answer from the database");
      finish();
    });
  });
  return future;
}

std::vector<RelaySocketInfo> getRelaySockets() { return room::relaySocketsOf(kStrategyName); }

}  // namespace trystero::firebase

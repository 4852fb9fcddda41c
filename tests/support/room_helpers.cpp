#include "support/room_helpers.hpp"

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "room/config.hpp"
#include "room/id.hpp"

namespace trystero::testing {

using namespace std::chrono_literals;

Config testConfig(std::string appId, std::vector<std::string> relayUrls, std::string password) {
  Config config;
  config.appId = std::move(appId);
  config.password = std::move(password);
  config.relayUrls = std::move(relayUrls);
  config.rtcConfig = RtcConfig{};  // no public STUN in tests
  config.allowLoopback = true;
  return config;
}

std::filesystem::path interopDir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "interop";
}

std::string findNode() {
  if (const char* env = std::getenv("NODE"); env && access(env, X_OK) == 0) return env;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/usr/local/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = std::filesystem::path(dir) / "node";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

std::string nodeUnavailable(std::initializer_list<const char*> modules) {
  if (findNode().empty()) return "node not found";
  for (const char* module : modules) {
    if (!std::filesystem::exists(interopDir() / "node_modules" / module / "package.json")) {
      return std::string("tests/interop/node_modules/") + module + " missing";
    }
  }
  return {};
}

namespace {

std::vector<std::string> nodeArgv(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{findNode(), (interopDir() / "relays" / script).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

NodeServer::NodeServer(const std::string& what, const std::string& script,
                       const std::vector<std::string>& args)
    : process_(nodeArgv(script, args)) {
  auto line = process_.readLine(15s);
  if (!line || line->rfind("listening ", 0) != 0) {
    throw std::runtime_error(what + " did not start: " + line.value_or("(nothing)"));
  }
  port_ = std::stoi(line->substr(10));
}

NodeServer::~NodeServer() { process_.finish(3s); }

Identity makeIdentity(const Config& config, const StrategyFactory& makeStrategy) {
  auto& loop = loop::Loop::shared();
  Identity identity;
  identity.id = crypto::generateId(20);
  loop.invoke([&] {
    room::Timing timing;
    timing.offerPoolSize = 2;
    identity.signaller =
        std::make_shared<room::Signaller>(loop, makeStrategy(loop, identity.id), identity.id,
                                          room::toRtcConfiguration(config), timing);
  });
  return identity;
}

std::shared_ptr<Room> join(Identity& identity, const Config& config, const std::string& roomId,
                           JoinErrorHandler onError) {
  return loop::Loop::shared().invoke(
      [&] { return identity.signaller->join(config, roomId, std::move(onError)); });
}

}  // namespace trystero::testing

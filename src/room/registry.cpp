#include "room/registry.hpp"

#include <map>

#include "crypto/crypto.hpp"
#include "net/relay_socket.hpp"
#include "room/config.hpp"
#include "room/id.hpp"
#include "room/signaller.hpp"

namespace trystero {

void pauseRelayReconnection() { net::pauseRelayReconnection(); }
void resumeRelayReconnection() { net::resumeRelayReconnection(); }

}  // namespace trystero

namespace trystero::room {

namespace {
// Loop thread only.
std::map<std::string, std::shared_ptr<Signaller>>& signallers() {
  static auto* map = new std::map<std::string, std::shared_ptr<Signaller>>();
  return *map;
}
}  // namespace

std::shared_ptr<Room> joinWithStrategy(const std::string& name, const Config& config,
                                       const std::string& roomId, JoinErrorHandler onJoinError,
                                       const StrategyFactory& factory) {
  if (config.appId.empty()) throw std::invalid_argument("trystero: config is missing appId");
  if (roomId.empty()) throw std::invalid_argument("trystero: roomId argument required");
  auto& loop = loop::Loop::shared();
  return loop.invoke([&] {
    auto& signaller = signallers()[name];
    if (!signaller) {
      signaller = std::make_shared<Signaller>(loop, factory(loop, config, selfId()), selfId(),
                                              toRtcConfiguration(config));
    }
    return signaller->join(config, roomId, std::move(onJoinError));
  });
}

std::vector<RelaySocketInfo> relaySocketsOf(const std::string& name) {
  return loop::Loop::shared().invoke([&] {
    auto it = signallers().find(name);
    if (it == signallers().end()) return std::vector<RelaySocketInfo>{};
    return it->second->strategy().relaySockets();
  });
}

std::shared_ptr<RoomCore> coreOf(const std::string& name, const std::string& appId,
                                 const std::string& roomId) {
  auto it = signallers().find(name);
  return it == signallers().end() ? nullptr : it->second->core(appId, roomId);
}

RelaySocketInfo describeRelaySocket(const net::RelaySocket& socket) {
  RelaySocketInfo info;
  info.url = socket.url();
  switch (socket.state()) {
    case net::RelaySocket::State::Connecting:
      info.state = RelaySocketInfo::State::Connecting;
      break;
    case net::RelaySocket::State::Open:
      info.state = RelaySocketInfo::State::Open;
      break;
    case net::RelaySocket::State::Waiting:
      info.state = RelaySocketInfo::State::Waiting;
      break;
    case net::RelaySocket::State::Closed:
      info.state = RelaySocketInfo::State::Closed;
      break;
  }
  auto stats = socket.stats();
  info.opens = stats.opens;
  info.reconnects = stats.reconnects;
  info.messagesIn = stats.messagesIn;
  info.messagesOut = stats.messagesOut;
  return info;
}

std::vector<std::string> selectRelays(const Config& config,
                                      const std::vector<std::string>& defaults,
                                      std::size_t defaultCount, bool deriveFromAppId) {
  if (!config.relayUrls.empty()) return config.relayUrls;
  auto relays = deriveFromAppId
                    ? crypto::shuffle(defaults, static_cast<double>(crypto::strToNum(config.appId)))
                    : defaults;
  std::size_t count =
      config.relayRedundancy > 0 ? static_cast<std::size_t>(config.relayRedundancy) : defaultCount;
  if (relays.size() > count) relays.resize(count);
  return relays;
}

}  // namespace trystero::room

// The public trystero::mqtt API over the process-wide strategy registry.
#include "trystero/mqtt.hpp"

#include "room/registry.hpp"
#include "strategies/mqtt/mqtt_strategy.hpp"

namespace trystero::mqtt {

namespace {
constexpr const char* kStrategyName = "mqtt";
}

std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError) {
  return room::joinWithStrategy(kStrategyName, config, roomId, std::move(onJoinError),
                                strategies::mqtt::makeStrategy);
}

std::vector<RelaySocketInfo> getRelaySockets() { return room::relaySocketsOf(kStrategyName); }

const std::vector<std::string>& defaultRelayUrls() { return strategies::mqtt::defaultRelayUrls(); }

}  // namespace trystero::mqtt

// The public trystero::nostr API over the process-wide strategy registry.
#include "trystero/nostr.hpp"

#include "room/registry.hpp"
#include "strategies/nostr/nostr_strategy.hpp"

namespace trystero::nostr {

namespace {
constexpr const char* kStrategyName = "nostr";
}

std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError) {
  return room::joinWithStrategy(
      kStrategyName, config, roomId, std::move(onJoinError),
      [](loop::Loop& loop, const Config& first, const std::string& selfId) {
        // nostr.js: getRelays(config, defaultRelayUrls, 5, true).
        return std::make_unique<strategies::nostr::NostrStrategy>(
            loop,
            room::selectRelays(first, strategies::nostr::defaultRelayUrls(),
                               strategies::nostr::kDefaultRedundancy, true),
            selfId);
      });
}

std::vector<RelaySocketInfo> getRelaySockets() { return room::relaySocketsOf(kStrategyName); }

const std::vector<std::string>& defaultRelayUrls() { return strategies::nostr::defaultRelayUrls(); }

}  // namespace trystero::nostr

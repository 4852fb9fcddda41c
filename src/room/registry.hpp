// Process-wide strategy instances behind the public joinRoom functions: like the JS modules,
// each strategy is initialised once (with the first room's config) and shared by every room
// joined through it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "net/relay_socket.hpp"
#include "room/strategy.hpp"
#include "trystero/trystero.hpp"

namespace trystero::room {

using StrategyFactory = std::function<std::unique_ptr<Strategy>(
    loop::Loop& loop, const Config& config, const std::string& selfId)>;

// Validates the arguments (std::invalid_argument), creates the named strategy on first use and
// joins the room on the shared loop. Any thread.
std::shared_ptr<Room> joinWithStrategy(const std::string& name, const Config& config,
                                       const std::string& roomId, JoinErrorHandler onJoinError,
                                       const StrategyFactory& factory);

// The relay sockets of the named strategy (empty before its first join). Any thread.
std::vector<RelaySocketInfo> relaySocketsOf(const std::string& name);

// The core of a room joined through the named strategy, or null (tests and diagnostics). Loop
// thread.
std::shared_ptr<RoomCore> coreOf(const std::string& name, const std::string& appId,
                                 const std::string& roomId);

// What getRelaySockets() reports for one relay connection.
RelaySocketInfo describeRelaySocket(const net::RelaySocket& socket);

// utils.js getRelays(): the configured relayUrls, or the first relayRedundancy (default
// defaultCount) of the defaults, shuffled by strToNum(appId) when deriveFromAppId.
std::vector<std::string> selectRelays(const Config& config,
                                      const std::vector<std::string>& defaults,
                                      std::size_t defaultCount, bool deriveFromAppId);

}  // namespace trystero::room

// The public trystero::supabase API over the process-wide strategy registry.
#include "trystero/supabase.hpp"

#include "room/registry.hpp"
#include "strategies/supabase/supabase_strategy.hpp"

namespace trystero::supabase {

namespace {
constexpr const char* kStrategyName = "supabase";
}

std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError) {
  return room::joinWithStrategy(kStrategyName, config, roomId, std::move(onJoinError),
                                strategies::supabase::makeStrategy);
}

std::vector<RelaySocketInfo> getRelaySockets() { return room::relaySocketsOf(kStrategyName); }

}  // namespace trystero::supabase

// The public trystero::torrent functions.
#include "trystero/torrent.hpp"

#include "room/registry.hpp"
#include "strategies/torrent/torrent_strategy.hpp"

namespace trystero::torrent {

namespace {
constexpr const char* kName = "torrent";
}

const std::vector<std::string>& defaultRelayUrls() {
  static const std::vector<std::string> urls = {
      "wss://tracker.webtorrent.dev",
      "wss://tracker.openwebtorrent.com",
      "wss://tracker.btorrent.xyz",
      "wss://tracker.files.fm:7073/announce",
  };
  return urls;
}

std::shared_ptr<Room> joinRoom(const Config& config, const std::string& roomId,
                               JoinErrorHandler onJoinError) {
  return room::joinWithStrategy(
      kName, config, roomId, std::move(onJoinError),
      [](loop::Loop& loop, const Config& first, const std::string& selfId) {
        // torrent.js: getRelays(config, defaultRelayUrls, 3), not derived from the appId.
        return std::make_unique<strategies::torrent::TorrentStrategy>(
            loop,
            room::selectRelays(first, defaultRelayUrls(), strategies::torrent::kDefaultRedundancy,
                               false),
            selfId);
      });
}

std::vector<RelaySocketInfo> getRelaySockets() { return room::relaySocketsOf(kName); }

}  // namespace trystero::torrent

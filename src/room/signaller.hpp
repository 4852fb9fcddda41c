// The room-joining state machine of strategy.js: topics, the offer pool, announce/offer/answer
// with the glare rule, pending-offer pruning and SDP sealing. One Signaller per strategy
// instance and identity; it hands connected peers to the room core. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto/crypto.hpp"
#include "loop/loop.hpp"
#include "room/peer.hpp"
#include "room/strategy.hpp"
#include "trystero/trystero.hpp"

namespace trystero {
class RoomCore;
}

namespace trystero::room {

struct Timing {
  std::chrono::milliseconds announceInterval{5333};
  std::chrono::milliseconds offerTtl{57333};
  std::size_t offerPoolSize = 20;
  // Further connections to a connected peer are kept as standbys (see room_core.hpp) for this
  // long (the smaller selfId) or three times this long (the larger); our other offers to that
  // peer still unanswered or unopened when it connects are dropped after this long too.
  std::chrono::milliseconds standbyGrace{3000};
  // false: destroy further connections at once, exactly as trystero@0.22.0 does (tests emulate
  // JS peers with it).
  bool keepStandbys = true;
  // Test hook: when set, the open of a connection made through relay i is handled only after
  // connectDelayForTest(i), so that tests can choose which connection each side keeps first.
  std::function<std::chrono::milliseconds(std::size_t relay)> connectDelayForTest;
};

class Signaller : public std::enable_shared_from_this<Signaller> {
 public:
  Signaller(loop::Loop& loop, std::unique_ptr<Strategy> strategy, std::string selfId,
            rtc::Configuration rtcConfig, Timing timing = {});
  ~Signaller();

  const std::string& selfId() const { return selfId_; }
  loop::Loop& loop() { return loop_; }
  Strategy& strategy() { return *strategy_; }

  // Joins (or returns the already joined) room. Throws std::invalid_argument on a missing
  // appId/roomId.
  std::shared_ptr<Room> join(const Config& config, const std::string& roomId,
                             JoinErrorHandler onJoinError);

  // The room core of a joined room, or null (tests and diagnostics).
  std::shared_ptr<RoomCore> core(const std::string& appId, const std::string& roomId) const;

 private:
  struct Session;
  std::shared_ptr<Peer> takeOffer();
  // strategy.js getOffers(n): tops the pool up by n and hands out the n oldest.
  std::vector<std::shared_ptr<Peer>> takeOffers(std::size_t n);
  void getOffers(const std::shared_ptr<Session>& session, std::size_t n,
                 std::function<void(std::vector<Strategy::OfferedPeer>)> done);
  void startPool();
  void sweepPool();
  void leaveSession(const std::string& appId, const std::string& roomId);
  void mediumError(const std::string& rootTopic, const std::string& error);

  loop::Loop& loop_;
  std::unique_ptr<Strategy> strategy_;
  std::string selfId_;
  rtc::Configuration rtcConfig_;
  Timing timing_;
  std::vector<std::shared_ptr<Peer>> pool_;
  std::uint64_t nextOfferHandle_ = 0;
  loop::Timer poolTimer_;
  bool errorHandlerSet_ = false;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Session>> sessions_;
};

}  // namespace trystero::room

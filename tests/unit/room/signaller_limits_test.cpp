// A hostile relay: announces and offers from invented peer ids, absurd ids. The process must
// keep its connections and descriptors bounded, count what it refused, and still connect
// honest peers afterwards.
#include <gtest/gtest.h>

#include <dirent.h>

#include <future>

#include "crypto/crypto.hpp"
#include "room/config.hpp"
#include "room/connection_budget.hpp"
#include "room/id.hpp"
#include "room/signaller.hpp"
#include "strategies/local/local_strategy.hpp"
#include "support/eventually.hpp"
#include "support/rtc_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using trystero::testing::eventually;
using trystero::testing::openDescriptors;

namespace {

Config testConfig() {
  Config config;
  config.appId = "limits_app";
  config.rtcConfig = RtcConfig{};
  config.allowLoopback = true;
  return config;
}

struct Identity {
  std::shared_ptr<room::Signaller> signaller;
  std::string id;
};

class SignallerLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved = room::ConnectionBudget::limits();
    room::ConnectionLimits limits = saved;
    limits.maxHalfOpen = kMaxHalfOpen;
    room::ConnectionBudget::setLimits(limits);
    bus = std::make_shared<strategies::LocalBus>(loop::Loop::shared());
  }
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop::Loop::shared().invoke([&] { identities.clear(); });
    room::ConnectionBudget::setLimits(saved);
  }

  std::shared_ptr<Room> joinNew(const std::string& roomId) {
    auto& loop = loop::Loop::shared();
    Identity identity;
    identity.id = crypto::generateId(20);
    auto config = testConfig();
    loop.invoke([&] {
      room::Timing timing;
      timing.offerPoolSize = 2;
      identity.signaller = std::make_shared<room::Signaller>(
          loop, std::make_unique<strategies::LocalStrategy>(bus, identity.id), identity.id,
          room::toRtcConfiguration(config), timing);
    });
    identities.push_back(identity);
    rooms.push_back(
        loop.invoke([&] { return identities.back().signaller->join(config, roomId, {}); }));
    return rooms.back();
  }

  // What a relay would deliver on the room's topic.
  void publishAnnounce(const std::string& roomId, const std::string& peerId) {
    auto topic = crypto::topicHash("Trystero@" + testConfig().appId + "@" + roomId);
    nlohmann::json message{{"peerId", peerId}};
    loop::Loop::shared().invoke([&] { bus->publish(topic, message.dump()); });
  }

  static constexpr std::size_t kMaxHalfOpen = 24;
  room::ConnectionLimits saved;
  std::shared_ptr<strategies::LocalBus> bus;
  std::vector<Identity> identities;
  std::vector<std::shared_ptr<Room>> rooms;
};

TEST_F(SignallerLimitsTest, AnnounceFloodFromInventedPeersStaysBoundedAndHonestPeersStillMeet) {
  auto victim = joinNew("flooded");
  std::size_t descriptorsBefore = openDescriptors();
  constexpr int kFakes = 1000;
  for (int i = 0; i < kFakes; ++i) publishAnnounce("flooded", "fake" + std::to_string(i));
  // Every announce is handled: the ones over the budget are refused and counted.
  ASSERT_TRUE(eventually([&] {
    auto stats = victim->stats();
    // At most the budget and the pool were admitted before the first prune.
    return stats.refusedConnections >= kFakes - 3 * kMaxHalfOpen;
  }));
  EXPECT_LE(room::ConnectionBudget::halfOpen(), kMaxHalfOpen);
  // A few descriptors per half-open connection, whatever the flood's size (a thousand unbounded
  // connections would hold thousands). libnice opens a UDP and TCP sockets per local address:
  // about ten per connection on a host with three addresses, more with more interfaces.
  EXPECT_LT(openDescriptors(), descriptorsBefore + kMaxHalfOpen * 16);

  // The refused offers are pruned with the announce interval; then honest peers meet.
  auto greeted = std::make_shared<std::promise<std::string>>();
  auto [sendHello, getHello, helloProgress] = victim->makeAction("hello");
  getHello([greeted, done = std::make_shared<bool>(false)](const Payload& payload,
                                                           const std::string&, const Metadata&) {
    if (!*done) greeted->set_value(payload.text());
    *done = true;
  });
  auto honest = joinNew("flooded");
  auto [sendHello2, getHello2, helloProgress2] = honest->makeAction("hello");
  honest->onPeerJoin([send = sendHello2](const std::string& peerId) { send("hi", peerId); });
  auto answer = greeted->get_future();
  ASSERT_EQ(answer.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(answer.get(), "hi");
}

TEST_F(SignallerLimitsTest, OverlongPeerIdsAreDroppedAndCounted) {
  auto victim = joinNew("long-ids");
  std::string hugeId(200 * 1024, 'x');
  for (int i = 0; i < 20; ++i) publishAnnounce("long-ids", hugeId + std::to_string(i));
  ASSERT_TRUE(eventually([&] { return victim->stats().droppedSignals >= 20; }));
  EXPECT_EQ(victim->stats().refusedConnections, 0u);
  EXPECT_TRUE(victim->getPeers().empty());
}

}  // namespace

// room::Signaller on its own loop and a local bus, with the clock driven by the test: it
// announces on trystero's interval, stops when the room is left, two signallers meet, and a
// peer that joins again while its old connection stays up is met again on the new one.
#include "room/signaller.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "crypto/crypto.hpp"
#include "loop/loop.hpp"
#include "room/config.hpp"
#include "strategies/local/local_strategy.hpp"
#include "support/eventually.hpp"
#include "support/room_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using trystero::testing::eventually;

namespace {

class SignallerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop.invoke([&] { signallers.clear(); });
  }
  std::shared_ptr<Room> join(room::Timing timing = {}, std::string id = crypto::generateId(20)) {
    auto config = trystero::testing::testConfig("signaller_test", {});
    return loop.invoke([&] {
      auto signaller = std::make_shared<room::Signaller>(
          loop, std::make_unique<strategies::LocalStrategy>(bus, id), id,
          room::toRtcConfiguration(config), timing);
      signallers.push_back(signaller);
      rooms.push_back(signaller->join(config, "lobby", {}));
      return rooms.back();
    });
  }
  std::uint64_t published() {
    return loop.invoke([&] { return bus->published(); });
  }

  loop::Loop loop;
  std::shared_ptr<strategies::LocalBus> bus = std::make_shared<strategies::LocalBus>(loop);
  std::vector<std::shared_ptr<room::Signaller>> signallers;
  std::vector<std::shared_ptr<Room>> rooms;
};

}  // namespace

TEST_F(SignallerTest, AnnouncesOnTheIntervalOfTheLoopClockUntilTheRoomIsLeft) {
  room::Timing timing;
  timing.offerPoolSize = 1;
  auto room = join(timing);
  ASSERT_TRUE(eventually([&] { return published() == 1; }));  // the announce on joining
  for (std::uint64_t n = 2; n <= 4; ++n) {
    loop.advanceClock(timing.announceInterval);
    EXPECT_EQ(published(), n);
  }
  room->leave().get();
  const auto afterLeave = published();  // the leave message is not published: nobody is there
  loop.advanceClock(10 * timing.announceInterval);
  EXPECT_EQ(published(), afterLeave);
}

TEST_F(SignallerTest, TwoSignallersMeetAndSeeEachOtherLeave) {
  room::Timing timing;
  timing.offerPoolSize = 2;
  auto a = join(timing);
  std::atomic<int> joins{0}, leaves{0};
  a->onPeerJoin([&](const std::string&) { joins++; });
  a->onPeerLeave([&](const std::string&) { leaves++; });
  auto b = join(timing);
  ASSERT_TRUE(eventually([&] { return joins == 1; }));
  EXPECT_EQ(a->getPeers().size(), 1u);
  b->leave().get();
  ASSERT_TRUE(eventually([&] { return leaves == 1; }));
  EXPECT_TRUE(a->getPeers().empty());
  a->onPeerJoin(nullptr);
  a->onPeerLeave(nullptr);
}

// trystero@0.22.0 attaches a connection that opens just after its room left to the left room,
// which keeps answering on it. When that peer joins again its new room offers to us: the new
// connection must replace the stale one (leave, then join), and what we send reach the new room.
// Here the "left room" is a second signaller with the same id whose room stays up.
TEST_F(SignallerTest, APeerThatJoinsAgainWhileItsOldConnectionStaysUpIsMetOnTheNewOne) {
  room::Timing timing;
  timing.offerPoolSize = 2;
  auto a = join(timing);
  std::atomic<int> joins{0}, leaves{0};
  a->onPeerJoin([&](const std::string&) { joins++; });
  a->onPeerLeave([&](const std::string&) { leaves++; });
  const auto rejoiningId = crypto::generateId(20);
  auto stale = join(timing, rejoiningId);
  ASSERT_TRUE(eventually([&] { return joins == 1; }));
  auto fresh = join(timing, rejoiningId);
  std::atomic<int> staleGot{0}, freshGot{0};
  stale->makeAction("hi").receive(
      [&](const Payload&, const std::string&, const Metadata&) { staleGot++; });
  fresh->makeAction("hi").receive(
      [&](const Payload&, const std::string&, const Metadata&) { freshGot++; });
  // Offers crossing a connection within the grace period are not a rejoin; later ones are.
  loop.advanceClock(timing.standbyGrace);
  loop.advanceClock(timing.announceInterval);
  ASSERT_TRUE(eventually([&] { return joins == 2; }));
  EXPECT_EQ(leaves.load(), 1);
  EXPECT_EQ(a->getPeers().size(), 1u);
  auto [sendHi, getHi, hiProgress] = a->makeAction("hi");
  sendHi(Payload("hello")).get();
  ASSERT_TRUE(eventually([&] { return freshGot == 1; }));
  EXPECT_EQ(staleGot.load(), 0);
  a->onPeerJoin(nullptr);
  a->onPeerLeave(nullptr);
}

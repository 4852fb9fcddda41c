// room::Signaller on its own loop and a local bus, with the clock driven by the test: it
// announces on trystero's interval, stops when the room is left, and two signallers meet.
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
  std::shared_ptr<Room> join(room::Timing timing = {}) {
    const auto id = crypto::generateId(20);
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

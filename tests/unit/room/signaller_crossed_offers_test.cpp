// Offers that cross on a medium over which the remote delivers only one signal per peer (a JS
// peer over Supabase: managed-protocols.md 3.1). Both peers offer; the remote, with the smaller
// id, answers ours but that answer never leaves it. A strategy that says answersCrossedOffers
// makes the room engine answer the remote's offer even though our id is larger and our own offer
// is pending, so the pair still connects. The offers are held back until both are out. Over
// such a medium an offer of ours that a timer prunes too early parts the pair for good, too.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>

#include "loop/loop.hpp"
#include "room/config.hpp"
#include "room/signaller.hpp"
#include "strategies/local/local_strategy.hpp"
#include "support/eventually.hpp"
#include "support/room_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using trystero::testing::eventually;

namespace {

// LocalStrategy whose signals can be held back, that may deliver only the first signal to each
// topic (as a JS peer over Supabase does), and that may ask for crossed offers to be answered.
class CrossingStrategy : public strategies::LocalStrategy {
 public:
  struct Knobs {
    bool answersCrossedOffers = false;
    bool oneSignalPerTopic = false;
    bool hold = true;
    std::vector<std::pair<std::string, std::string>> held;
    std::set<std::string> signalled;
    int dropped = 0;
    int answersSent = 0;
    std::string rootTopic, selfTopic;
  };
  CrossingStrategy(std::shared_ptr<strategies::LocalBus> bus, std::string selfId,
                   std::shared_ptr<Knobs> knobs)
      : LocalStrategy(std::move(bus), std::move(selfId)), knobs_(std::move(knobs)) {}

  bool answersCrossedOffers() const override { return knobs_->answersCrossedOffers; }
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& root,
                                                    const std::string& self) override {
    knobs_->rootTopic = root;
    knobs_->selfTopic = self;
    return LocalStrategy::announce(relay, root, self);
  }
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override {
    if (knobs_->oneSignalPerTopic && !knobs_->signalled.insert(topic).second) {
      knobs_->dropped++;
      return;
    }
    if (message.find("\"answer\"") != std::string::npos) knobs_->answersSent++;
    if (knobs_->hold) {
      knobs_->held.emplace_back(topic, message);
      return;
    }
    LocalStrategy::signal(relay, topic, message);
  }
  void release() {
    knobs_->hold = false;
    for (auto& [topic, message] : std::exchange(knobs_->held, {})) {
      LocalStrategy::signal(0, topic, message);
    }
  }
  void announceAgain() { LocalStrategy::announce(0, knobs_->rootTopic, knobs_->selfTopic); }

 private:
  std::shared_ptr<Knobs> knobs_;
};

class CrossedOffersTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop.invoke([&] { signallers.clear(); });
  }
  struct Side {
    std::shared_ptr<Room> room;
    CrossingStrategy* strategy = nullptr;
    std::shared_ptr<CrossingStrategy::Knobs> knobs = std::make_shared<CrossingStrategy::Knobs>();
  };
  void join(Side& side, const std::string& id) {
    auto config = trystero::testing::testConfig("crossed_offers_test", {});
    room::Timing timing;
    timing.offerPoolSize = 1;
    side.room = loop.invoke([&] {
      auto strategy = std::make_unique<CrossingStrategy>(bus, id, side.knobs);
      side.strategy = strategy.get();
      auto signaller = std::make_shared<room::Signaller>(loop, std::move(strategy), id,
                                                         room::toRtcConfiguration(config), timing);
      signallers.push_back(signaller);
      return signaller->join(config, "lobby", {});
    });
    rooms.push_back(side.room);
  }
  template <typename F>
  auto onLoop(F f) {
    return loop.invoke(f);
  }
  // Both sides offer before either offer lands, then the offers go out.
  void crossOffers(Side& native, Side& js) {
    join(native, std::string(20, 'z'));  // the larger id: the glare rule would keep its offer
    ASSERT_TRUE(
        eventually([&] { return onLoop([&] { return !native.knobs->rootTopic.empty(); }); }));
    join(js, std::string(20, 'a'));  // its announce makes the native side offer
    ASSERT_TRUE(
        eventually([&] { return onLoop([&] { return native.knobs->held.size(); }) == 1u; }));
    onLoop([&] { native.strategy->announceAgain(); });  // and the JS side offers too
    ASSERT_TRUE(eventually([&] { return onLoop([&] { return js.knobs->held.size(); }) == 1u; }));
    onLoop([&] {
      native.strategy->release();
      js.strategy->release();
    });
  }

  loop::Loop loop;
  std::shared_ptr<strategies::LocalBus> bus = std::make_shared<strategies::LocalBus>(loop);
  std::vector<std::shared_ptr<room::Signaller>> signallers;
  std::vector<std::shared_ptr<Room>> rooms;
};

}  // namespace

TEST_F(CrossedOffersTest, AMediumThatAsksForItGetsTheRemotesOfferAnswered) {
  Side native, js;
  native.knobs->answersCrossedOffers = true;
  js.knobs->oneSignalPerTopic = true;
  crossOffers(native, js);
  ASSERT_TRUE(eventually(
      [&] { return native.room->getPeers().size() == 1 && js.room->getPeers().size() == 1; }));
  onLoop([&] {
    EXPECT_EQ(native.knobs->answersSent, 1);  // to the JS side's offer, despite the larger id
    EXPECT_EQ(js.knobs->dropped, 1);          // the JS side's answer to ours never left
  });
}

TEST_F(CrossedOffersTest, OtherMediaKeepTheGlareRule) {
  Side native, js;
  crossOffers(native, js);
  ASSERT_TRUE(eventually(
      [&] { return native.room->getPeers().size() == 1 && js.room->getPeers().size() == 1; }));
  onLoop([&] {
    EXPECT_EQ(native.knobs->answersSent, 0);  // the larger id's offer won
    EXPECT_EQ(js.knobs->answersSent, 1);
  });
}

// Our offer to a peer is pruned 0.9 announce intervals after the announce it answered, unless
// answered by then. When that peer leaves and joins again before the timer of an earlier offer
// is due, the timer must leave the new offer alone: a JS peer over Supabase answers it and can
// never signal us again (its one signal is spent), so a pruned offer would part the pair for
// good. Here the earlier offer is answered and connects, the peer leaves and joins again, and
// its answer to our new offer is held until the earlier offer's timer has fired.
TEST_F(CrossedOffersTest, AnOfferToAPeerThatJoinedAgainOutlivesThePruneTimerOfTheOneBefore) {
  Side native, first, again;
  native.knobs->answersCrossedOffers = true;
  native.knobs->hold = false;
  first.knobs->hold = false;
  first.knobs->oneSignalPerTopic = true;
  again.knobs->oneSignalPerTopic = true;
  const std::string jsId(20, 'a');
  join(native, std::string(20, 'z'));
  ASSERT_TRUE(eventually([&] { return onLoop([&] { return !native.knobs->rootTopic.empty(); }); }));
  join(first, jsId);  // its announce makes the native side offer; the answer connects
  ASSERT_TRUE(eventually([&] { return native.room->getPeers().size() == 1; }));
  const auto connectedAt = loop.nowMs();  // after our first offer was made
  loop.advanceClock(2000ms);
  first.room->leave().get();
  ASSERT_TRUE(eventually([&] { return native.room->getPeers().empty(); }));
  join(again, jsId);  // its announce makes the native side offer again; its answer is held
  ASSERT_TRUE(eventually([&] { return onLoop([&] { return again.knobs->held.size(); }) == 1u; }));
  // Past the first offer's prune time, before the new one's.
  const auto target = connectedAt + room::Timing{}.announceInterval.count() * 9 / 10 + 500;
  loop.advanceClock(std::chrono::milliseconds(target - loop.nowMs()));
  onLoop([&] { again.strategy->release(); });
  ASSERT_TRUE(eventually(
      [&] { return native.room->getPeers().size() == 1 && again.room->getPeers().size() == 1; }));
}

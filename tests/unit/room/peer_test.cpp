// room::Peer on its own (peer.js's counterpart): an initiator's offer and the other side's answer
// open the "data" channel; data flows both ways; a graceful close delivers what was sent before
// it; destroy() reports the close once, on the other side too; bad descriptions fail cleanly.
#include "room/peer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "support/eventually.hpp"
#include "support/rtc_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using room::Peer;
using trystero::testing::eventually;
using trystero::testing::loopbackRtcConfig;

namespace {

// What one side's handlers saw.
struct Seen {
  std::atomic<int> connects{0}, closes{0};
  std::mutex mutex;
  std::vector<std::string> data;
  Peer::Handlers handlers() {
    return {
        [this] { connects++; },
        [this] { closes++; },
        [this](std::span<const std::uint8_t> bytes) {
          std::lock_guard lock(mutex);
          data.emplace_back(bytes.begin(), bytes.end());
        },
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return data.size();
  }
};

std::span<const std::uint8_t> bytesOf(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

class PeerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    loop.invoke([&] {
      if (a) a->destroy();
      if (b) b->destroy();
      a.reset();
      b.reset();
    });
  }
  // a offers, b answers, a applies the answer; both channels open.
  void connect() {
    loop.invoke([&] {
      a = Peer::create(loop, loopbackRtcConfig(), true);
      b = Peer::create(loop, loopbackRtcConfig(), false);
      a->setHandlers(seenA.handlers());
      b->setHandlers(seenB.handlers());
      a->whenOffer([this](std::optional<rtc::SessionDescription> offer) {
        ASSERT_TRUE(offer);
        EXPECT_EQ(offer->type, rtc::SdpType::Offer);
        b->signal(*offer, [this](std::optional<rtc::SessionDescription> answer) {
          ASSERT_TRUE(answer);
          EXPECT_EQ(answer->type, rtc::SdpType::Answer);
          a->signal(*answer,
                    [](std::optional<rtc::SessionDescription> none) { EXPECT_FALSE(none); });
        });
      });
    });
    ASSERT_TRUE(eventually([&] { return seenA.connects == 1 && seenB.connects == 1; }, 15s));
    EXPECT_TRUE(loop.invoke([&] { return a->isOpen() && b->isOpen(); }));
  }

  loop::Loop loop;
  std::shared_ptr<Peer> a, b;
  Seen seenA, seenB;
};

}  // namespace

TEST_F(PeerTest, OfferAndAnswerOpenTheChannelAndDataFlowsBothWays) {
  connect();
  loop.invoke([&] {
    EXPECT_TRUE(a->initiator());
    EXPECT_FALSE(b->initiator());
    EXPECT_TRUE(a->send(bytesOf("from a")));
    EXPECT_TRUE(b->send(bytesOf("from b")));
  });
  ASSERT_TRUE(eventually([&] { return seenA.count() == 1 && seenB.count() == 1; }));
  EXPECT_EQ(seenB.data, std::vector<std::string>{"from a"});
  EXPECT_EQ(seenA.data, std::vector<std::string>{"from b"});
  EXPECT_EQ(seenA.connects, 1);
  EXPECT_EQ(seenA.closes, 0);
}

TEST_F(PeerTest, GracefulCloseDeliversWhatWasSentBeforeIt) {
  connect();
  constexpr int kMessages = 200;
  const std::string chunk(16 * 1024, 'x');
  std::atomic<int> done{0};
  loop.invoke([&] {
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(a->send(bytesOf(chunk)));
    a->closeGracefully(10s, [&] { done++; });
  });
  ASSERT_TRUE(eventually([&] { return done == 1; }));
  EXPECT_TRUE(loop.invoke([&] { return a->isDead(); }));
  EXPECT_EQ(seenB.count(), std::size_t{kMessages});
  ASSERT_TRUE(eventually([&] { return seenB.closes == 1; }));
  EXPECT_EQ(seenA.closes, 0);  // a local close is not reported to its own handlers
  EXPECT_EQ(done, 1);
}

TEST_F(PeerTest, DestroyReportsTheCloseOnceOnTheOtherSideAndRefusesSends) {
  connect();
  loop.invoke([&] {
    a->destroy();
    a->destroy();  // idempotent
    EXPECT_TRUE(a->isDead());
    EXPECT_FALSE(a->isOpen());
    EXPECT_FALSE(a->send(bytesOf("late")));
  });
  ASSERT_TRUE(eventually([&] { return seenB.closes == 1; }));
  loop.invoke([] {});  // anything queued behind the close has run
  EXPECT_EQ(seenB.closes, 1);
  EXPECT_EQ(seenB.count(), 0u);
}

TEST_F(PeerTest, ABadDescriptionFailsWithoutAnAnswer) {
  std::atomic<int> answered{0};
  std::atomic<bool> gotNothing{false};
  loop.invoke([&] {
    b = Peer::create(loop, loopbackRtcConfig(), false);
    b->setHandlers(seenB.handlers());
    b->signal({rtc::SdpType::Offer, "v=0\r\nnot really sdp\r\n"},
              [&](std::optional<rtc::SessionDescription> answer) {
                answered++;
                gotNothing = !answer;
              });
  });
  ASSERT_TRUE(eventually([&] { return answered == 1; }));
  EXPECT_TRUE(gotNothing);
  EXPECT_EQ(seenB.connects, 0);
}

TEST_F(PeerTest, AgeFollowsTheLoopClock) {
  loop.invoke([&] { a = Peer::create(loop, loopbackRtcConfig(), true); });
  loop.advanceClock(1h);
  EXPECT_GE(loop.invoke([&] { return loop.nowMs() - a->createdMs(); }), 3600 * 1000);
}

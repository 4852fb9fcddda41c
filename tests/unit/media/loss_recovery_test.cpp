#include "media/loss_recovery.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

using trystero::media::LossRecovery;
using Sequence = std::vector<std::uint16_t>;

namespace {

// Retries far apart, so that only the tests about them see any.
LossRecovery noRetries(LossRecovery::Limits limits = {}) {
  limits.retryIntervalMs = 1'000'000;
  return LossRecovery(limits);
}

}  // namespace

TEST(LossRecovery, AsksForWhatAGapSkipped) {
  auto recovery = noRetries();
  EXPECT_EQ(recovery.onPacket(100, 0), Sequence{});  // the first packet: nothing known before it
  EXPECT_EQ(recovery.onPacket(101, 0), Sequence{});
  EXPECT_EQ(recovery.onPacket(104, 0), (Sequence{102, 103}));
  EXPECT_EQ(recovery.outstanding(), 2u);
  // The missing ones arriving late (resent), a duplicate and a packet from the past: nothing.
  EXPECT_EQ(recovery.onPacket(103, 0), Sequence{});
  EXPECT_EQ(recovery.onPacket(102, 0), Sequence{});
  EXPECT_EQ(recovery.outstanding(), 0u);
  EXPECT_EQ(recovery.onPacket(104, 0), Sequence{});
  EXPECT_EQ(recovery.onPacket(90, 0), Sequence{});
  EXPECT_EQ(recovery.onPacket(105, 0), Sequence{});
  EXPECT_EQ(recovery.packetsAskedFor(), 2u);
}

TEST(LossRecovery, GapsAcrossTheWrap) {
  auto recovery = noRetries();
  recovery.onPacket(65533, 0);
  EXPECT_EQ(recovery.onPacket(1, 0), (Sequence{65534, 65535, 0}));
  EXPECT_EQ(recovery.onPacket(2, 0), Sequence{});
  EXPECT_EQ(recovery.onPacket(65535, 0), Sequence{});  // behind: resent
  EXPECT_EQ(recovery.outstanding(), 2u);
}

TEST(LossRecovery, ALongGapIsLeftToAKeyframe) {
  auto recovery = noRetries({.maxMissingPerGap = 4});
  recovery.onPacket(10, 0);
  EXPECT_EQ(recovery.onPacket(15, 0), (Sequence{11, 12, 13, 14}));
  EXPECT_FALSE(recovery.takeGivenUp());
  EXPECT_EQ(recovery.onPacket(21, 0), Sequence{});  // 5 skipped: given up at once
  EXPECT_TRUE(recovery.takeGivenUp());
  EXPECT_FALSE(recovery.takeGivenUp());
  EXPECT_EQ(recovery.onPacket(23, 0), Sequence{22});  // counted from the newest again
  EXPECT_EQ(recovery.packetsAskedFor(), 5u);
  // Those more than two gaps' length behind are no longer followed: given up too.
  EXPECT_EQ(recovery.outstanding(), 1u);
  EXPECT_TRUE(recovery.takeGivenUp());
}

TEST(LossRecovery, ASenderStartingOverIsFollowed) {
  auto recovery = noRetries();
  recovery.onPacket(1000, 0);
  EXPECT_EQ(recovery.onPacket(1002, 0), Sequence{1001});
  // Far behind (more than half the sequence space ahead reads as behind): no resend, a restart.
  EXPECT_EQ(recovery.onPacket(50000, 0), Sequence{});
  EXPECT_EQ(recovery.outstanding(), 0u);
  EXPECT_TRUE(recovery.takeGivenUp());
  EXPECT_EQ(recovery.onPacket(50003, 0), (Sequence{50001, 50002}));
  // Behind by less: a resend of something older, which changes nothing.
  EXPECT_EQ(recovery.onPacket(49000, 0), Sequence{});
  EXPECT_EQ(recovery.onPacket(50005, 0), Sequence{50004});
}

TEST(LossRecovery, WhatStaysMissingIsAskedForAgainAFewTimes) {
  LossRecovery recovery({.retryIntervalMs = 100, .maxRequests = 3});
  recovery.onPacket(1, 0);
  EXPECT_EQ(recovery.onPacket(4, 0), (Sequence{2, 3}));
  EXPECT_EQ(recovery.onPacket(5, 99), Sequence{});    // not due yet
  EXPECT_EQ(recovery.onPacket(3, 100), Sequence{2});  // 3 came; 2 is due again
  EXPECT_EQ(recovery.onPacket(6, 150), Sequence{});
  EXPECT_EQ(recovery.onPacket(7, 200), Sequence{2});  // its third request, the last
  EXPECT_EQ(recovery.onPacket(8, 300), Sequence{});   // given up
  EXPECT_EQ(recovery.outstanding(), 0u);
  EXPECT_EQ(recovery.packetsAskedFor(), 4u);
  // A gap seen with a retry due: both go in one request.
  EXPECT_EQ(recovery.onPacket(10, 300), Sequence{9});
  EXPECT_EQ(recovery.onPacket(12, 400), (Sequence{11, 9}));
}

// The timer's side: with nothing arriving, what is due is asked for again.
TEST(LossRecovery, DueWithoutAPacketArriving) {
  LossRecovery recovery({.retryIntervalMs = 100, .maxRequests = 2});
  EXPECT_EQ(recovery.nextDueMs(), std::nullopt);
  recovery.onPacket(1, 0);
  EXPECT_EQ(recovery.onPacket(3, 10), Sequence{2});
  EXPECT_EQ(recovery.onPacket(5, 60), Sequence{4});
  EXPECT_EQ(recovery.nextDueMs(), 110);
  EXPECT_EQ(recovery.due(109), Sequence{});
  EXPECT_EQ(recovery.due(110), Sequence{2});
  EXPECT_EQ(recovery.nextDueMs(), 160);  // 4's turn comes first now
  EXPECT_EQ(recovery.due(160), Sequence{4});
  EXPECT_EQ(recovery.outstanding(), 2u);
  EXPECT_FALSE(recovery.takeGivenUp());
  EXPECT_EQ(recovery.due(210), Sequence{});  // 2 asked twice: given up
  EXPECT_TRUE(recovery.takeGivenUp());
  EXPECT_EQ(recovery.outstanding(), 1u);
  EXPECT_EQ(recovery.packetsAskedFor(), 4u);
}

TEST(LossRecovery, KeyframeRequestsForLostFramesAreSpacedOut) {
  LossRecovery recovery({.keyframeIntervalMs = 300});
  EXPECT_FALSE(recovery.onFramesLost(0, 0));
  EXPECT_TRUE(recovery.onFramesLost(1, 1000));
  EXPECT_FALSE(recovery.onFramesLost(3, 1100));
  EXPECT_FALSE(recovery.onFramesLost(1, 1299));
  EXPECT_TRUE(recovery.onFramesLost(1, 1300));
  EXPECT_FALSE(recovery.onFramesLost(0, 5000));
  EXPECT_TRUE(recovery.onFramesLost(2, 5000));
}

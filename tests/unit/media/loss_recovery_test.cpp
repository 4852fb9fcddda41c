#include "media/loss_recovery.hpp"

#include <gtest/gtest.h>

#include <vector>

using trystero::media::LossRecovery;
using Sequence = std::vector<std::uint16_t>;

TEST(LossRecovery, AsksOnceForWhatAGapSkipped) {
  LossRecovery recovery;
  EXPECT_EQ(recovery.onPacket(100), Sequence{});  // the first packet: nothing known before it
  EXPECT_EQ(recovery.onPacket(101), Sequence{});
  EXPECT_EQ(recovery.onPacket(104), (Sequence{102, 103}));
  // The missing ones arriving late (resent), a duplicate and a packet from the past: nothing.
  EXPECT_EQ(recovery.onPacket(103), Sequence{});
  EXPECT_EQ(recovery.onPacket(102), Sequence{});
  EXPECT_EQ(recovery.onPacket(104), Sequence{});
  EXPECT_EQ(recovery.onPacket(90), Sequence{});
  EXPECT_EQ(recovery.onPacket(105), Sequence{});
  EXPECT_EQ(recovery.packetsAskedFor(), 2u);
}

TEST(LossRecovery, GapsAcrossTheWrap) {
  LossRecovery recovery;
  recovery.onPacket(65533);
  EXPECT_EQ(recovery.onPacket(1), (Sequence{65534, 65535, 0}));
  EXPECT_EQ(recovery.onPacket(2), Sequence{});
  EXPECT_EQ(recovery.onPacket(65535), Sequence{});  // behind: resent
}

TEST(LossRecovery, ALongGapIsLeftToAKeyframe) {
  LossRecovery recovery({.maxMissingPerGap = 4});
  recovery.onPacket(10);
  EXPECT_EQ(recovery.onPacket(15), (Sequence{11, 12, 13, 14}));
  EXPECT_EQ(recovery.onPacket(21), Sequence{});    // 5 skipped
  EXPECT_EQ(recovery.onPacket(23), Sequence{22});  // counted from the newest again
  EXPECT_EQ(recovery.packetsAskedFor(), 5u);
}

TEST(LossRecovery, ASenderStartingOverIsFollowed) {
  LossRecovery recovery;
  recovery.onPacket(1000);
  // Far behind (more than half the sequence space ahead reads as behind): no resend, a restart.
  EXPECT_EQ(recovery.onPacket(50000), Sequence{});
  EXPECT_EQ(recovery.onPacket(50003), (Sequence{50001, 50002}));
  // Behind by less: a resend of something older, which changes nothing.
  EXPECT_EQ(recovery.onPacket(49000), Sequence{});
  EXPECT_EQ(recovery.onPacket(50005), Sequence{50004});
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

#include "media/reception_stats.hpp"

#include <gtest/gtest.h>

#include "media/retransmit_buffer.hpp"

namespace trystero::media {
namespace {

constexpr std::uint32_t kVideoClock = 90000;

TEST(ReceptionStats, CountsLossAcrossTheSequenceWrapAndPerInterval) {
  ReceptionStats stats(kVideoClock);
  // 65530 .. 65535, 0 .. 9 with 65534 and 3, 4 missing: 16 expected, 13 received.
  std::int64_t t = 0;
  for (std::uint32_t n = 65530; n < 65536 + 10; ++n) {
    const auto sequence = static_cast<std::uint16_t>(n);
    if (sequence == 65534 || sequence == 3 || sequence == 4) continue;
    stats.onPacket(sequence, static_cast<std::uint32_t>(n * 3000), t += 33333);
  }
  auto block = stats.report(42, t);
  EXPECT_EQ(block.ssrc, 42u);
  EXPECT_EQ(block.extendedHighestSequence, 65536u + 9);
  EXPECT_EQ(block.cumulativeLost, 3);
  EXPECT_EQ(block.fractionLost, 3 * 256 / 16);
  // The next interval lost nothing: its fraction is zero, the total stays.
  for (std::uint32_t n = 10; n < 20; ++n) stats.onPacket(static_cast<std::uint16_t>(n), 0, t);
  block = stats.report(42, t);
  EXPECT_EQ(block.fractionLost, 0);
  EXPECT_EQ(block.cumulativeLost, 3);
  // A late packet fills a hole.
  stats.onPacket(3, 0, t);
  EXPECT_EQ(stats.report(42, t).cumulativeLost, 2);
}

TEST(ReceptionStats, JitterFollowsUnevenArrivalAndIsZeroForEvenArrival) {
  ReceptionStats even(kVideoClock), uneven(kVideoClock);
  for (std::uint16_t n = 0; n < 200; ++n) {
    const std::uint32_t timestamp = n * 3000u;  // 30 fps
    even.onPacket(n, timestamp, n * 33333ll + 1);
    // Every other frame 10 ms late: transit swings by 900 timestamp units.
    uneven.onPacket(n, timestamp, n * 33333ll + (n % 2 ? 10000 : 0));
  }
  EXPECT_LT(even.jitter(), 2.0);
  EXPECT_NEAR(uneven.jitter(), 900.0, 60.0);
}

TEST(ReceptionStats, EchoesTheLastSenderReportWithTheDelaySince) {
  ReceptionStats stats(kVideoClock);
  stats.onPacket(1, 0, 1000);
  EXPECT_EQ(stats.report(7, 1000).lastSenderReport, 0u);
  const std::uint64_t ntp = (0x11223344ull << 32) | 0x55667788ull;
  stats.onSenderReport(ntp, 2'000'000);
  auto block = stats.report(7, 2'500'000);
  EXPECT_EQ(block.lastSenderReport, 0x33445566u);
  EXPECT_EQ(block.delaySinceLastSenderReport, 65536u / 2);
}

TEST(ReceptionStats, AStrayJumpIsIgnoredAndARestartedSequenceIsFollowed) {
  ReceptionStats stats(kVideoClock);
  for (std::uint16_t n = 100; n < 110; ++n) stats.onPacket(n, 0, 0);
  stats.onPacket(40000, 0, 0);  // one stray: not counted, nothing lost
  EXPECT_EQ(stats.packetsReceived(), 10u);
  EXPECT_EQ(stats.packetsLost(), 0);
  stats.onPacket(50000, 0, 0);  // the sender restarted: two in a row
  stats.onPacket(50001, 0, 0);
  EXPECT_EQ(stats.packetsReceived(), 1u);
  EXPECT_EQ(stats.report(1, 0).extendedHighestSequence, 50001u);
}

TEST(RetransmitBuffer, HoldsTheLastPacketsAndForgetsOverwrittenOnes) {
  RetransmitBuffer buffer(4);
  for (std::uint32_t n = 65534; n < 65536 + 4; ++n) {
    const auto sequence = static_cast<std::uint16_t>(n);
    const std::uint8_t byte = static_cast<std::uint8_t>(n);
    buffer.store(sequence, std::vector<std::uint8_t>{byte, byte});
  }
  EXPECT_TRUE(buffer.find(65534).empty());  // overwritten by 2
  EXPECT_TRUE(buffer.find(65535).empty());  // overwritten by 3
  ASSERT_EQ(buffer.find(3).size(), 2u);
  EXPECT_EQ(buffer.find(3)[0], 3);
  EXPECT_TRUE(buffer.find(7).empty());  // never stored
  EXPECT_TRUE(RetransmitBuffer().find(3).empty());
}

}  // namespace
}  // namespace trystero::media

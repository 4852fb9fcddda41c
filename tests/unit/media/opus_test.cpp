#include "media/opus.hpp"

#include <gtest/gtest.h>

#include "media_test_helpers.hpp"

using namespace trystero::media;
using namespace trystero::media::testing;

TEST(OpusPacketizer, OneFramePerPacketWithinTheBudget) {
  const Bytes frame = patternBytes(1200, 0xFC, 1);
  auto exact = packetizeOpus(frame, 1200);
  ASSERT_EQ(exact.size(), 1u);
  EXPECT_EQ(exact[0], frame);
  EXPECT_TRUE(packetizeOpus(frame, 1199).empty()) << "Opus frames are never split";
  EXPECT_TRUE(packetizeOpus({}, 1200).empty());
  EXPECT_EQ(packetizeOpus(bytes({0xF8}), 1).size(), 1u) << "a 1-byte frame (DTX)";
}

TEST(OpusPacketSamples, FromTheTocByte) {
  EXPECT_EQ(opusPacketSamples(bytes({0xFC})), 960u);         // CELT FB 20 ms, code 0
  EXPECT_EQ(opusPacketSamples(bytes({0xF8, 0})), 960u);      // the same, mono
  EXPECT_EQ(opusPacketSamples(bytes({0x70})), 480u);         // hybrid FB 10 ms
  EXPECT_EQ(opusPacketSamples(bytes({0x78})), 960u);         // hybrid FB 20 ms
  EXPECT_EQ(opusPacketSamples(bytes({0x18})), 2880u);        // SILK NB 60 ms
  EXPECT_EQ(opusPacketSamples(bytes({0x19})), 5760u);        // two of those: 120 ms
  EXPECT_EQ(opusPacketSamples(bytes({0x82})), 240u);         // CELT 2.5 ms, two frames (code 2)
  EXPECT_EQ(opusPacketSamples(bytes({0xFB, 0x03})), 2880u);  // code 3, three 20 ms frames
  EXPECT_FALSE(opusPacketSamples({}));
  EXPECT_FALSE(opusPacketSamples(bytes({0xFB}))) << "code 3 without its count byte";
  EXPECT_FALSE(opusPacketSamples(bytes({0xFB, 0x00}))) << "zero frames";
  EXPECT_FALSE(opusPacketSamples(bytes({0xFB, 0x07}))) << "140 ms is over Opus's limit";
}

TEST(OpusDepacketizer, EveryPacketIsAFrameWhateverTheMarker) {
  auto assembler = makeOpusDepacketizer();
  std::vector<SentPacket> packets;
  for (std::uint16_t i = 0; i < 100; ++i) {
    packets.push_back({static_cast<std::uint16_t>(65500 + i), i * 960u, i == 0,
                       patternBytes(1 + i, 0xFC, static_cast<std::uint8_t>(i))});
  }
  auto got = feed(assembler, packets);
  ASSERT_EQ(got.frames.size(), 100u);
  EXPECT_EQ(got.framesLost, 0u);
  for (std::size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(got.frames[i].data, packets[i].payload);
    EXPECT_EQ(got.frames[i].rtpTimestamp, i * 960);
    EXPECT_TRUE(got.frames[i].keyframe);
  }
}

TEST(OpusDepacketizer, GapsAreCountedAndLatePacketsDropped) {
  auto assembler = makeOpusDepacketizer();
  const Bytes frame = bytes({0xFC, 1, 2});
  EXPECT_EQ(assembler.push(10, 0, false, frame).frames.size(), 1u);
  auto afterGap = assembler.push(13, 2880, false, frame);
  EXPECT_EQ(afterGap.frames.size(), 1u);
  EXPECT_EQ(afterGap.framesLost, 1u) << "one gap, at least one frame";
  EXPECT_TRUE(assembler.push(12, 1920, false, frame).frames.empty());
  EXPECT_TRUE(assembler.push(13, 2880, false, frame).frames.empty());
  EXPECT_EQ(assembler.stats().latePackets, 2u);
  EXPECT_TRUE(assembler.push(14, 3840, false, {}).frames.empty()) << "padding only";
  EXPECT_EQ(assembler.push(15, 4800, false, frame).framesLost, 0u);
}

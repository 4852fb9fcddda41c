#include "media/vp8.hpp"

#include <gtest/gtest.h>

#include <set>

#include "media_test_helpers.hpp"

using namespace trystero::media;
using namespace trystero::media::testing;

namespace {

// Bit 0 of the first byte: 0 on a keyframe (RFC 6386 section 9.1).
Bytes keyframe(std::size_t size, std::uint8_t seed) { return patternBytes(size, 0x10, seed); }
Bytes interframe(std::size_t size, std::uint8_t seed) { return patternBytes(size, 0x11, seed); }

struct Stream {
  std::vector<Bytes> frames;
  std::vector<SentPacket> packets;
};

Stream makeStream(std::size_t frameCount, std::size_t mtu, std::uint16_t firstSequence) {
  Stream stream;
  Vp8Packetizer packetizer;
  std::uint16_t sequence = firstSequence;
  for (std::size_t i = 0; i < frameCount; ++i) {
    const std::size_t size = 1 + (i * 977) % 5000;
    stream.frames.push_back(i % 10 == 0 ? keyframe(size, static_cast<std::uint8_t>(i))
                                        : interframe(size, static_cast<std::uint8_t>(i)));
    appendFrame(stream.packets, sequence, static_cast<std::uint32_t>(i * 3000),
                packetizer.packetize(stream.frames.back(), mtu));
  }
  return stream;
}

}  // namespace

TEST(Vp8Descriptor, ParsesEveryOptionalField) {
  // X=1 N=1 S=1 PID=2; I L T K; M=1 PictureID 0x1234; TL0PICIDX 5; TID 2 Y=1 KEYIDX 3.
  const Bytes payload = bytes({0xB2, 0xF0, 0x92, 0x34, 0x05, 0xA3, 0x9D});
  auto d = parseVp8Descriptor(payload);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->nonReference);
  EXPECT_TRUE(d->startOfPartition);
  EXPECT_EQ(d->partitionIndex, 2);
  EXPECT_FALSE(d->beginsFrame());
  EXPECT_EQ(d->pictureId, 0x1234);
  EXPECT_TRUE(d->longPictureId);
  EXPECT_EQ(d->tl0PicIdx, 5);
  EXPECT_EQ(d->temporalLayer, 2);
  EXPECT_TRUE(d->layerSync);
  EXPECT_EQ(d->keyIndex, 3);
  EXPECT_EQ(d->size, 6u);
  EXPECT_EQ(writeVp8Descriptor(*d), Bytes(payload.begin(), payload.begin() + 6));
}

TEST(Vp8Descriptor, SevenBitPictureIdAndMinimalDescriptor) {
  auto shortId = parseVp8Descriptor(bytes({0x90, 0x80, 0x7F, 0x00}));
  ASSERT_TRUE(shortId);
  EXPECT_EQ(shortId->pictureId, 0x7F);
  EXPECT_FALSE(shortId->longPictureId);
  EXPECT_EQ(shortId->size, 3u);
  auto minimal = parseVp8Descriptor(bytes({0x10, 0x00}));
  ASSERT_TRUE(minimal);
  EXPECT_TRUE(minimal->beginsFrame());
  EXPECT_FALSE(minimal->pictureId);
  EXPECT_EQ(minimal->size, 1u);
}

TEST(Vp8Descriptor, TruncatedOrEmptyPayloadsAreRejected) {
  const Bytes full = bytes({0x90, 0xF0, 0x92, 0x34, 0x05, 0xA3, 0x9D});
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(parseVp8Descriptor(ByteView(full).first(n))) << n << " bytes";
  }
  EXPECT_FALSE(parseVp8Descriptor(bytes({0x10}))) << "a descriptor with no VP8 data";
  EXPECT_FALSE(parseVp8Descriptor(bytes({0x80, 0x80, 0x80}))) << "M=1 but one PictureID byte";
}

TEST(Vp8Packetizer, BoundarySizes) {
  Vp8Packetizer packetizer(std::nullopt);  // 1-byte descriptor
  EXPECT_TRUE(packetizer.packetize({}, 1200).empty());
  EXPECT_TRUE(packetizer.packetize(keyframe(10, 1), 1).empty()) << "no room after the descriptor";
  auto one = packetizer.packetize(keyframe(1, 1), 2);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], bytes({0x10, 0x10}));
  auto exact = packetizer.packetize(keyframe(1199, 1), 1200);
  ASSERT_EQ(exact.size(), 1u);
  EXPECT_EQ(exact[0].size(), 1200u);
  auto overByOne = packetizer.packetize(keyframe(1200, 1), 1200);
  ASSERT_EQ(overByOne.size(), 2u);
  EXPECT_EQ(overByOne[0].size(), 601u) << "split evenly, not 1200 + 2";
  EXPECT_EQ(overByOne[1].size(), 601u);
  EXPECT_EQ(overByOne[0][0], 0x10) << "S set on the first";
  EXPECT_EQ(overByOne[1][0], 0x00) << "S clear on the rest";
}

TEST(Vp8Packetizer, PictureIdIsFifteenBitsAndWraps) {
  Vp8Packetizer packetizer(0x7FFE);
  for (std::uint16_t expected : {0x7FFE, 0x7FFF, 0x0000, 0x0001}) {
    auto payloads = packetizer.packetize(interframe(3000, 2), 1200);
    ASSERT_EQ(payloads.size(), 3u);
    for (const Bytes& payload : payloads) {
      EXPECT_LE(payload.size(), 1200u);
      auto d = parseVp8Descriptor(payload);
      ASSERT_TRUE(d);
      EXPECT_EQ(d->pictureId, expected) << "the same ID on every packet of a frame";
      EXPECT_TRUE(d->longPictureId);
    }
  }
}

TEST(Vp8Depacketizer, InOrderStreamComesBackByteForByte) {
  auto stream = makeStream(50, 1200, 100);
  auto assembler = makeVp8Depacketizer();
  auto got = feed(assembler, stream.packets);
  ASSERT_EQ(got.frames.size(), stream.frames.size());
  EXPECT_EQ(got.framesLost, 0u);
  for (std::size_t i = 0; i < got.frames.size(); ++i) {
    EXPECT_EQ(got.frames[i].data, stream.frames[i]) << i;
    EXPECT_EQ(got.frames[i].rtpTimestamp, i * 3000) << i;
    EXPECT_EQ(got.frames[i].keyframe, i % 10 == 0) << i;
  }
  EXPECT_EQ(assembler.waitingPackets(), 0u);
}

TEST(Vp8Depacketizer, ReorderedAndDuplicatedAcrossTheSequenceWrap) {
  for (unsigned seed = 0; seed < 20; ++seed) {
    auto stream = makeStream(60, 500, 65000);  // wraps about a third of the way through
    auto assembler = makeVp8Depacketizer();
    auto got = feed(assembler, jitter(stream.packets, 4, seed));
    ASSERT_EQ(got.frames.size(), stream.frames.size()) << "seed " << seed;
    EXPECT_EQ(got.framesLost, 0u);
    for (std::size_t i = 0; i < got.frames.size(); ++i) {
      ASSERT_EQ(got.frames[i].data, stream.frames[i]) << "seed " << seed << " frame " << i;
    }
    EXPECT_GT(assembler.stats().duplicatePackets + assembler.stats().latePackets, 0u);
  }
}

TEST(Vp8Depacketizer, AMissingPacketDropsOnlyItsFrameAndIsReported) {
  auto stream = makeStream(12, 1200, 10);
  // Find a multi-packet frame and lose its middle packet.
  std::size_t victim = 0;
  for (std::size_t i = 1; i + 1 < stream.packets.size(); ++i) {
    if (!stream.packets[i].marker &&
        stream.packets[i - 1].timestamp == stream.packets[i].timestamp) {
      victim = i;
      break;
    }
  }
  ASSERT_NE(victim, 0u);
  const std::uint32_t lostTimestamp = stream.packets[victim].timestamp;
  stream.packets.erase(stream.packets.begin() + static_cast<std::ptrdiff_t>(victim));
  auto assembler = makeVp8Depacketizer();
  auto got = feed(assembler, stream.packets);
  EXPECT_EQ(got.frames.size(), stream.frames.size() - 1);
  EXPECT_EQ(got.framesLost, 1u);
  for (const auto& frame : got.frames) EXPECT_NE(frame.rtpTimestamp, lostTimestamp);
}

TEST(Vp8Depacketizer, AFrameBehindAHoleWaitsUntilTheOwnerGivesUp) {
  std::vector<SentPacket> packets;
  Vp8Packetizer packetizer;
  std::uint16_t sequence = 0;
  appendFrame(packets, sequence, 0, packetizer.packetize(keyframe(2000, 1), 800));
  appendFrame(packets, sequence, 3000, packetizer.packetize(interframe(2000, 2), 800));
  appendFrame(packets, sequence, 6000, packetizer.packetize(interframe(100, 3), 800));
  ASSERT_EQ(packets.size(), 7u);
  auto assembler = makeVp8Depacketizer();
  auto first = feed(assembler, {packets[0], packets[1], packets[2]});
  ASSERT_EQ(first.frames.size(), 1u);
  // Frame 2 without its first packet (sequence 3): its other packets cannot be placed.
  auto second = feed(assembler, {packets[4], packets[5]});
  EXPECT_TRUE(second.frames.empty());
  auto third = feed(assembler, {packets[6]});
  EXPECT_TRUE(third.frames.empty()) << "complete, but sequence 3 may still come";
  EXPECT_EQ(third.framesLost, 0u);
  auto skipped = assembler.skipMissing();
  ASSERT_EQ(skipped.frames.size(), 1u);
  EXPECT_EQ(skipped.frames[0].rtpTimestamp, 6000u);
  EXPECT_EQ(skipped.framesLost, 1u);
  auto late = feed(assembler, {packets[3]});
  EXPECT_TRUE(late.frames.empty());
  EXPECT_EQ(assembler.stats().latePackets, 1u);
  EXPECT_EQ(assembler.waitingPackets(), 0u);
}

TEST(Vp8Depacketizer, AKeyframeBehindAHoleGoesOutAtOnce) {
  std::vector<SentPacket> packets;
  Vp8Packetizer packetizer;
  std::uint16_t sequence = 0;
  appendFrame(packets, sequence, 0, packetizer.packetize(keyframe(100, 1), 800));
  appendFrame(packets, sequence, 3000, packetizer.packetize(interframe(2000, 2), 800));
  appendFrame(packets, sequence, 6000, packetizer.packetize(keyframe(1000, 3), 800));
  ASSERT_EQ(packets.size(), 6u);
  auto assembler = makeVp8Depacketizer();
  auto got = feed(assembler, {packets[0], packets[2], packets[3], packets[4], packets[5]});
  ASSERT_EQ(got.frames.size(), 2u);
  EXPECT_TRUE(got.frames[1].keyframe);
  EXPECT_EQ(got.frames[1].rtpTimestamp, 6000u);
  EXPECT_EQ(got.framesLost, 1u);
}

TEST(Vp8Depacketizer, CompleteFramesPastTheReorderWindowGoOut) {
  std::vector<SentPacket> packets;
  Vp8Packetizer packetizer;
  std::uint16_t sequence = 0;
  appendFrame(packets, sequence, 0, packetizer.packetize(keyframe(100, 1), 800));
  appendFrame(packets, sequence, 3000, packetizer.packetize(interframe(2000, 2), 800));
  for (std::uint32_t i = 2; i < 30; ++i) {
    appendFrame(packets, sequence, i * 3000, packetizer.packetize(interframe(50, 2), 800));
  }
  packets.erase(packets.begin() + 1);
  auto assembler = makeVp8Depacketizer({.maxPackets = 512, .maxReorderPackets = 10});
  auto got = feed(assembler, packets);
  EXPECT_EQ(got.frames.size(), 29u) << "all but the frame that lost a packet";
  EXPECT_EQ(got.framesLost, 1u);
}

TEST(Vp8Depacketizer, JoiningMidStreamStartsAtTheNextFrame) {
  auto stream = makeStream(10, 300, 500);
  auto assembler = makeVp8Depacketizer();
  // Without the first packet (a keyframe) the rest are delta frames behind a hole; they wait
  // for the reorder window or the owner, then come out.
  auto got =
      feed(assembler, std::vector<SentPacket>(stream.packets.begin() + 1, stream.packets.end()));
  ASSERT_EQ(got.frames.size(), stream.frames.size() - 1);
  EXPECT_EQ(got.frames[0].data, stream.frames[1]);
}

TEST(Vp8Depacketizer, PaddingOnlyPacketsBetweenFramesAreNotLosses) {
  std::vector<SentPacket> packets;
  Vp8Packetizer packetizer;
  std::uint16_t sequence = 0;
  appendFrame(packets, sequence, 0, packetizer.packetize(keyframe(50, 1), 1200));
  packets.push_back({sequence++, 0, false, {}});
  packets.push_back({sequence++, 0, false, {}});
  appendFrame(packets, sequence, 3000, packetizer.packetize(interframe(50, 2), 1200));
  auto assembler = makeVp8Depacketizer();
  auto got = feed(assembler, {packets[0], packets[2], packets[1], packets[3]});
  ASSERT_EQ(got.frames.size(), 2u);
  EXPECT_EQ(got.framesLost, 0u);
}

TEST(Vp8Depacketizer, BoundedWhenMarkersNeverCome) {
  auto assembler = makeVp8Depacketizer({.maxPackets = 64, .maxFrameBytes = 1 << 20});
  const Bytes payload = bytes({0x00, 0x01, 0x02});  // continuation packets, never a start
  for (std::uint32_t i = 0; i < 10000; ++i) {
    assembler.push(static_cast<std::uint16_t>(i), i / 7, false, payload);
    ASSERT_LE(assembler.waitingPackets(), 64u);
  }
  EXPECT_GT(assembler.stats().framesLost, 0u);
}

TEST(Vp8Depacketizer, OversizedFramesAndInvalidPayloadsAreDropped) {
  auto assembler = makeVp8Depacketizer({.maxPackets = 512, .maxFrameBytes = 1000});
  Vp8Packetizer packetizer;
  std::vector<SentPacket> packets;
  std::uint16_t sequence = 0;
  appendFrame(packets, sequence, 0, packetizer.packetize(keyframe(5000, 1), 1200));
  appendFrame(packets, sequence, 3000, packetizer.packetize(interframe(500, 1), 1200));
  auto got = feed(assembler, packets);
  ASSERT_EQ(got.frames.size(), 1u);
  EXPECT_EQ(got.frames[0].rtpTimestamp, 3000u);
  EXPECT_EQ(got.framesLost, 1u);
  EXPECT_TRUE(assembler.push(100, 9000, true, bytes({0x90})).frames.empty());
  EXPECT_EQ(assembler.stats().invalidPackets, 1u);
}

TEST(Vp8Depacketizer, AHugeSequenceJumpDoesNotStall) {
  auto assembler = makeVp8Depacketizer();
  Vp8Packetizer packetizer;
  std::vector<SentPacket> packets;
  std::uint16_t sequence = 0;
  appendFrame(packets, sequence, 0, packetizer.packetize(keyframe(100, 1), 1200));
  sequence = 30000;
  appendFrame(packets, sequence, 3000, packetizer.packetize(keyframe(100, 2), 1200));
  auto got = feed(assembler, packets);
  EXPECT_EQ(got.frames.size(), 2u);
  EXPECT_GE(got.framesLost, 1u);
}

TEST(Vp8Depacketizer, RandomLossNeverYieldsAWrongFrame) {
  for (unsigned seed = 0; seed < 30; ++seed) {
    auto stream = makeStream(80, 700, static_cast<std::uint16_t>(seed * 2000));
    std::mt19937 random(seed);
    std::vector<SentPacket> delivered;
    std::set<std::uint32_t> damaged;
    for (const SentPacket& packet : stream.packets) {
      if (random() % 20 == 0) {
        damaged.insert(packet.timestamp);
      } else {
        delivered.push_back(packet);
      }
    }
    auto assembler = makeVp8Depacketizer();
    auto got = feed(assembler, jitter(delivered, 3, seed));
    for (auto skipped = assembler.skipMissing(); !skipped.frames.empty() || skipped.framesLost;
         skipped = assembler.skipMissing()) {
      got.framesLost += skipped.framesLost;
      for (auto& frame : skipped.frames) got.frames.push_back(std::move(frame));
    }
    std::optional<std::uint32_t> previous;
    for (const EncodedFrame& frame : got.frames) {
      const std::size_t index = frame.rtpTimestamp / 3000;
      ASSERT_LT(index, stream.frames.size());
      EXPECT_EQ(frame.data, stream.frames[index]) << "seed " << seed << " frame " << index;
      EXPECT_FALSE(damaged.contains(frame.rtpTimestamp)) << "a frame missing a packet came out";
      if (previous) {
        EXPECT_GT(frame.rtpTimestamp, *previous) << "frames in order";
      }
      previous = frame.rtpTimestamp;
    }
    if (!damaged.empty()) {
      EXPECT_GE(got.framesLost, 1u) << "seed " << seed;
    }
    EXPECT_GE(got.frames.size() * 10, (stream.frames.size() - damaged.size()) * 8)
        << "seed " << seed << ": most undamaged frames come out";
    // Only a tail whose marker was lost can still wait: nothing says it is over.
    EXPECT_LE(assembler.waitingPackets(), 8u);
  }
}

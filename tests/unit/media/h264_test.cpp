#include "media/h264.hpp"

#include <gtest/gtest.h>

#include "media_test_helpers.hpp"

using namespace trystero::media;
using namespace trystero::media::testing;

namespace {

// NAL units whose first byte after the header starts with a 1 bit: first_mb_in_slice = 0.
Bytes nal(std::uint8_t header, std::size_t size, std::uint8_t seed) {
  Bytes unit = patternBytes(size, header, seed);
  for (std::size_t i = 1; i < unit.size(); ++i) {
    if (unit[i] == 0) unit[i] = 0x55;  // no accidental start codes or trailing zeros
  }
  if (unit.size() > 1) unit[1] |= 0x80;
  return unit;
}

Bytes annexB(const std::vector<Bytes>& units) {
  Bytes out;
  for (const Bytes& unit : units) {
    appendBytes(out, bytes({0, 0, 0, 1}));
    appendBytes(out, unit);
  }
  return out;
}

Bytes keyframe(std::size_t idrSize, std::uint8_t seed) {
  return annexB({nal(0x67, 12, seed), nal(0x68, 4, seed), nal(0x65, idrSize, seed)});
}
Bytes deltaFrame(std::size_t size, std::uint8_t seed) { return annexB({nal(0x41, size, seed)}); }

}  // namespace

TEST(H264AnnexB, SplitsOnThreeAndFourByteStartCodes) {
  const Bytes stream = bytes({0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4});
  auto units = splitAnnexB(stream);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(Bytes(units[0].begin(), units[0].end()), bytes({0x67, 1, 2}));
  EXPECT_EQ(Bytes(units[1].begin(), units[1].end()), bytes({0x68, 3})) << "trailing zeros dropped";
  EXPECT_EQ(Bytes(units[2].begin(), units[2].end()), bytes({0x65, 4}));
  EXPECT_EQ(splitAnnexB(bytes({0x41, 7})).size(), 1u) << "no start code: one unit";
  EXPECT_TRUE(splitAnnexB({}).empty());
  EXPECT_TRUE(splitAnnexB(bytes({0, 0, 1, 0, 0, 1})).empty()) << "start codes around nothing";
}

TEST(H264Packetizer, ParameterSetsAggregateAndBigUnitsFragment) {
  const Bytes frame = keyframe(3000, 1);
  auto payloads = packetizeH264(frame, 1200);
  ASSERT_EQ(payloads.size(), 4u);
  EXPECT_EQ(payloads[0][0] & 0x1F, kH264StapA);
  EXPECT_EQ(payloads[0].size(), 1 + 2 + 12 + 2 + 4u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(payloads[i][0], 0x60 | kH264FuA) << "the IDR's NRI, FU-A type";
    EXPECT_EQ(payloads[i][1] & 0x1F, kH264NalIdr);
    EXPECT_EQ((payloads[i][1] & 0x80) != 0, i == 1) << "S only on the first";
    EXPECT_EQ((payloads[i][1] & 0x40) != 0, i == 3) << "E only on the last";
    EXPECT_LE(payloads[i].size(), 1200u);
  }
}

TEST(H264Packetizer, BoundarySizes) {
  const Bytes exact = annexB({nal(0x41, 1200, 1)});
  auto single = packetizeH264(exact, 1200);
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].size(), 1200u);
  EXPECT_EQ(single[0][0], 0x41) << "a single NAL unit packet is the unit itself";
  auto fragmented = packetizeH264(annexB({nal(0x41, 1201, 1)}), 1200);
  ASSERT_EQ(fragmented.size(), 2u);
  EXPECT_EQ(fragmented[0].size() + fragmented[1].size(), 2 * 2 + 1200u);
  auto tiny = packetizeH264(annexB({bytes({0x09})}), 1200);
  ASSERT_EQ(tiny.size(), 1u);
  EXPECT_EQ(tiny[0], bytes({0x09}));
  EXPECT_TRUE(packetizeH264({}, 1200).empty());
  EXPECT_TRUE(packetizeH264(exact, 2).empty());
  auto smallest = packetizeH264(annexB({nal(0x41, 4, 1)}), 3);
  EXPECT_EQ(smallest.size(), 3u) << "one byte per FU-A";
}

TEST(H264Packetizer, UnitsOverSixtyFourKibibytesAreNeverAggregated) {
  const Bytes big = nal(0x41, 70000, 1);
  const Bytes small = nal(0x41, 10, 2);
  for (const auto& units : {std::vector<Bytes>{big, small}, std::vector<Bytes>{small, big}}) {
    auto payloads = packetizeH264(annexB(units), 100000);
    ASSERT_EQ(payloads.size(), 2u);
    EXPECT_EQ(payloads[0], units[0]);
    EXPECT_EQ(payloads[1], units[1]);
  }
}

TEST(H264Depacketizer, StapAFromHandWrittenBytes) {
  // STAP-A (NRI 3) with SPS 67 42 and PPS 68 CE, then an IDR single unit ending the frame.
  auto assembler = makeH264Depacketizer();
  EXPECT_TRUE(assembler.push(1, 90, false, bytes({0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xCE}))
                  .frames.empty());
  auto result = assembler.push(2, 90, true, bytes({0x65, 0x88, 0x80}));
  ASSERT_EQ(result.frames.size(), 1u);
  EXPECT_EQ(result.frames[0].data,
            bytes({0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, 0x65, 0x88, 0x80}));
  EXPECT_TRUE(result.frames[0].keyframe);
  EXPECT_EQ(result.frames[0].rtpTimestamp, 90u);
}

TEST(H264Depacketizer, RoundTripThroughJitterKeepsEveryFrame) {
  for (unsigned seed = 0; seed < 10; ++seed) {
    std::vector<Bytes> frames;
    std::vector<SentPacket> packets;
    std::uint16_t sequence = 65530;
    for (std::uint32_t i = 0; i < 40; ++i) {
      frames.push_back(i % 15 == 0
                           ? keyframe(2500 + i, static_cast<std::uint8_t>(i))
                           : deltaFrame(1 + (i * 331) % 2000, static_cast<std::uint8_t>(i)));
      appendFrame(packets, sequence, i * 3000, packetizeH264(frames.back(), 1000));
    }
    auto assembler = makeH264Depacketizer();
    auto got = feed(assembler, jitter(packets, 3, seed));
    ASSERT_EQ(got.frames.size(), frames.size()) << "seed " << seed;
    EXPECT_EQ(got.framesLost, 0u);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(got.frames[i].data, frames[i]) << "seed " << seed << " frame " << i;
      EXPECT_EQ(got.frames[i].keyframe, i % 15 == 0);
    }
  }
}

TEST(H264Depacketizer, LostFragmentDropsTheFrame) {
  std::vector<SentPacket> packets;
  std::uint16_t sequence = 0;
  appendFrame(packets, sequence, 0, packetizeH264(keyframe(3000, 1), 1200));
  appendFrame(packets, sequence, 3000, packetizeH264(keyframe(3000, 2), 1200));
  ASSERT_EQ(packets.size(), 8u);
  packets.erase(packets.begin() + 2);  // a middle FU-A of the first frame
  auto assembler = makeH264Depacketizer();
  auto got = feed(assembler, packets);
  ASSERT_EQ(got.frames.size(), 1u);
  EXPECT_EQ(got.frames[0].rtpTimestamp, 3000u);
  EXPECT_EQ(got.framesLost, 1u);
}

TEST(H264Depacketizer, MalformedFragmentsAndAggregatesAreRejected) {
  H264Format format;
  EXPECT_FALSE(format.isValid(bytes({0x00, 1}))) << "type 0";
  for (int type : {25, 26, 27, 29, 30, 31}) EXPECT_FALSE(format.isValid(bytes({type, 0x85, 1})));
  EXPECT_FALSE(format.isValid(bytes({0xC1, 1}))) << "F bit set";
  EXPECT_FALSE(format.isValid(bytes({0x7C, 0xC5, 1}))) << "FU-A with S and E";
  EXPECT_FALSE(format.isValid(bytes({0x7C, 0x85}))) << "FU-A without a byte of the unit";
  EXPECT_FALSE(format.isValid(bytes({0x78, 0, 9, 0x67}))) << "STAP-A size past the end";
  EXPECT_FALSE(format.isValid(bytes({0x78, 0, 0, 0, 1, 0x67}))) << "STAP-A zero size";
  EXPECT_FALSE(format.isValid(bytes({0x78, 0, 1, 0x67, 0}))) << "a dangling size byte";
  EXPECT_FALSE(format.isValid(bytes({0x78}))) << "STAP-A with no units";

  Bytes middle = bytes({0x7C, 0x05, 1});
  Bytes end = bytes({0x7C, 0x45, 2});
  Bytes start = bytes({0x7C, 0x85, 3});
  Bytes single = bytes({0x41, 0x80});
  auto assemble = [&](std::vector<Bytes> payloads) {
    std::vector<ByteView> views(payloads.begin(), payloads.end());
    return format.assemble(views);
  };
  EXPECT_FALSE(assemble({middle, end})) << "no start";
  EXPECT_FALSE(assemble({start, middle})) << "no end";
  EXPECT_FALSE(assemble({start, start, end})) << "a start inside a unit";
  EXPECT_FALSE(assemble({start, single, end})) << "a unit inside a unit";
  auto good = assemble({start, middle, end});
  ASSERT_TRUE(good);
  EXPECT_EQ(good->data, bytes({0, 0, 0, 1, 0x65, 3, 1, 2}));
  EXPECT_TRUE(good->keyframe);
}

TEST(H264Depacketizer, FrameStartsFromTheSliceHeader) {
  H264Format format;
  EXPECT_TRUE(format.beginsFrame(bytes({0x41, 0x80})));
  EXPECT_FALSE(format.beginsFrame(bytes({0x41, 0x40}))) << "first_mb_in_slice is not 0";
  EXPECT_TRUE(format.beginsFrame(bytes({0x09, 0xF0}))) << "access unit delimiter";
  EXPECT_TRUE(format.beginsKeyframe(bytes({0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xCE})));
  EXPECT_TRUE(format.beginsKeyframe(bytes({0x7C, 0x85, 0x88})));
  EXPECT_FALSE(format.beginsFrame(bytes({0x7C, 0x05, 0x88}))) << "a middle fragment";
  EXPECT_FALSE(format.beginsKeyframe(bytes({0x41, 0x80})));
}

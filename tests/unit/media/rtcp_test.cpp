#include "media/rtcp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "media_test_helpers.hpp"

using namespace trystero::media;
using namespace trystero::media::testing;

namespace {

std::vector<RtcpPacket> roundTrip(const std::vector<RtcpPacket>& packets) {
  auto wire = serializeRtcpCompound(packets);
  EXPECT_TRUE(wire);
  if (!wire) return {};
  EXPECT_EQ(wire->size() % 4, 0u);
  auto back = parseRtcpCompound(*wire);
  EXPECT_TRUE(back);
  return back ? *back : std::vector<RtcpPacket>{};
}

ReportBlock sampleBlock(std::uint32_t ssrc) {
  return ReportBlock{.ssrc = ssrc,
                     .fractionLost = 25,
                     .cumulativeLost = -3,
                     .extendedHighestSequence = 0x00012345,
                     .jitter = 77,
                     .lastSenderReport = 0xAABBCCDD,
                     .delaySinceLastSenderReport = 65536};
}

}  // namespace

TEST(Rtcp, PliAndNackParseFromHandWrittenBytes) {
  // PLI (PT 206 FMT 1, length 2) then a NACK (PT 205 FMT 1, length 3) for 100 and 102, 116.
  const Bytes wire = bytes({0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2,  //
                            0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 100, 0x80, 0x02});
  auto packets = parseRtcpCompound(wire);
  ASSERT_TRUE(packets);
  ASSERT_EQ(packets->size(), 2u);
  EXPECT_EQ(std::get<PictureLossIndication>((*packets)[0]), (PictureLossIndication{1, 2}));
  const auto& nack = std::get<GenericNack>((*packets)[1]);
  EXPECT_EQ(nack.mediaSsrc, 2u);
  EXPECT_EQ(nack.lostSequenceNumbers(), (std::vector<std::uint16_t>{100, 102, 116}));
  EXPECT_EQ(serializeRtcpCompound(*packets), wire);
}

TEST(Rtcp, SenderReportWithBlocksAndSdesCnameRoundTrip) {
  SenderReport sr{.ssrc = 0x11223344,
                  .ntpTimestamp = 0xE1234567'89ABCDEFull,
                  .rtpTimestamp = 90000,
                  .packetCount = 10,
                  .octetCount = 12000,
                  .reports = {sampleBlock(5), sampleBlock(6)}};
  SourceDescription sdes{{{0x11223344, {{kSdesCname, "abcdefgh"}}}, {7, {}}}};
  auto back = roundTrip({sr, sdes});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(std::get<SenderReport>(back[0]), sr);
  EXPECT_EQ(std::get<SourceDescription>(back[1]), sdes);
  ASSERT_NE(std::get<SourceDescription>(back[1]).chunks[0].cname(), nullptr);
  EXPECT_EQ(*std::get<SourceDescription>(back[1]).chunks[0].cname(), "abcdefgh");
  EXPECT_EQ(std::get<SourceDescription>(back[1]).chunks[1].cname(), nullptr);
}

TEST(Rtcp, SdesCnameWordBoundaries) {
  // A CNAME of n bytes takes 4 (SSRC) + 2 + n + 1 (null) rounded up: check every residue.
  for (std::size_t n = 0; n <= 9; ++n) {
    SourceDescription sdes{{{1, {{kSdesCname, std::string(n, 'x')}}}}};
    auto wire = serializeRtcpCompound({sdes});
    ASSERT_TRUE(wire);
    EXPECT_EQ(wire->size(), 4 + (4 + 2 + n + 1 + 3) / 4 * 4) << n;
    auto back = parseRtcpCompound(*wire);
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(std::get<SourceDescription>((*back)[0]), sdes) << n;
  }
}

TEST(Rtcp, ReceiverReportNegativeLossAndEmptyReport) {
  ReceiverReport rr{.ssrc = 9, .reports = {sampleBlock(1)}};
  rr.reports[0].cumulativeLost = -0x800000;
  auto back = roundTrip({rr, ReceiverReport{.ssrc = 10, .reports = {}}});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(std::get<ReceiverReport>(back[0]), rr);
  EXPECT_TRUE(std::get<ReceiverReport>(back[1]).reports.empty());
  // An empty RR is exactly the 8 bytes RFC 3550 describes.
  EXPECT_EQ(serializeRtcpCompound({ReceiverReport{.ssrc = 10, .reports = {}}}),
            bytes({0x80, 201, 0, 1, 0, 0, 0, 10}));
}

TEST(Rtcp, MaximumReportBlocksAndTooMany) {
  ReceiverReport rr{.ssrc = 1, .reports = {}};
  for (std::uint32_t i = 0; i < 31; ++i) rr.reports.push_back(sampleBlock(i));
  auto back = roundTrip({rr});
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(std::get<ReceiverReport>(back[0]).reports.size(), 31u);
  rr.reports.push_back(sampleBlock(31));
  EXPECT_FALSE(serializeRtcpCompound({rr}));
}

TEST(Rtcp, ByeWithAndWithoutReason) {
  Goodbye bye{{1, 2, 3}, "leaving"};
  Goodbye bare{{4}, ""};
  auto back = roundTrip({bye, bare});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(std::get<Goodbye>(back[0]), bye);
  EXPECT_EQ(std::get<Goodbye>(back[1]), bare);
  EXPECT_FALSE(serializeRtcpCompound({Goodbye{{1}, std::string(256, 'r')}}));
}

TEST(Rtcp, FirEntriesRoundTripAndMediaSsrcIsZero) {
  FullIntraRequest fir{.senderSsrc = 1, .entries = {{0xABCD, 7}, {0x1234, 255}}};
  auto wire = serializeRtcpCompound({fir});
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->size(), 12 + 16u);
  EXPECT_EQ(readU32(*wire, 8), 0u);
  auto back = parseRtcpCompound(*wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<FullIntraRequest>((*back)[0]), fir);
}

TEST(Rtcp, NackFromLostPacksBitmasksAcrossTheWrap) {
  auto nack = GenericNack::fromLost(1, 2, {65534, 65535, 0, 15, 16, 40, 0});
  // 65534 covers 65535 and 0 (distances 1, 2); 15 is 17 away and starts a new entry.
  ASSERT_EQ(nack.entries.size(), 3u);
  EXPECT_EQ(nack.entries[0], (GenericNack::Entry{65534, 0b11}));
  EXPECT_EQ(nack.entries[1], (GenericNack::Entry{15, 0b1}));
  EXPECT_EQ(nack.entries[2], (GenericNack::Entry{40, 0}));
  EXPECT_EQ(nack.lostSequenceNumbers(), (std::vector<std::uint16_t>{65534, 65535, 0, 15, 16, 40}));
  auto back = roundTrip({nack});
  EXPECT_EQ(std::get<GenericNack>(back.at(0)), nack);
}

TEST(Rtcp, UnknownTypesAndFormatsAreKeptNotDropped) {
  // REMB is PSFB FMT 15; an APP packet is PT 204. Both pass through as unknown.
  const Bytes wire = bytes({0x8F, 206, 0, 2, 0,   0,   0,   1,  0, 0, 0, 0,  //
                            0x80, 204, 0, 1, 'n', 'a', 'm', 'e'});
  auto packets = parseRtcpCompound(wire);
  ASSERT_TRUE(packets);
  ASSERT_EQ(packets->size(), 2u);
  const auto& remb = std::get<UnknownRtcp>((*packets)[0]);
  EXPECT_EQ(remb.packetType, 206);
  EXPECT_EQ(remb.countOrFormat, 15);
  EXPECT_EQ(remb.body.size(), 8u);
  EXPECT_EQ(std::get<UnknownRtcp>((*packets)[1]).packetType, 204);
  EXPECT_EQ(serializeRtcpCompound(*packets), wire);
}

TEST(Rtcp, PaddingIsRemovedFromTheLastPacket) {
  // An RR with 4 bytes of padding: length 2 words after the header.
  const Bytes wire = bytes({0xA0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4});
  auto packets = parseRtcpCompound(wire);
  ASSERT_TRUE(packets);
  EXPECT_EQ(std::get<ReceiverReport>((*packets)[0]).ssrc, 9u);
}

TEST(Rtcp, MalformedLengthsRejectTheCompound) {
  const Bytes pli = bytes({0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2});
  EXPECT_FALSE(parseRtcpCompound({}));
  for (std::size_t n = 1; n < pli.size(); ++n) {
    EXPECT_FALSE(parseRtcpCompound(ByteView(pli).first(n))) << "truncated to " << n;
  }
  Bytes lengthPastEnd = pli;
  lengthPastEnd[3] = 3;
  EXPECT_FALSE(parseRtcpCompound(lengthPastEnd));
  Bytes hugeLength = pli;
  hugeLength[2] = 0xFF;
  hugeLength[3] = 0xFF;
  EXPECT_FALSE(parseRtcpCompound(hugeLength));
  Bytes trailingGarbage = pli;
  trailingGarbage.push_back(0x80);
  EXPECT_FALSE(parseRtcpCompound(trailingGarbage));
  Bytes wrongVersion = pli;
  wrongVersion[0] = 0x41;
  EXPECT_FALSE(parseRtcpCompound(wrongVersion));
  Bytes pliTooShort = bytes({0x81, 206, 0, 1, 0, 0, 0, 1});
  EXPECT_FALSE(parseRtcpCompound(pliTooShort));
  // An SR claiming 2 report blocks but carrying one.
  SenderReport sr{.ssrc = 1, .reports = {sampleBlock(2)}};
  Bytes srWire = *serializeRtcpCompound({sr});
  srWire[0] = 0x82;
  EXPECT_FALSE(parseRtcpCompound(srWire));
  // RR with a count of 31 and no blocks: the count must not be trusted to size anything.
  EXPECT_FALSE(parseRtcpCompound(bytes({0x9F, 201, 0, 1, 0, 0, 0, 1})));
  // Padding larger than the packet, and a padding count of 0.
  EXPECT_FALSE(parseRtcpCompound(bytes({0xA0, 201, 0, 1, 0, 0, 0, 9})));
  EXPECT_FALSE(parseRtcpCompound(bytes({0xA0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0})));
  // SDES: an item length past the end, and a chunk with no terminating null item.
  EXPECT_FALSE(parseRtcpCompound(bytes({0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 'a', 'b'})));
  EXPECT_FALSE(parseRtcpCompound(bytes({0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, 'a', 'b'})));
  EXPECT_FALSE(parseRtcpCompound(bytes({0x82, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0})))
      << "two chunks announced, one present";
  // BYE: a reason length past the end; NACK and FIR with a partial entry.
  EXPECT_FALSE(parseRtcpCompound(bytes({0x81, 203, 0, 2, 0, 0, 0, 1, 9, 'a', 'b', 'c'})));
  EXPECT_FALSE(parseRtcpCompound(bytes({0x82, 203, 0, 1, 0, 0, 0, 1})));
  EXPECT_FALSE(parseRtcpCompound(bytes({0xA1, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 2})));
  EXPECT_FALSE(parseRtcpCompound(bytes({0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5})));
}

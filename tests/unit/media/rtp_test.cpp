#include "media/rtp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "media_test_helpers.hpp"

using namespace trystero::media;
using namespace trystero::media::testing;

TEST(Rtp, ParsesAHandWrittenPacketFieldByField) {
  // V=2 P=0 X=0 CC=1, M=1 PT=96, seq 0x1234, ts 0xDEADBEEF, SSRC 0x01020304, CSRC 0x0A0B0C0D.
  const Bytes wire = bytes({0x81, 0xE0, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04,
                            0x0A, 0x0B, 0x0C, 0x0D, 0xAA, 0xBB});
  auto packet = parseRtp(wire);
  ASSERT_TRUE(packet);
  EXPECT_TRUE(packet->marker);
  EXPECT_EQ(packet->payloadType, 96);
  EXPECT_EQ(packet->sequenceNumber, 0x1234);
  EXPECT_EQ(packet->timestamp, 0xDEADBEEFu);
  EXPECT_EQ(packet->ssrc, 0x01020304u);
  EXPECT_EQ(packet->csrcs, std::vector<std::uint32_t>{0x0A0B0C0D});
  EXPECT_EQ(Bytes(packet->payload.begin(), packet->payload.end()), bytes({0xAA, 0xBB}));
  EXPECT_EQ(packet->payload.data(), wire.data() + 16);  // a view, not a copy
  EXPECT_EQ(serializeRtp(*packet), wire);
}

TEST(Rtp, OneByteExtensionsFromRfc8285WithPaddingAndStop) {
  // Profile 0xBEDE, 2 words: ID 1 len 1 (0x10 0x55), a padding byte, ID 2 len 2, then ID 15
  // (stop: the rest of the block is ignored even though it is not valid elements).
  const Bytes wire =
      bytes({0x90, 0x6F, 0x00, 0x01, 0,    0,    0,    0x10, 0,    0,    0,    0x01, 0xBE,
             0xDE, 0x00, 0x02, 0x10, 0x55, 0x00, 0x21, 0x66, 0x77, 0xF0, 0xFF, 0x42});
  auto packet = parseRtp(wire);
  ASSERT_TRUE(packet);
  ASSERT_EQ(packet->extensions.size(), 2u);
  EXPECT_EQ(packet->extensions[0].id, 1);
  EXPECT_EQ(Bytes(packet->extensions[0].data.begin(), packet->extensions[0].data.end()),
            bytes({0x55}));
  ASSERT_NE(packet->findExtension(2), nullptr);
  EXPECT_EQ(packet->findExtension(2)->data.size(), 2u);
  EXPECT_EQ(packet->findExtension(3), nullptr);
  EXPECT_EQ(Bytes(packet->payload.begin(), packet->payload.end()), bytes({0x42}));
  EXPECT_FALSE(packet->unknownExtensionProfile);
}

TEST(Rtp, TwoByteExtensionsCarryEmptyAndLongElements) {
  const Bytes long20(20, 0x5A);
  RtpPacket packet;
  packet.payloadType = 100;
  packet.extensions = {{1, long20}, {200, {}}};
  auto wire = serializeRtp(packet);
  ASSERT_TRUE(wire);
  EXPECT_EQ(readU16(*wire, 12), kTwoByteExtensionProfile);
  auto back = parseRtp(*wire);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->extensions.size(), 2u);
  EXPECT_EQ(back->extensions[0].data.size(), 20u);
  EXPECT_EQ(back->extensions[1].id, 200);
  EXPECT_TRUE(back->extensions[1].data.empty());
  EXPECT_TRUE(back->payload.empty());
}

TEST(Rtp, ShortElementsWithSmallIdsUseTheOneByteForm) {
  const Bytes sixteen(16, 1);
  RtpPacket packet;
  packet.extensions = {{14, sixteen}};
  auto wire = serializeRtp(packet);
  ASSERT_TRUE(wire);
  EXPECT_EQ(readU16(*wire, 12), kOneByteExtensionProfile);
  EXPECT_EQ(readU16(*wire, 14), 5);  // 1 + 16 bytes, padded to 5 words
  auto back = parseRtp(*wire);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->extensions.size(), 1u);
  EXPECT_EQ(back->extensions[0].data.size(), 16u);
}

TEST(Rtp, UnknownExtensionProfileIsKeptWhole) {
  const Bytes block = bytes({1, 2, 3, 4});
  RtpPacket packet;
  packet.unknownExtensionProfile = 0x1234;
  packet.unknownExtensionData = block;
  auto wire = serializeRtp(packet);
  ASSERT_TRUE(wire);
  auto back = parseRtp(*wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->unknownExtensionProfile, 0x1234);
  EXPECT_EQ(Bytes(back->unknownExtensionData.begin(), back->unknownExtensionData.end()), block);
  EXPECT_TRUE(back->extensions.empty());
}

TEST(Rtp, MaximumCsrcsAndPaddingRoundTrip) {
  const Bytes payload(1200, 0x33);
  RtpPacket packet;
  packet.marker = true;
  packet.payloadType = 127;
  packet.sequenceNumber = 65535;
  packet.timestamp = 0xFFFFFFFF;
  packet.ssrc = 7;
  for (std::uint32_t i = 0; i < kRtpMaxCsrcs; ++i) packet.csrcs.push_back(i * 1000);
  packet.payload = payload;
  packet.paddingSize = 255;
  auto wire = serializeRtp(packet);
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->size(), 12 + 15 * 4 + 1200 + 255u);
  EXPECT_EQ(wire->back(), 255);
  auto back = parseRtp(*wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->csrcs, packet.csrcs);
  EXPECT_EQ(back->paddingSize, 255);
  EXPECT_EQ(back->payload.size(), 1200u);
  EXPECT_EQ(back->sequenceNumber, 65535);

  packet.csrcs.push_back(99);
  EXPECT_FALSE(serializeRtp(packet)) << "16 CSRCs do not fit the 4-bit count";
}

TEST(Rtp, SerializeRejectsWhatTheWireCannotCarry) {
  const Bytes tooLong(256, 0);
  RtpPacket packet;
  packet.payloadType = 128;
  EXPECT_FALSE(serializeRtp(packet));
  packet.payloadType = 0;
  packet.extensions = {{0, ByteView(tooLong).first(1)}};
  EXPECT_FALSE(serializeRtp(packet)) << "ID 0 is padding";
  packet.extensions = {{1, tooLong}};
  EXPECT_FALSE(serializeRtp(packet));
  packet.extensions = {{1, ByteView(tooLong).first(2)}};
  packet.unknownExtensionProfile = 0x1111;
  EXPECT_FALSE(serializeRtp(packet)) << "only one extension block per packet";
}

TEST(Rtp, HeaderOnlyPacketHasAnEmptyPayload) {
  const Bytes wire = bytes({0x80, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3});
  auto packet = parseRtp(wire);
  ASSERT_TRUE(packet);
  EXPECT_TRUE(packet->payload.empty());
}

TEST(Rtp, PaddingCanConsumeTheWholePayload) {
  // Padding-only packets (bandwidth probes) are legal: 4 bytes of padding, no payload.
  const Bytes wire = bytes({0xA0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4});
  auto packet = parseRtp(wire);
  ASSERT_TRUE(packet);
  EXPECT_TRUE(packet->payload.empty());
  EXPECT_EQ(packet->paddingSize, 4);
}

TEST(Rtp, HostileInputIsRejected) {
  const Bytes valid = bytes({0x80, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 9, 9, 9, 9});
  for (std::size_t n = 0; n < kRtpFixedHeaderSize; ++n) {
    EXPECT_FALSE(parseRtp(ByteView(valid).first(n))) << "truncated to " << n;
  }
  Bytes wrongVersion = valid;
  wrongVersion[0] = 0x40;
  EXPECT_FALSE(parseRtp(wrongVersion));

  Bytes csrcPastEnd = valid;
  csrcPastEnd[0] = 0x82;  // two CSRCs, room for one
  EXPECT_FALSE(parseRtp(csrcPastEnd));

  Bytes paddingZero = valid;
  paddingZero[0] = 0xA0;
  paddingZero.back() = 0;
  EXPECT_FALSE(parseRtp(paddingZero)) << "a padding count of 0 is impossible";

  Bytes paddingPastPayload = valid;
  paddingPastPayload[0] = 0xA0;
  paddingPastPayload.back() = 5;  // 4 bytes after the header
  EXPECT_FALSE(parseRtp(paddingPastPayload));

  Bytes extensionPastEnd = valid;
  extensionPastEnd[0] = 0x90;
  extensionPastEnd.insert(extensionPastEnd.begin() + 12, {0xBE, 0xDE, 0xFF, 0xFF});
  EXPECT_FALSE(parseRtp(extensionPastEnd));

  Bytes extensionHeaderCut = bytes({0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE});
  EXPECT_FALSE(parseRtp(extensionHeaderCut));

  // An element whose length runs past its block (ID 1, 16 bytes, in a 1-word block).
  Bytes elementPastBlock =
      bytes({0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0,  1,  0x1F,
             0,    0,    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,   11,   12, 13, 14});
  EXPECT_FALSE(parseRtp(elementPastBlock));
  Bytes twoBytePastBlock = bytes({0x90, 0x60, 0,    1, 0, 0, 0, 2, 0, 0, 0, 3, 0x10, 0x00, 0,
                                  1,    0x01, 0x09, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,    9});
  EXPECT_FALSE(parseRtp(twoBytePastBlock));
  Bytes twoByteLengthCut =
      bytes({0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0x10, 0x00, 0, 1, 0, 0, 0, 0x07});
  EXPECT_FALSE(parseRtp(twoByteLengthCut)) << "an ID with no room for its length byte";
}

TEST(SequenceUnwrapper, ForwardBackwardAndAcrossTheWrap) {
  SequenceUnwrapper unwrapper;
  EXPECT_EQ(unwrapper.unwrap(65534), 65534);
  EXPECT_EQ(unwrapper.unwrap(65535), 65535);
  EXPECT_EQ(unwrapper.unwrap(0), 65536);
  EXPECT_EQ(unwrapper.unwrap(65533), 65533) << "a late packet from before the wrap";
  EXPECT_EQ(unwrapper.unwrap(2), 65538);
  EXPECT_EQ(unwrapper.unwrap(32769), 65536 + 32769) << "a jump of 2^15 - 1 is forward";
  for (int cycle = 0; cycle < 3; ++cycle) {
    for (std::uint32_t s = 0; s < 65536; s += 1000) unwrapper.unwrap(static_cast<std::uint16_t>(s));
  }
  EXPECT_EQ(unwrapper.unwrap(5), 5 * 65536 + 5);
}

TEST(SequenceUnwrapper, FirstValueIsItsOwnAndEarlierOnesGoNegative) {
  SequenceUnwrapper unwrapper;
  EXPECT_EQ(unwrapper.unwrap(1), 1);
  EXPECT_EQ(unwrapper.unwrap(65535), -1);
}

TEST(RtpDemux, SecondByteRangeSeparatesRtcpFromRtp) {
  EXPECT_EQ(classifyRtpOrRtcp(bytes({0x80, 200, 0, 6})), RtpKind::kRtcp);  // SR
  EXPECT_EQ(classifyRtpOrRtcp(bytes({0x81, 206, 0, 2})), RtpKind::kRtcp);  // PSFB
  EXPECT_EQ(classifyRtpOrRtcp(bytes({0x80, 192, 0, 0})), RtpKind::kRtcp);
  EXPECT_EQ(classifyRtpOrRtcp(bytes({0x80, 223, 0, 0})), RtpKind::kRtcp);
  Bytes rtp = bytes({0x80, 0xE0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3});  // marker + PT 96
  EXPECT_EQ(classifyRtpOrRtcp(rtp), RtpKind::kRtp);
  rtp[1] = 0xBF;  // marker + PT 63
  EXPECT_EQ(classifyRtpOrRtcp(rtp), RtpKind::kRtp);
  rtp[1] = 224;  // marker + PT 96 boundary on the other side
  EXPECT_EQ(classifyRtpOrRtcp(rtp), RtpKind::kRtp);
  EXPECT_EQ(classifyRtpOrRtcp(ByteView(rtp).first(11)), RtpKind::kNeither);
  EXPECT_EQ(classifyRtpOrRtcp(bytes({0x80})), RtpKind::kNeither);
  EXPECT_EQ(classifyRtpOrRtcp(bytes({0x16, 0xFE, 0xFD})), RtpKind::kNeither) << "a DTLS record";
}

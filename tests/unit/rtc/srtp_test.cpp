// SrtpSession on both DTLS-SRTP profiles: what one end protects the other end (keyed from the
// same material, with the other DTLS role) unprotects byte for byte, for RTP and RTCP; forged,
// corrupted, replayed, foreign-keyed and malformed packets are refused and counted.
#include "rtc/srtp/srtp_session.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

using trystero::rtc::srtpKeyingMaterialLength;
using trystero::rtc::SrtpProfile;
using trystero::rtc::SrtpSession;
using Error = SrtpSession::Error;

namespace {

std::vector<std::uint8_t> material(SrtpProfile profile, std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(srtpKeyingMaterialLength(profile));
  std::iota(bytes.begin(), bytes.end(), seed);
  return bytes;
}

struct Pair {
  std::unique_ptr<SrtpSession> client, server;
};

Pair pair(SrtpProfile profile, std::uint8_t seed = 1) {
  auto keys = material(profile, seed);
  std::string error;
  Pair p{SrtpSession::fromDtls(profile, keys, true, &error),
         SrtpSession::fromDtls(profile, keys, false, &error)};
  EXPECT_TRUE(p.client && p.server) << error;
  return p;
}

std::vector<std::uint8_t> rtp(std::uint16_t sequence, std::size_t payload = 100) {
  std::vector<std::uint8_t> packet = {0x80,
                                      111,
                                      static_cast<std::uint8_t>(sequence >> 8),
                                      static_cast<std::uint8_t>(sequence),
                                      0,
                                      0,
                                      3,
                                      0xc0,
                                      0x12,
                                      0x34,
                                      0x56,
                                      0x78};
  for (std::size_t i = 0; i < payload; ++i) packet.push_back(static_cast<std::uint8_t>(i * 7));
  return packet;
}

// A receiver report with no report blocks (RFC 3550 6.4.2).
std::vector<std::uint8_t> rtcp() { return {0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78}; }

class SrtpTest : public ::testing::TestWithParam<SrtpProfile> {};

}  // namespace

TEST_P(SrtpTest, RtpGoesBothWaysByteExact) {
  auto [client, server] = pair(GetParam());
  for (std::uint16_t sequence = 65530; sequence != 10; ++sequence) {  // across the wrap
    auto plain = rtp(sequence);
    auto packet = plain;
    ASSERT_EQ(client->protectRtp(packet), Error::None);
    EXPECT_GT(packet.size(), plain.size());
    EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 12, packet.begin()));  // header clear
    ASSERT_EQ(server->unprotectRtp(packet), Error::None);
    EXPECT_EQ(packet, plain);
    packet = plain;
    ASSERT_EQ(server->protectRtp(packet), Error::None);
    ASSERT_EQ(client->unprotectRtp(packet), Error::None);
    EXPECT_EQ(packet, plain);
  }
  EXPECT_EQ(server->stats().unprotectedPackets, 16u);
  EXPECT_EQ(client->profile(), GetParam());
}

TEST_P(SrtpTest, RtcpGoesBothWaysByteExact) {
  auto [client, server] = pair(GetParam());
  for (int i = 0; i < 3; ++i) {
    auto packet = rtcp();
    ASSERT_EQ(server->protectRtcp(packet), Error::None);
    ASSERT_EQ(client->unprotectRtcp(packet), Error::None);
    EXPECT_EQ(packet, rtcp());
  }
}

TEST_P(SrtpTest, CorruptedForgedAndForeignPacketsFailAuthentication) {
  auto [client, server] = pair(GetParam());
  auto packet = rtp(1);
  ASSERT_EQ(client->protectRtp(packet), Error::None);
  for (std::size_t at : {std::size_t{20}, packet.size() - 1}) {
    auto corrupted = packet;
    corrupted[at] ^= 0x01;
    EXPECT_EQ(server->unprotectRtp(corrupted), Error::Authentication) << at;
  }
  auto plainAsIfProtected = rtp(2, 120);
  EXPECT_EQ(server->unprotectRtp(plainAsIfProtected), Error::Authentication);
  auto other = pair(GetParam(), 99);
  auto foreign = rtp(3);
  ASSERT_EQ(other.client->protectRtp(foreign), Error::None);
  EXPECT_EQ(server->unprotectRtp(foreign), Error::Authentication);
  EXPECT_EQ(server->stats().authenticationFailures, 4u);
  // The genuine packet still passes after all that.
  EXPECT_EQ(server->unprotectRtp(packet), Error::None);
}

TEST_P(SrtpTest, AReplayIsRefused) {
  auto [client, server] = pair(GetParam());
  auto packet = rtp(7);
  ASSERT_EQ(client->protectRtp(packet), Error::None);
  auto copy = packet;
  ASSERT_EQ(server->unprotectRtp(packet), Error::None);
  EXPECT_EQ(server->unprotectRtp(copy), Error::Replay);
  EXPECT_EQ(server->stats().replays, 1u);
  // We may send a packet again (a retransmission) without an error on our side.
  auto again = rtp(7);
  EXPECT_EQ(client->protectRtp(again), Error::None);
}

TEST_P(SrtpTest, MalformedPacketsAreRefusedWithoutTouchingMemoryBeyondThem) {
  auto [client, server] = pair(GetParam());
  for (std::size_t size : {0u, 1u, 7u, 11u}) {
    std::vector<std::uint8_t> shortPacket(size, 0x80);
    EXPECT_EQ(server->unprotectRtp(shortPacket), Error::Malformed) << size;
    EXPECT_EQ(client->protectRtp(shortPacket), Error::Malformed) << size;
  }
  std::vector<std::uint8_t> tooShortRtcp(7, 0x80);
  EXPECT_EQ(server->unprotectRtcp(tooShortRtcp), Error::Malformed);
  std::vector<std::uint8_t> huge(70000, 0x80);
  EXPECT_EQ(server->unprotectRtp(huge), Error::Malformed);
  // A header claiming 15 CSRCs and an extension it does not have.
  std::vector<std::uint8_t> lying = {0x9f, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xde, 0xad};
  EXPECT_NE(server->unprotectRtp(lying), Error::None);
  EXPECT_NE(client->protectRtp(lying), Error::None);
}

TEST(Srtp, WrongKeyingMaterialLengthIsAClearError) {
  std::vector<std::uint8_t> keys(59, 1);
  std::string error;
  EXPECT_EQ(SrtpSession::fromDtls(SrtpProfile::Aes128CmSha1_80, keys, true, &error), nullptr);
  EXPECT_NE(error.find("expected 60"), std::string::npos) << error;
  EXPECT_EQ(srtpKeyingMaterialLength(SrtpProfile::AeadAes128Gcm), 56u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, SrtpTest,
                         ::testing::Values(SrtpProfile::AeadAes128Gcm,
                                           SrtpProfile::Aes128CmSha1_80),
                         [](const auto& info) {
                           return info.param == SrtpProfile::AeadAes128Gcm ? "AeadAes128Gcm"
                                                                           : "Aes128CmSha1_80";
                         });

#include "trystero/codecs.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace trystero::codecs {
namespace {

// BT.601 studio range: red, green, blue and white, one per quadrant.
constexpr std::uint8_t kQuadrants[4][3] = {
    {81, 90, 240}, {145, 54, 34}, {41, 240, 110}, {235, 128, 128}};

I420Picture quadrants(int width, int height) {
  auto picture = I420Picture::filled(width, height, 0, 0, 0);
  const int cw = (width + 1) / 2;
  for (int row = 0; row < height; ++row) {
    for (int col = 0; col < width; ++col) {
      const auto& c = kQuadrants[(row >= height / 2) * 2 + (col >= width / 2)];
      picture.y[static_cast<std::size_t>(row) * width + col] = c[0];
      picture.u[static_cast<std::size_t>(row / 2) * cw + col / 2] = c[1];
      picture.v[static_cast<std::size_t>(row / 2) * cw + col / 2] = c[2];
    }
  }
  return picture;
}

// The middle half of each quadrant, away from the edges a lossy codec blurs.
void expectQuadrants(const I420Picture& picture, double tolerance) {
  const int qw = picture.width / 2, qh = picture.height / 2;
  for (int q = 0; q < 4; ++q) {
    const auto mean = picture.mean((q % 2) * qw + qw / 4, (q / 2) * qh + qh / 4, qw / 2, qh / 2);
    EXPECT_NEAR(mean.y, kQuadrants[q][0], tolerance) << "quadrant " << q;
    EXPECT_NEAR(mean.u, kQuadrants[q][1], tolerance) << "quadrant " << q;
    EXPECT_NEAR(mean.v, kQuadrants[q][2], tolerance) << "quadrant " << q;
  }
}

TEST(Vp8Codec, APictureEncodedIsDecodedAsItWasWithKeyframesWhenAsked) {
  Vp8Encoder encoder(
      {.width = 160, .height = 120, .kilobitsPerSecond = 500, .framesPerSecond = 30});
  Vp8Decoder decoder;
  const auto picture = quadrants(160, 120);
  std::vector<bool> keyframes;
  for (int i = 0; i < 12; ++i) {
    if (i == 8) encoder.requestKeyframe();
    auto frame = encoder.encode(picture, 1000 + static_cast<std::uint32_t>(i) * 3000);
    ASSERT_TRUE(frame) << i;
    EXPECT_EQ(frame->rtpTimestamp, 1000u + i * 3000u);
    keyframes.push_back(frame->keyframe);
    auto decoded = decoder.decode(*frame);
    ASSERT_TRUE(decoded) << i;
    EXPECT_EQ(decoded->width, 160);
    EXPECT_EQ(decoded->height, 120);
    expectQuadrants(*decoded, 6);
  }
  EXPECT_TRUE(keyframes[0]);
  EXPECT_TRUE(keyframes[8]);
  EXPECT_EQ(std::count(keyframes.begin(), keyframes.end(), true), 2);
  EXPECT_EQ(decoder.framesDecoded(), 12u);
  EXPECT_FALSE(encoder.encode(quadrants(320, 240), 99999));  // not the configured size
}

TEST(Vp8Codec, TheDecoderRefusesDamageAndFramesBeforeAKeyframe) {
  Vp8Encoder encoder({.width = 64, .height = 48});
  std::vector<MediaFrame> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(*encoder.encode(quadrants(64, 48), i * 3000u));
  Vp8Decoder decoder;
  EXPECT_FALSE(decoder.decode(frames[1]));  // an interframe with nothing to refer to
  MediaFrame garbage;
  garbage.data.assign(300, 0xA5);
  EXPECT_FALSE(decoder.decode(garbage));
  EXPECT_FALSE(decoder.decode(MediaFrame{}));
  EXPECT_TRUE(decoder.decode(frames[0]));  // and it recovers at the keyframe
  EXPECT_TRUE(decoder.decode(frames[1]));
  EXPECT_GE(decoder.framesFailed(), 2u);
  EXPECT_THROW(Vp8Encoder({.width = 0, .height = 48}), std::invalid_argument);
}

TEST(OpusCodec, AToneEncodedIsDecodedWithItsEnergyAndDamageIsRefused) {
  OpusEncoder encoder(1, 32000);
  OpusDecoder decoder(1);
  std::vector<std::int16_t> tone(OpusEncoder::kSamplesPerPacket);
  double energyIn = 0, energyOut = 0;
  std::size_t samplesOut = 0;
  for (int packet = 0; packet < 25; ++packet) {
    for (int i = 0; i < OpusEncoder::kSamplesPerPacket; ++i) {
      const double t = (packet * OpusEncoder::kSamplesPerPacket + i) / 48000.0;
      tone[i] = static_cast<std::int16_t>(8000 * std::sin(2 * std::numbers::pi * 440 * t));
    }
    auto frame = encoder.encode(tone, static_cast<std::uint32_t>(packet) * 960);
    ASSERT_TRUE(frame);
    EXPECT_TRUE(frame->keyframe);
    EXPECT_LT(frame->data.size(), 200u);
    const auto decoded = decoder.decode(*frame);
    ASSERT_EQ(decoded.size(), 960u);
    if (packet < 5) continue;  // the codec's start-up delay
    for (auto s : tone) energyIn += double(s) * s;
    for (auto s : decoded) energyOut += double(s) * s;
    samplesOut += decoded.size();
  }
  EXPECT_EQ(samplesOut, 20u * 960);
  EXPECT_NEAR(energyOut / energyIn, 1.0, 0.25);
  EXPECT_FALSE(encoder.encode(std::vector<std::int16_t>(100), 0));  // not 20 ms

  MediaFrame damaged;
  damaged.data = {0x03, 0x00};  // code 3 with no frames: invalid (RFC 6716 3.2.5)
  EXPECT_TRUE(decoder.decode(damaged).empty());
  EXPECT_TRUE(decoder.decode(MediaFrame{}).empty());
  EXPECT_THROW(OpusEncoder(3), std::invalid_argument);
}

}  // namespace
}  // namespace trystero::codecs

#include "media/ivf.hpp"

#include <gtest/gtest.h>

#include <sstream>

using namespace trystero::media;

namespace {

std::string asString(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

Bytes asBytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

std::string writeFile(const std::vector<Bytes>& frames) {
  std::stringstream out;
  IvfWriter writer(out, IvfHeader{.width = 640, .height = 480});
  for (std::size_t i = 0; i < frames.size(); ++i) EXPECT_TRUE(writer.write(frames[i], i * 3000));
  EXPECT_TRUE(writer.finish());
  return out.str();
}

}  // namespace

TEST(Ivf, HeaderBytesAreLibvpxs) {
  const Bytes header = writeIvfHeader(IvfHeader{.width = 0x0280,
                                                .height = 0x01E0,
                                                .timebaseDenominator = 30,
                                                .timebaseNumerator = 1,
                                                .frameCount = 2});
  const Bytes expected = {'D', 'K',  'I',  'F',  0,    0,  32, 0, 'V', 'P', '8',
                          '0', 0x80, 0x02, 0xE0, 0x01, 30, 0,  0, 0,   1,   0,
                          0,   0,    2,    0,    0,    0,  0,  0, 0,   0};
  EXPECT_EQ(header, expected);
  auto parsed = parseIvfHeader(header);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first.width, 640);
  EXPECT_EQ(parsed->first.frameCount, 2u);
  EXPECT_EQ(parsed->second, 32u);
}

TEST(Ivf, WriteThenReadFramesAndCount) {
  std::vector<Bytes> frames = {Bytes{0x10}, Bytes(5000, 0x11), Bytes{}, Bytes(3, 0x12)};
  const std::string file = writeFile(frames);
  EXPECT_EQ(file.size(), 32 + 4 * 12 + 1 + 5000 + 0 + 3u);
  std::istringstream in(file);
  IvfReader reader(in);
  ASSERT_TRUE(reader.header());
  EXPECT_EQ(reader.header()->frameCount, 4u) << "finish() rewrote the count";
  EXPECT_EQ(reader.header()->height, 480);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto frame = reader.next();
    ASSERT_TRUE(frame) << i;
    EXPECT_EQ(frame->data, frames[i]);
    EXPECT_EQ(frame->timestamp, i * 3000);
  }
  EXPECT_FALSE(reader.next());
  EXPECT_FALSE(reader.failed());
}

TEST(Ivf, LongerHeaderIsSkipped) {
  Bytes file = writeIvfHeader(IvfHeader{});
  file[6] = 40;
  file.insert(file.end(), 8, 0xEE);
  Bytes frame = {1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0x42};
  file.insert(file.end(), frame.begin(), frame.end());
  std::istringstream in(asString(file));
  IvfReader reader(in);
  auto read = reader.next();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->timestamp, 7u);
  EXPECT_EQ(read->data, Bytes{0x42});
}

TEST(Ivf, HostileFilesFailWithoutHugeAllocations) {
  const std::string good = writeFile({Bytes(100, 1), Bytes(100, 2)});
  for (std::size_t cut : {0ul, 10ul, 31ul}) {
    std::istringstream in(good.substr(0, cut));
    IvfReader reader(in);
    EXPECT_FALSE(reader.header()) << cut;
    EXPECT_TRUE(reader.failed());
    EXPECT_FALSE(reader.next());
  }
  for (std::size_t cut : {33ul, 43ul, 44ul, 143ul}) {
    std::istringstream in(good.substr(0, cut));
    IvfReader reader(in);
    ASSERT_TRUE(reader.header());
    EXPECT_FALSE(reader.next()) << "truncated at " << cut;
    EXPECT_TRUE(reader.failed());
  }
  Bytes badMagic = asBytes(good);
  badMagic[0] = 'X';
  std::istringstream badMagicIn(asString(badMagic));
  EXPECT_FALSE(IvfReader(badMagicIn).header());
  Bytes tinyHeaderSize = asBytes(good);
  tinyHeaderSize[6] = 12;
  std::istringstream tinyIn(asString(tinyHeaderSize));
  EXPECT_FALSE(IvfReader(tinyIn).header());

  Bytes absurd = asBytes(good);
  absurd[32] = 0xFF;
  absurd[33] = 0xFF;
  absurd[34] = 0xFF;
  absurd[35] = 0xFF;  // 4 GiB frame
  std::istringstream absurdIn(asString(absurd));
  IvfReader reader(absurdIn, 1 << 20);
  EXPECT_FALSE(reader.next());
  EXPECT_TRUE(reader.failed());
}

#include "media/ogg_opus.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>

#include "media/opus.hpp"

using namespace trystero::media;

namespace {

// A 20 ms CELT packet (TOC 0xFC: config 31, stereo, one frame) of the given size.
Bytes opusPacket(std::size_t size, std::uint8_t seed) {
  Bytes packet(size, seed);
  packet[0] = 0xFC;
  return packet;
}

struct Page {
  std::uint8_t flags = 0;
  std::uint64_t granule = 0;
  std::uint32_t sequence = 0;
  std::size_t segments = 0;
  std::size_t size = 0;
};

std::vector<Page> pagesOf(const std::string& file) {
  std::vector<Page> pages;
  const ByteView bytes(reinterpret_cast<const std::uint8_t*>(file.data()), file.size());
  std::size_t at = 0;
  while (at + 27 <= bytes.size()) {
    Page page{bytes[at + 5], readU64Le(bytes, at + 6), readU32Le(bytes, at + 18), bytes[at + 26],
              0};
    std::size_t data = 0;
    for (std::size_t i = 0; i < page.segments; ++i) data += bytes[at + 27 + i];
    page.size = 27 + page.segments + data;
    pages.push_back(page);
    at += page.size;
  }
  EXPECT_EQ(at, bytes.size()) << "pages tile the file";
  return pages;
}

std::string writeFile(const std::vector<Bytes>& packets, OpusHead head = {}) {
  std::ostringstream out;
  OggOpusWriter writer(out, head, "test vendor");
  for (const Bytes& packet : packets) EXPECT_TRUE(writer.write(packet));
  EXPECT_TRUE(writer.finish());
  return out.str();
}

}  // namespace

TEST(OggCrc, MatchesTheCheckValueOfThisCrcVariant) {
  // CRC-32/POSIX ("123456789" -> 0x765E7680) is this CRC with its output inverted.
  const std::string check = "123456789";
  EXPECT_EQ(oggCrc(ByteView(reinterpret_cast<const std::uint8_t*>(check.data()), check.size())),
            0x765E7680u ^ 0xFFFFFFFFu);
  EXPECT_EQ(oggCrc({}), 0u);
}

TEST(OggOpus, HeaderPagesFollowRfc7845) {
  const std::string file = writeFile({opusPacket(100, 1)});
  auto pages = pagesOf(file);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].flags, 0x02) << "beginning of stream";
  EXPECT_EQ(pages[0].granule, 0u);
  EXPECT_EQ(pages[0].segments, 1u);
  EXPECT_EQ(pages[0].size, 27 + 1 + 19u) << "OpusHead alone on the first page";
  EXPECT_EQ(file.substr(28, 8), "OpusHead");
  EXPECT_EQ(pages[1].flags, 0);
  EXPECT_EQ(pages[1].granule, 0u);
  EXPECT_EQ(file.substr(pages[0].size + 28, 8), "OpusTags");
  EXPECT_EQ(pages[2].flags, 0x04) << "end of stream on the last";
  EXPECT_EQ(pages[2].granule, 960u);
  for (std::uint32_t i = 0; i < pages.size(); ++i) EXPECT_EQ(pages[i].sequence, i);
}

TEST(OggOpus, WriteThenReadPacketsGranulesAndHead) {
  std::vector<Bytes> packets;
  for (std::size_t i = 0; i < 500; ++i) packets.push_back(opusPacket(1 + (i * 37) % 700, i & 0xFF));
  packets[10] = opusPacket(1, 0);    // a 1-byte packet (the TOC alone)
  packets[20] = opusPacket(255, 0);  // lacing boundaries: 255 needs a trailing 0 segment
  packets[21] = opusPacket(510, 0);
  const OpusHead head{.channels = 1, .preSkip = 3840, .inputSampleRate = 16000, .outputGain = -256};
  const std::string file = writeFile(packets, head);

  auto pages = pagesOf(file);
  std::uint64_t lastGranule = 0;
  for (std::size_t i = 2; i < pages.size(); ++i) {
    EXPECT_LE(pages[i].segments, 255u);
    EXPECT_GE(pages[i].granule, lastGranule) << "granules never go back";
    lastGranule = pages[i].granule;
  }
  EXPECT_EQ(pages.back().granule, 500 * 960u);
  EXPECT_GT(pages.size(), 10u) << "audio spread over pages of a few KiB";

  std::istringstream in(file);
  OggOpusReader reader(in);
  ASSERT_TRUE(reader.head());
  EXPECT_EQ(*reader.head(), head);
  EXPECT_EQ(reader.vendor(), "test vendor");
  for (std::size_t i = 0; i < packets.size(); ++i) {
    auto packet = reader.next();
    ASSERT_TRUE(packet) << i;
    ASSERT_EQ(*packet, packets[i]) << i;
  }
  EXPECT_FALSE(reader.next());
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(reader.granulePosition(), 500 * 960);
}

TEST(OggOpus, WriterRefusesWhatItCannotTime) {
  std::ostringstream out;
  OggOpusWriter writer(out, OpusHead{});
  EXPECT_FALSE(writer.write({}));
  EXPECT_FALSE(writer.write(Bytes{0xFB})) << "code 3 without a frame count";
  EXPECT_TRUE(writer.write(Bytes{0xFB, 0x03}));
  EXPECT_EQ(writer.granulePosition(), 2880u);
  EXPECT_TRUE(writer.finish());
  EXPECT_FALSE(writer.write(Bytes{0xFC})) << "nothing after the end of stream";
  std::ostringstream surround;
  EXPECT_FALSE(OggOpusWriter(surround, OpusHead{.channels = 6, .mappingFamily = 1}).ok());
}

TEST(OggOpus, ReadsPacketsSpanningPages) {
  // Hand-laced: a 600-byte audio packet split 255+255 | 90 over two pages, as other muxers do.
  std::ostringstream headers;
  OggOpusWriter writer(headers, OpusHead{});
  std::string file = headers.str();  // the two header pages only
  auto page = [&](std::uint8_t flags, std::uint32_t sequence, std::uint64_t granule,
                  const Bytes& lacing, const Bytes& data) {
    Bytes p = {'O', 'g', 'g', 'S', 0, flags};
    appendU64Le(p, granule);
    appendU32Le(p, 0x7472);
    appendU32Le(p, sequence);
    appendU32Le(p, 0);
    appendU8(p, static_cast<std::uint8_t>(lacing.size()));
    appendBytes(p, lacing);
    appendBytes(p, data);
    const std::uint32_t crc = oggCrc(p);
    for (int i = 0; i < 4; ++i) p[22 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    file.append(p.begin(), p.end());
  };
  const Bytes big = opusPacket(600, 9);
  page(0, 2, ~0ull, {255, 255}, Bytes(big.begin(), big.begin() + 510));  // no packet ends: -1
  page(0x05, 3, 960, {90}, Bytes(big.begin() + 510, big.end()));
  std::istringstream in(file);
  OggOpusReader reader(in);
  ASSERT_TRUE(reader.head());
  auto packet = reader.next();
  ASSERT_TRUE(packet);
  EXPECT_EQ(*packet, big);
  EXPECT_EQ(reader.granulePosition(), 960);
  EXPECT_FALSE(reader.next());
  EXPECT_FALSE(reader.failed());
}

TEST(OggOpus, DamagedFilesFailBounded) {
  const std::string good = writeFile({opusPacket(300, 1), opusPacket(300, 2)});
  auto readAll = [](const std::string& file, OggOpusReader::Limits limits = {}) {
    std::istringstream in(file);
    OggOpusReader reader(in, limits);
    std::size_t packets = 0;
    while (reader.next()) ++packets;
    return std::pair{reader.failed(), packets};
  };
  EXPECT_EQ(readAll(good), (std::pair{false, std::size_t{2}}));
  for (std::size_t cut = 0; cut < good.size(); cut += 7) {
    auto [failed, packets] = readAll(good.substr(0, cut));
    EXPECT_TRUE(failed || packets < 2) << "cut at " << cut;
  }
  std::string flipped = good;
  flipped[good.size() - 5] ^= 0x01;
  EXPECT_TRUE(readAll(flipped).first) << "the checksum catches a flipped bit";
  std::string badMagic = good;
  badMagic[0] = 'X';
  EXPECT_TRUE(readAll(badMagic).first);
  std::string notOpus = good;
  notOpus[28] = 'X';  // "XpusHead" (the checksum is checked first, so fix it up)
  {
    Bytes page(notOpus.begin(), notOpus.begin() + 47);
    std::memset(page.data() + 22, 0, 4);
    const std::uint32_t crc = oggCrc(page);
    for (int i = 0; i < 4; ++i) notOpus[22 + i] = static_cast<char>(crc >> (8 * i));
  }
  EXPECT_TRUE(readAll(notOpus).first);
  EXPECT_TRUE(readAll(good, {.maxPacketSize = 100}).first) << "a packet over the limit";
}

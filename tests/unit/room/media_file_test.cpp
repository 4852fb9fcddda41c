#include "trystero/media_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "media/ivf.hpp"
#include "media/ogg_opus.hpp"

namespace trystero {
namespace {

std::filesystem::path scratchFile(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("trystero-media-file-" + std::to_string(::getpid()) + "-" + name);
}

// A VP8 frame: a keyframe carries the start code and the picture size (RFC 6386 9.1).
MediaFrame vp8Frame(bool keyframe, std::uint32_t timestamp, std::size_t size = 300) {
  MediaFrame frame;
  frame.data.assign(size, 0x42);
  frame.data[0] = keyframe ? 0x10 : 0x11;
  if (keyframe) {
    const std::uint8_t header[] = {0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00};  // 320x240
    std::copy(std::begin(header), std::end(header), frame.data.begin() + 3);
  }
  frame.keyframe = keyframe;
  frame.rtpTimestamp = timestamp;
  return frame;
}

TEST(MediaFileWriter, Vp8GoesToIvfFromTheFirstKeyframeWithItsSizeAndTimeline) {
  const auto path = scratchFile("video.ivf");
  {
    MediaFileWriter writer(path.string(), "VP8");
    EXPECT_TRUE(writer.write(vp8Frame(false, 1000)));  // nothing could decode it: skipped
    EXPECT_TRUE(writer.write(vp8Frame(true, 4000)));
    EXPECT_TRUE(writer.write(vp8Frame(false, 7000)));
    EXPECT_TRUE(writer.write(vp8Frame(false, 10000)));
    EXPECT_EQ(writer.framesWritten(), 3u);
    EXPECT_EQ(writer.framesSkipped(), 1u);
  }  // the destructor completes the file
  std::ifstream in(path, std::ios::binary);
  media::IvfReader reader(in);
  ASSERT_TRUE(reader.header());
  EXPECT_EQ(reader.header()->width, 320);
  EXPECT_EQ(reader.header()->height, 240);
  EXPECT_EQ(reader.header()->frameCount, 3u);
  std::vector<std::uint64_t> timestamps;
  while (auto frame = reader.next()) timestamps.push_back(frame->timestamp);
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(timestamps, (std::vector<std::uint64_t>{0, 3000, 6000}));
  std::filesystem::remove(path);
}

TEST(MediaFileWriter, OpusGoesToOggOpusAndOtherCodecsAreRefused) {
  const auto path = scratchFile("audio.ogg");
  MediaFileWriter writer(path.string(), "opus");
  for (int i = 0; i < 60; ++i) {
    MediaFrame packet;
    packet.data.assign(80, static_cast<std::uint8_t>(i));
    packet.data[0] = 0xFC;  // TOC: CELT 20 ms, one frame
    packet.keyframe = true;
    EXPECT_TRUE(writer.write(packet));
  }
  EXPECT_TRUE(writer.finish());
  EXPECT_FALSE(writer.write(MediaFrame{}));  // finished
  std::ifstream in(path, std::ios::binary);
  media::OggOpusReader reader(in);
  int packets = 0;
  while (reader.next()) packets++;
  ASSERT_TRUE(reader.head());
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(packets, 60);
  EXPECT_EQ(reader.granulePosition(), 60 * 960);
  std::filesystem::remove(path);

  EXPECT_EQ(MediaFileWriter::extensionFor("vp8"), ".ivf");
  EXPECT_EQ(MediaFileWriter::extensionFor("H264"), ".h264");
  EXPECT_EQ(MediaFileWriter::extensionFor("AV1"), "");
  EXPECT_THROW(MediaFileWriter(scratchFile("x").string(), "AV1"), std::invalid_argument);
  EXPECT_THROW(MediaFileWriter("/nonexistent-dir/x.ivf", "VP8"), std::runtime_error);
}

}  // namespace
}  // namespace trystero

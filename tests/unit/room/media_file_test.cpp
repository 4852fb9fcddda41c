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

// What MediaFileWriter records, MediaFileReader gives back as a LocalTrack sends it: the frames,
// keyframe flags, times from the file's start and RTP timestamps in the codec's clock.
TEST(MediaFileReader, ReadsBackWhatTheWriterRecordedWithTimesAndRewinds) {
  const auto video = scratchFile("back.ivf");
  const auto audio = scratchFile("back.ogg");
  {
    MediaFileWriter ivf(video.string(), "VP8");
    for (int i = 0; i < 5; ++i) ivf.write(vp8Frame(i % 4 == 0, 90000 + i * 3000, 100 + i));
    MediaFileWriter ogg(audio.string(), "opus");
    for (int i = 0; i < 3; ++i) {
      MediaFrame packet;
      packet.data.assign(40, 0x11);
      packet.data[0] = 0xFC;  // CELT 20 ms
      ogg.write(packet);
    }
  }
  MediaFileReader videoReader(video.string());
  EXPECT_EQ(videoReader.codec(), "VP8");
  EXPECT_EQ(videoReader.kind(), "video");
  EXPECT_EQ(videoReader.clockRate(), 90000u);
  EXPECT_EQ(videoReader.width(), 320);
  EXPECT_EQ(videoReader.height(), 240);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<MediaFileReader::Frame> frames;
    while (auto frame = videoReader.next()) frames.push_back(std::move(*frame));
    EXPECT_FALSE(videoReader.failed());
    ASSERT_EQ(frames.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(frames[i].frame.data, vp8Frame(i % 4 == 0, 0, 100 + i).data);
      EXPECT_EQ(frames[i].frame.keyframe, i % 4 == 0);
      EXPECT_EQ(frames[i].frame.rtpTimestamp, static_cast<std::uint32_t>(i * 3000));
      EXPECT_EQ(frames[i].time, std::chrono::microseconds((i * 100000 + 1) / 3));
    }
    videoReader.rewind();
  }

  MediaFileReader audioReader(audio.string());
  EXPECT_EQ(audioReader.codec(), "opus");
  EXPECT_EQ(audioReader.kind(), "audio");
  EXPECT_EQ(audioReader.clockRate(), 48000u);
  std::vector<std::pair<std::uint32_t, std::int64_t>> times;
  while (auto packet = audioReader.next()) {
    EXPECT_EQ(packet->frame.data.size(), 40u);
    EXPECT_TRUE(packet->frame.keyframe);
    times.emplace_back(packet->frame.rtpTimestamp, packet->time.count());
  }
  EXPECT_FALSE(audioReader.failed());
  EXPECT_EQ(times, (std::vector<std::pair<std::uint32_t, std::int64_t>>{
                       {0, 0}, {960, 20000}, {1920, 40000}}));
  std::filesystem::remove(video);
  std::filesystem::remove(audio);
}

TEST(MediaFileReader, RefusesWhatIsNotAFileOfItsFormatsAndStopsAtDamage) {
  const auto path = scratchFile("damaged");
  std::ofstream(path, std::ios::binary) << "not a media file at all";
  EXPECT_THROW(MediaFileReader(path.string()), std::runtime_error);
  EXPECT_THROW(MediaFileReader("/nonexistent-dir/x.ivf"), std::runtime_error);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    media::IvfHeader header;
    header.fourcc = {'V', 'P', '9', '0'};
    const auto bytes = media::writeIvfHeader(header);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  EXPECT_THROW(MediaFileReader(path.string()), std::runtime_error);  // VP9 is not sent here

  // A recording cut off in the middle of its second frame: the first frame, then failed().
  {
    MediaFileWriter writer(path.string(), "VP8");
    writer.write(vp8Frame(true, 0, 500));
    writer.write(vp8Frame(false, 3000, 500));
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  MediaFileReader reader(path.string());
  EXPECT_TRUE(reader.next());
  EXPECT_FALSE(reader.next());
  EXPECT_TRUE(reader.failed());
  reader.rewind();  // a loop starts over cleanly
  EXPECT_FALSE(reader.failed());
  EXPECT_TRUE(reader.next());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace trystero

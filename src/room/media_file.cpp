#include "trystero/media_file.hpp"

#include <array>
#include <cmath>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "media/ivf.hpp"
#include "media/ogg_opus.hpp"
#include "media/opus.hpp"
#include "media/vp8.hpp"
#include "rtc/sdp/sdp_text.hpp"

namespace trystero {

namespace {

enum class Container { kIvf, kOgg, kAnnexB };

std::optional<Container> containerFor(const std::string& codec) {
  using rtc::sdp::text::equalsIgnoreCase;
  if (equalsIgnoreCase(codec, "VP8")) return Container::kIvf;
  if (equalsIgnoreCase(codec, "opus")) return Container::kOgg;
  if (equalsIgnoreCase(codec, "H264")) return Container::kAnnexB;
  return std::nullopt;
}

// RFC 6386 section 9.1: a keyframe's start code, then 14-bit width and height.
std::optional<std::pair<std::uint16_t, std::uint16_t>> vp8Size(const Bytes& frame) {
  if (frame.size() < 10 || (frame[0] & 1) != 0) return std::nullopt;
  if (frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a) return std::nullopt;
  return std::pair<std::uint16_t, std::uint16_t>((frame[6] | (frame[7] << 8)) & 0x3fff,
                                                 (frame[8] | (frame[9] << 8)) & 0x3fff);
}

}  // namespace

struct MediaFileWriter::Impl {
  Container container;
  std::ofstream out;
  std::optional<media::IvfWriter> ivf;  // from the first keyframe, which gives the size
  std::optional<media::OggOpusWriter> ogg;
  std::optional<std::uint32_t> firstTimestamp;
  std::uint64_t written = 0, skipped = 0;
  bool finished = false;
};

std::string MediaFileWriter::extensionFor(const std::string& codec) {
  switch (containerFor(codec).value_or(Container::kAnnexB)) {
    case Container::kIvf:
      return ".ivf";
    case Container::kOgg:
      return ".ogg";
    case Container::kAnnexB:
      return containerFor(codec) ? ".h264" : "";
  }
  return "";
}

MediaFileWriter::MediaFileWriter(const std::string& path, const std::string& codec)
    : impl_(std::make_unique<Impl>()) {
  auto container = containerFor(codec);
  if (!container) {
    throw std::invalid_argument("trystero: no file format for codec '" + codec +
                                "' (VP8, opus or H264)");
  }
  impl_->container = *container;
  impl_->out.open(path, std::ios::binary | std::ios::trunc);
  if (!impl_->out) throw std::runtime_error("trystero: cannot write " + path);
  if (impl_->container == Container::kOgg) impl_->ogg.emplace(impl_->out, media::OpusHead{});
}

MediaFileWriter::~MediaFileWriter() { finish(); }

bool MediaFileWriter::write(const MediaFrame& frame) {
  auto& impl = *impl_;
  if (impl.finished) return false;
  const media::ByteView data(frame.data.data(), frame.data.size());
  bool ok = false;
  switch (impl.container) {
    case Container::kIvf: {
      if (!impl.ivf) {
        auto size = frame.keyframe ? vp8Size(frame.data) : std::nullopt;
        if (!size) {
          impl.skipped++;
          return true;
        }
        media::IvfHeader header;
        header.width = size->first;
        header.height = size->second;
        impl.ivf.emplace(impl.out, header);
      }
      if (!impl.firstTimestamp) impl.firstTimestamp = frame.rtpTimestamp;
      ok = impl.ivf->write(data, frame.rtpTimestamp - *impl.firstTimestamp);
      break;
    }
    case Container::kOgg:
      ok = impl.ogg->write(data);
      break;
    case Container::kAnnexB:
      if (!impl.written && !frame.keyframe) {
        impl.skipped++;
        return true;
      }
      impl.out.write(reinterpret_cast<const char*>(data.data()),
                     static_cast<std::streamsize>(data.size()));
      ok = static_cast<bool>(impl.out);
      break;
  }
  if (ok) impl.written++;
  return ok;
}

bool MediaFileWriter::finish() {
  auto& impl = *impl_;
  if (impl.finished) return static_cast<bool>(impl.out);
  impl.finished = true;
  bool ok = true;
  if (impl.ivf) ok = impl.ivf->finish();
  if (impl.ogg) ok = impl.ogg->finish() && ok;
  impl.out.close();
  return ok && !impl.out.fail();
}

std::uint64_t MediaFileWriter::framesWritten() const { return impl_->written; }
std::uint64_t MediaFileWriter::framesSkipped() const { return impl_->skipped; }

struct MediaFileReader::Impl {
  std::string path;
  std::ifstream in;
  Container container = Container::kIvf;
  std::string codec, kind;
  std::uint32_t clockRate = 0;
  std::uint16_t width = 0, height = 0;
  std::optional<media::IvfReader> ivf;
  std::optional<media::OggOpusReader> ogg;
  std::uint64_t samples = 0;  // Ogg: 48 kHz samples before the next packet
  bool failed = false;

  // Positions the reader before the first frame; false when the headers do not read.
  bool open() {
    in.clear();
    in.seekg(0);
    ivf.reset();
    ogg.reset();
    samples = 0;
    failed = false;
    if (container == Container::kIvf) {
      ivf.emplace(in);
      const auto& header = ivf->header();
      if (!header || header->fourcc != std::array<char, 4>{'V', 'P', '8', '0'} ||
          header->timebaseDenominator == 0 || header->timebaseNumerator == 0) {
        return false;
      }
      width = header->width;
      height = header->height;
      return true;
    }
    ogg.emplace(in);
    return ogg->head().has_value();
  }
};

MediaFileReader::MediaFileReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  auto& impl = *impl_;
  impl.path = path;
  impl.in.open(path, std::ios::binary);
  if (!impl.in) throw std::runtime_error("trystero: cannot read " + path);
  char magic[4] = {};
  impl.in.read(magic, sizeof magic);
  const std::string_view kind(magic, impl.in ? sizeof magic : 0);
  if (kind == "DKIF") {
    impl.container = Container::kIvf;
    impl.codec = "VP8";
    impl.kind = "video";
    impl.clockRate = 90000;
  } else if (kind == "OggS") {
    impl.container = Container::kOgg;
    impl.codec = "opus";
    impl.kind = "audio";
    impl.clockRate = 48000;
  } else {
    throw std::runtime_error("trystero: " + path + " is neither IVF nor Ogg");
  }
  if (!impl.open()) {
    throw std::runtime_error(
        "trystero: " + path +
        (impl.container == Container::kIvf ? " is not IVF with VP8" : " is not Ogg Opus"));
  }
}

MediaFileReader::~MediaFileReader() = default;

const std::string& MediaFileReader::codec() const { return impl_->codec; }
const std::string& MediaFileReader::kind() const { return impl_->kind; }
std::uint32_t MediaFileReader::clockRate() const { return impl_->clockRate; }
std::uint16_t MediaFileReader::width() const { return impl_->width; }
std::uint16_t MediaFileReader::height() const { return impl_->height; }
bool MediaFileReader::failed() const { return impl_->failed; }
void MediaFileReader::rewind() { impl_->failed = !impl_->open(); }

std::optional<MediaFileReader::Frame> MediaFileReader::next() {
  auto& impl = *impl_;
  if (impl.failed) return std::nullopt;
  Frame out;
  if (impl.ivf) {
    auto frame = impl.ivf->next();
    if (!frame) {
      impl.failed = impl.ivf->failed();
      return std::nullopt;
    }
    // Seconds are timestamp * numerator / denominator; long double keeps hours exact enough.
    const auto& header = *impl.ivf->header();
    const long double seconds = static_cast<long double>(frame->timestamp) *
                                header.timebaseNumerator / header.timebaseDenominator;
    out.time = std::chrono::microseconds(std::llroundl(seconds * 1e6L));
    out.frame.rtpTimestamp = static_cast<std::uint32_t>(std::llroundl(seconds * impl.clockRate));
    out.frame.keyframe = media::isVp8Keyframe(frame->data);
    out.frame.data = std::move(frame->data);
    return out;
  }
  auto packet = impl.ogg->next();
  if (!packet) {
    impl.failed = impl.ogg->failed();
    return std::nullopt;
  }
  auto samples = media::opusPacketSamples(*packet);
  if (!samples) {
    impl.failed = true;
    return std::nullopt;
  }
  out.time = std::chrono::microseconds(impl.samples * 1000000 / impl.clockRate);
  out.frame.rtpTimestamp = static_cast<std::uint32_t>(impl.samples);
  out.frame.keyframe = true;
  out.frame.data = std::move(*packet);
  impl.samples += *samples;
  return out;
}

}  // namespace trystero

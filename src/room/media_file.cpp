#include "trystero/media_file.hpp"

#include <fstream>
#include <optional>
#include <stdexcept>

#include "media/ivf.hpp"
#include "media/ogg_opus.hpp"
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

}  // namespace trystero

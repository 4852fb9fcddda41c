// IVF files (libvpx's container for VP8/VP9): a 32-byte file header, then frames each behind a
// 12-byte header (little-endian size and 64-bit timestamp in the header's timebase).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>

#include "media/byte_io.hpp"

namespace trystero::media {

inline constexpr std::size_t kIvfFileHeaderSize = 32;
inline constexpr std::size_t kIvfFrameHeaderSize = 12;

struct IvfHeader {
  std::array<char, 4> fourcc{'V', 'P', '8', '0'};
  std::uint16_t width = 0;
  std::uint16_t height = 0;
  // Timestamps count timebaseNumerator / timebaseDenominator seconds: 1/90000 matches RTP video.
  std::uint32_t timebaseDenominator = 90000;
  std::uint32_t timebaseNumerator = 1;
  std::uint32_t frameCount = 0;
  bool operator==(const IvfHeader&) const = default;
};

struct IvfFrame {
  std::uint64_t timestamp = 0;
  Bytes data;
};

Bytes writeIvfHeader(const IvfHeader& header);
// The header and how many bytes it takes (the length field may announce more than 32).
std::optional<std::pair<IvfHeader, std::size_t>> parseIvfHeader(ByteView data);

class IvfReader {
 public:
  // Frames larger than maxFrameSize end the reading as an error instead of being allocated.
  explicit IvfReader(std::istream& in, std::size_t maxFrameSize = 16 * 1024 * 1024);
  // Nullopt when the file is not IVF.
  const std::optional<IvfHeader>& header() const { return header_; }
  // The next frame; nullopt at the end or on a truncated or oversized frame (then failed()).
  std::optional<IvfFrame> next();
  bool failed() const { return failed_; }

 private:
  std::istream& in_;
  std::size_t maxFrameSize_;
  std::optional<IvfHeader> header_;
  bool failed_ = false;
};

class IvfWriter {
 public:
  // Writes the header at once; frameCount is filled in by finish() on a seekable stream.
  IvfWriter(std::ostream& out, IvfHeader header);
  bool write(ByteView frame, std::uint64_t timestamp);
  bool finish();
  std::uint32_t framesWritten() const { return header_.frameCount; }

 private:
  std::ostream& out_;
  IvfHeader header_;
  std::streamoff start_ = 0;
};

}  // namespace trystero::media

#include "media/ivf.hpp"

#include <cstring>
#include <istream>
#include <ostream>

namespace trystero::media {

namespace {

constexpr char kMagic[4] = {'D', 'K', 'I', 'F'};
// Writers put 32 here; a larger value means fields this reader skips, within reason.
constexpr std::size_t kMaxHeaderSize = 1024;

bool readExactly(std::istream& in, std::uint8_t* into, std::size_t size) {
  in.read(reinterpret_cast<char*>(into), static_cast<std::streamsize>(size));
  return static_cast<std::size_t>(in.gcount()) == size;
}

}  // namespace

Bytes writeIvfHeader(const IvfHeader& header) {
  Bytes out(kMagic, kMagic + 4);
  appendU16Le(out, 0);  // version
  appendU16Le(out, kIvfFileHeaderSize);
  out.insert(out.end(), header.fourcc.begin(), header.fourcc.end());
  appendU16Le(out, header.width);
  appendU16Le(out, header.height);
  appendU32Le(out, header.timebaseDenominator);
  appendU32Le(out, header.timebaseNumerator);
  appendU32Le(out, header.frameCount);
  appendU32Le(out, 0);
  return out;
}

std::optional<std::pair<IvfHeader, std::size_t>> parseIvfHeader(ByteView data) {
  if (data.size() < kIvfFileHeaderSize || std::memcmp(data.data(), kMagic, 4) != 0) {
    return std::nullopt;
  }
  const std::size_t size = readU16Le(data, 6);
  if (size < kIvfFileHeaderSize || size > kMaxHeaderSize) return std::nullopt;
  IvfHeader header;
  std::memcpy(header.fourcc.data(), data.data() + 8, 4);
  header.width = readU16Le(data, 12);
  header.height = readU16Le(data, 14);
  header.timebaseDenominator = readU32Le(data, 16);
  header.timebaseNumerator = readU32Le(data, 20);
  header.frameCount = readU32Le(data, 24);
  return std::pair{header, size};
}

IvfReader::IvfReader(std::istream& in, std::size_t maxFrameSize)
    : in_(in), maxFrameSize_(maxFrameSize) {
  std::uint8_t fixed[kIvfFileHeaderSize];
  if (!readExactly(in_, fixed, sizeof fixed)) {
    failed_ = true;
    return;
  }
  auto parsed = parseIvfHeader(fixed);
  if (!parsed) {
    failed_ = true;
    return;
  }
  in_.ignore(static_cast<std::streamsize>(parsed->second - kIvfFileHeaderSize));
  if (!in_) {
    failed_ = true;
    return;
  }
  header_ = parsed->first;
}

std::optional<IvfFrame> IvfReader::next() {
  if (failed_ || !header_) return std::nullopt;
  std::uint8_t frameHeader[kIvfFrameHeaderSize];
  in_.read(reinterpret_cast<char*>(frameHeader), sizeof frameHeader);
  if (in_.gcount() == 0 && in_.eof()) return std::nullopt;  // a clean end
  if (static_cast<std::size_t>(in_.gcount()) != sizeof frameHeader) {
    failed_ = true;
    return std::nullopt;
  }
  const std::size_t size = readU32Le(frameHeader, 0);
  if (size > maxFrameSize_) {
    failed_ = true;
    return std::nullopt;
  }
  IvfFrame frame{readU64Le(frameHeader, 4), Bytes(size)};
  if (!readExactly(in_, frame.data.data(), size)) {
    failed_ = true;
    return std::nullopt;
  }
  return frame;
}

IvfWriter::IvfWriter(std::ostream& out, IvfHeader header) : out_(out), header_(header) {
  header_.frameCount = 0;
  start_ = out_.tellp();
  const Bytes bytes = writeIvfHeader(header_);
  out_.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

bool IvfWriter::write(ByteView frame, std::uint64_t timestamp) {
  if (frame.size() > UINT32_MAX) return false;
  Bytes frameHeader;
  appendU32Le(frameHeader, static_cast<std::uint32_t>(frame.size()));
  appendU64Le(frameHeader, timestamp);
  out_.write(reinterpret_cast<const char*>(frameHeader.data()), kIvfFrameHeaderSize);
  out_.write(reinterpret_cast<const char*>(frame.data()),
             static_cast<std::streamsize>(frame.size()));
  if (!out_) return false;
  ++header_.frameCount;
  return true;
}

bool IvfWriter::finish() {
  if (!out_) return false;
  if (start_ < 0) return true;  // not seekable (a pipe): the count stays 0, as players allow
  const std::streamoff end = out_.tellp();
  const Bytes bytes = writeIvfHeader(header_);
  out_.seekp(start_);
  out_.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  out_.seekp(end);
  out_.flush();
  return static_cast<bool>(out_);
}

}  // namespace trystero::media

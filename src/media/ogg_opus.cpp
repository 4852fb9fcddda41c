#include "media/ogg_opus.hpp"

#include <array>
#include <cstring>
#include <istream>
#include <ostream>

#include "media/opus.hpp"

namespace trystero::media {

namespace {

constexpr std::size_t kPageHeaderSize = 27;
constexpr std::uint8_t kContinued = 0x01;
constexpr std::uint8_t kBeginningOfStream = 0x02;
constexpr std::uint8_t kEndOfStream = 0x04;
constexpr std::size_t kMaxSegments = 255;
// Pages of about 4 KiB, as libogg makes them: few enough headers, short enough to stream.
constexpr std::size_t kPageDataTarget = 4096;
// A packet laced into at most 255 segments on one page: the writer never continues packets.
constexpr std::size_t kMaxWrittenPacket = 255 * 254 + 254;

const std::array<std::uint32_t, 256>& crcTable() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t r = i << 24;
      for (int bit = 0; bit < 8; ++bit) r = (r & 0x80000000u) ? (r << 1) ^ 0x04C11DB7u : r << 1;
      t[i] = r;
    }
    return t;
  }();
  return table;
}

Bytes opusHeadPacket(const OpusHead& head) {
  Bytes out = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, head.channels};
  appendU16Le(out, head.preSkip);
  appendU32Le(out, head.inputSampleRate);
  appendU16Le(out, static_cast<std::uint16_t>(head.outputGain));
  appendU8(out, head.mappingFamily);
  return out;
}

Bytes opusTagsPacket(const std::string& vendor) {
  Bytes out = {'O', 'p', 'u', 's', 'T', 'a', 'g', 's'};
  appendU32Le(out, static_cast<std::uint32_t>(vendor.size()));
  out.insert(out.end(), vendor.begin(), vendor.end());
  appendU32Le(out, 0);  // no user comments
  return out;
}

std::optional<OpusHead> parseOpusHead(ByteView packet) {
  if (packet.size() < 19 || std::memcmp(packet.data(), "OpusHead", 8) != 0) return std::nullopt;
  if (packet[8] >> 4 != 0) return std::nullopt;  // RFC 7845 5.1: major version 0 only
  OpusHead head{packet[9], readU16Le(packet, 10), readU32Le(packet, 12),
                static_cast<std::int16_t>(readU16Le(packet, 16)), packet[18]};
  if (head.channels == 0) return std::nullopt;
  if (head.mappingFamily == 0 && head.channels > 2) return std::nullopt;
  if (head.mappingFamily != 0 && packet.size() < 21u + head.channels) return std::nullopt;
  return head;
}

std::optional<std::string> parseOpusTagsVendor(ByteView packet) {
  if (packet.size() < 16 || std::memcmp(packet.data(), "OpusTags", 8) != 0) return std::nullopt;
  const std::size_t length = readU32Le(packet, 8);
  if (length > packet.size() - 16) return std::nullopt;  // and the comment count after it
  return std::string(reinterpret_cast<const char*>(packet.data()) + 12, length);
}

}  // namespace

std::uint32_t oggCrc(ByteView data) {
  std::uint32_t crc = 0;
  for (std::uint8_t byte : data) crc = (crc << 8) ^ crcTable()[(crc >> 24) ^ byte];
  return crc;
}

OggOpusWriter::OggOpusWriter(std::ostream& out, OpusHead head, std::string vendor,
                             std::uint32_t serial)
    : out_(out), serial_(serial) {
  if (head.mappingFamily != 0 || head.channels == 0 || head.channels > 2 ||
      vendor.size() > kMaxWrittenPacket - 16) {
    ok_ = false;
    return;
  }
  // RFC 7845 section 3: each header begins a page of its own, and audio begins a fresh page.
  writePage(kBeginningOfStream, 0, {opusHeadPacket(head)});
  writePage(0, 0, {opusTagsPacket(vendor)});
}

void OggOpusWriter::writePage(std::uint8_t flags, std::uint64_t granule,
                              const std::vector<Bytes>& packets) {
  Bytes page = {'O', 'g', 'g', 'S', 0, flags};
  appendU64Le(page, granule);
  appendU32Le(page, serial_);
  appendU32Le(page, pageSequence_++);
  appendU32Le(page, 0);  // the checksum, filled in below
  Bytes lacing;
  for (const Bytes& packet : packets) {
    for (std::size_t full = packet.size() / 255; full > 0; --full) lacing.push_back(255);
    lacing.push_back(static_cast<std::uint8_t>(packet.size() % 255));
  }
  appendU8(page, static_cast<std::uint8_t>(lacing.size()));
  appendBytes(page, lacing);
  for (const Bytes& packet : packets) appendBytes(page, packet);
  const std::uint32_t crc = oggCrc(page);
  for (int i = 0; i < 4; ++i) page[22 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  out_.write(reinterpret_cast<const char*>(page.data()), static_cast<std::streamsize>(page.size()));
  if (!out_) ok_ = false;
}

void OggOpusWriter::flush(bool last) {
  if (pending_.empty() && !last) return;
  writePage(last ? kEndOfStream : 0, granule_, pending_);
  pending_.clear();
  pendingBytes_ = 0;
  pendingSegments_ = 0;
}

bool OggOpusWriter::write(ByteView packet) {
  if (!ok_ || finished_ || packet.size() > kMaxWrittenPacket) return false;
  auto samples = opusPacketSamples(packet);
  if (!samples) return false;
  const std::size_t segments = packet.size() / 255 + 1;
  if (pendingSegments_ + segments > kMaxSegments ||
      (!pending_.empty() && pendingBytes_ + packet.size() > kPageDataTarget)) {
    flush(false);
  }
  pending_.emplace_back(packet.begin(), packet.end());
  pendingBytes_ += packet.size();
  pendingSegments_ += segments;
  granule_ += *samples;
  return ok_;
}

bool OggOpusWriter::finish() {
  if (finished_) return ok_;
  finished_ = true;
  if (ok_) flush(true);
  out_.flush();
  return ok_ && static_cast<bool>(out_);
}

OggOpusReader::OggOpusReader(std::istream& in) : OggOpusReader(in, Limits{}) {}

OggOpusReader::OggOpusReader(std::istream& in, Limits limits) : in_(in), limits_(limits) {
  auto headPacket = nextPacket();
  auto head = headPacket ? parseOpusHead(*headPacket) : std::nullopt;
  auto tagsPacket = head ? nextPacket() : std::nullopt;
  auto vendor = tagsPacket ? parseOpusTagsVendor(*tagsPacket) : std::nullopt;
  if (!vendor) {
    failed_ = true;
    return;
  }
  head_ = head;
  vendor_ = std::move(*vendor);
}

std::optional<Bytes> OggOpusReader::next() {
  if (!head_) return std::nullopt;
  return nextPacket();
}

std::optional<Bytes> OggOpusReader::nextPacket() {
  while (readyAt_ >= ready_.size()) {
    ready_.clear();
    readyAt_ = 0;
    if (ended_ || failed_ || !readPage()) return std::nullopt;
  }
  return std::move(ready_[readyAt_++]);
}

bool OggOpusReader::readPage() {
  std::uint8_t header[kPageHeaderSize + kMaxSegments];
  in_.read(reinterpret_cast<char*>(header), kPageHeaderSize);
  if (in_.gcount() == 0 && in_.eof()) {
    ended_ = true;
    return false;
  }
  const ByteView fixed(header, kPageHeaderSize);
  if (static_cast<std::size_t>(in_.gcount()) != kPageHeaderSize ||
      std::memcmp(header, "OggS", 4) != 0 || header[4] != 0) {
    failed_ = true;
    return false;
  }
  const std::uint8_t flags = header[5];
  const std::uint64_t granule = readU64Le(fixed, 6);
  const std::uint32_t serial = readU32Le(fixed, 14);
  const std::uint32_t crc = readU32Le(fixed, 22);
  const std::size_t segmentCount = header[26];
  in_.read(reinterpret_cast<char*>(header) + kPageHeaderSize,
           static_cast<std::streamsize>(segmentCount));
  if (static_cast<std::size_t>(in_.gcount()) != segmentCount) {
    failed_ = true;
    return false;
  }
  const ByteView lacing(header + kPageHeaderSize, segmentCount);
  std::size_t dataSize = 0;
  for (std::uint8_t segment : lacing) dataSize += segment;  // at most 255 * 255
  Bytes page(kPageHeaderSize + segmentCount + dataSize);
  std::memcpy(page.data(), header, kPageHeaderSize + segmentCount);
  in_.read(reinterpret_cast<char*>(page.data() + kPageHeaderSize + segmentCount),
           static_cast<std::streamsize>(dataSize));
  if (static_cast<std::size_t>(in_.gcount()) != dataSize) {
    failed_ = true;
    return false;
  }
  std::memset(page.data() + 22, 0, 4);
  if (oggCrc(page) != crc) {
    failed_ = true;
    return false;
  }
  if (!serial_) {
    if (!(flags & kBeginningOfStream)) {
      failed_ = true;
      return false;
    }
    serial_ = serial;
  }
  if (serial != *serial_) return true;  // another logical stream multiplexed in: not ours

  ByteView data = ByteView(page).subspan(kPageHeaderSize + segmentCount);
  // A page continuing a packet we never saw the start of: skip to the first packet boundary.
  bool skipping = (flags & kContinued) && !partialOpen_;
  if (!(flags & kContinued) && partialOpen_) {
    failed_ = true;  // a packet was cut off by a page that does not continue it
    return false;
  }
  bool completedOne = false;
  std::size_t at = 0;
  for (std::uint8_t segment : lacing) {
    if (!skipping) {
      if (partial_.size() + segment > limits_.maxPacketSize) {
        failed_ = true;
        return false;
      }
      partial_.insert(partial_.end(), data.begin() + static_cast<std::ptrdiff_t>(at),
                      data.begin() + static_cast<std::ptrdiff_t>(at + segment));
    }
    at += segment;
    if (segment < 255) {
      if (!skipping) {
        ready_.push_back(std::move(partial_));
        completedOne = true;
      }
      partial_.clear();
      skipping = false;
    }
  }
  partialOpen_ = !lacing.empty() && lacing.back() == 255 && !skipping;
  if (completedOne) granule_ = static_cast<std::int64_t>(granule);
  if (flags & kEndOfStream) ended_ = true;
  return true;
}

}  // namespace trystero::media

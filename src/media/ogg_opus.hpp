// Ogg Opus files (RFC 7845 over the Ogg framing of RFC 3533): a writer for recordings and a
// reader for what it writes and for ordinary single-stream files. Granule positions count 48 kHz
// samples, whatever the input rate was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "media/byte_io.hpp"

namespace trystero::media {

struct OpusHead {
  std::uint8_t channels = 2;
  std::uint16_t preSkip = 312;  // what libopus's encoder delay needs at 48 kHz
  std::uint32_t inputSampleRate = 48000;
  std::int16_t outputGain = 0;
  std::uint8_t mappingFamily = 0;
  bool operator==(const OpusHead&) const = default;
};

// The Ogg page checksum: CRC-32, polynomial 0x04C11DB7, MSB first, no pre- or post-inversion.
std::uint32_t oggCrc(ByteView data);

class OggOpusWriter {
 public:
  // Writes the two header pages at once. A mapping family other than 0 is not written (fails).
  OggOpusWriter(std::ostream& out, OpusHead head, std::string vendor = "trystero",
                std::uint32_t serial = 0x7472);
  // Fails on a packet whose duration its TOC byte does not give (see opusPacketSamples).
  bool write(ByteView opusPacket);
  // Writes what is pending on a last page marked end-of-stream. Nothing can follow.
  bool finish();
  std::uint64_t granulePosition() const { return granule_; }
  bool ok() const { return ok_; }

 private:
  void writePage(std::uint8_t flags, std::uint64_t granule, const std::vector<Bytes>& packets);
  void flush(bool last);

  std::ostream& out_;
  std::uint32_t serial_;
  std::uint32_t pageSequence_ = 0;
  std::uint64_t granule_ = 0;
  std::vector<Bytes> pending_;
  std::size_t pendingBytes_ = 0;
  std::size_t pendingSegments_ = 0;
  bool ok_ = true;
  bool finished_ = false;
};

class OggOpusReader {
 public:
  struct Limits {
    std::size_t maxPacketSize = 1024 * 1024;  // a packet is assembled from pages up to this
  };
  explicit OggOpusReader(std::istream& in);
  OggOpusReader(std::istream& in, Limits limits);

  // Set once both headers were read: nullopt means not an Ogg Opus file (see failed()).
  const std::optional<OpusHead>& head() const { return head_; }
  const std::string& vendor() const { return vendor_; }
  // The next audio packet; nullopt at the end or on damage (failed()).
  std::optional<Bytes> next();
  // The granule position of the last page read that ended a packet (-1 before any).
  std::int64_t granulePosition() const { return granule_; }
  bool failed() const { return failed_; }

 private:
  std::optional<Bytes> nextPacket();
  bool readPage();

  std::istream& in_;
  Limits limits_;
  std::optional<OpusHead> head_;
  std::string vendor_;
  std::optional<std::uint32_t> serial_;
  std::vector<Bytes> ready_;  // packets completed by the pages read so far, oldest first
  std::size_t readyAt_ = 0;
  Bytes partial_;
  bool partialOpen_ = false;
  std::int64_t granule_ = -1;
  bool ended_ = false;
  bool failed_ = false;
};

}  // namespace trystero::media

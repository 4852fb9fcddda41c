// Media files to and from tracks with no container code: MediaFileWriter records a track's
// encoded frames into a file that media players open (VP8 into IVF, Opus into Ogg Opus, H.264
// into a raw Annex B stream, .h264); MediaFileReader gives an IVF or Ogg Opus file's frames with
// their times, ready for LocalTrack::sendFrame. No decoding or re-encoding happens.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "trystero/trystero.hpp"

namespace trystero {

class MediaFileWriter {
 public:
  // ".ivf", ".ogg" or ".h264" for "VP8", "opus" or "H264" (any case); empty otherwise.
  static std::string extensionFor(const std::string& codec);

  // Creates (or truncates) the file. Throws std::invalid_argument for a codec without a
  // container here, std::runtime_error when the file cannot be opened.
  MediaFileWriter(const std::string& path, const std::string& codec);
  ~MediaFileWriter();  // finish()
  MediaFileWriter(const MediaFileWriter&) = delete;
  MediaFileWriter& operator=(const MediaFileWriter&) = delete;

  // Appends one frame of the track (MediaFrame from RemoteTrack::onFrame). Video before the
  // first keyframe is skipped (nothing could decode it); the file's timeline starts at the
  // first frame written. False when the frame could not be written (a disk error, an Opus
  // packet whose duration its TOC byte does not give).
  bool write(const MediaFrame& frame);
  // Completes the file (IVF frame count, Ogg end of stream) and closes it. Idempotent.
  bool finish();
  std::uint64_t framesWritten() const;
  std::uint64_t framesSkipped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads the frames of an IVF (VP8) or Ogg Opus file, as a LocalTrack sends them. Pacing is the
// caller's: send each frame when its time has come (see `trystero stream`).
class MediaFileReader {
 public:
  struct Frame {
    MediaFrame frame;                   // rtpTimestamp counts from the file's start, in clockRate()
    std::chrono::microseconds time{0};  // when it plays, from the file's start
  };

  // Opens the file and reads its headers; the format is told by the content, not the name.
  // Throws std::runtime_error when it cannot be read or is neither IVF with VP8 nor Ogg Opus.
  explicit MediaFileReader(const std::string& path);
  ~MediaFileReader();
  MediaFileReader(const MediaFileReader&) = delete;
  MediaFileReader& operator=(const MediaFileReader&) = delete;

  const std::string& codec() const;  // "VP8" or "opus", as LocalTrack::create takes it
  const std::string& kind() const;   // "video" or "audio"
  std::uint32_t clockRate() const;   // 90000 or 48000
  // Video: the picture size the IVF header gives (0 for audio).
  std::uint16_t width() const;
  std::uint16_t height() const;

  // The next frame in file order; nullopt at the end, or when the file is damaged (failed()):
  // a truncated or oversized frame (over 16 MiB), a broken Ogg page, an Opus packet whose TOC
  // byte gives no duration.
  std::optional<Frame> next();
  bool failed() const;
  // Starts again from the first frame (for looping).
  void rewind();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trystero

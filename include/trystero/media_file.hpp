// Writing a track's encoded frames to a file that media players open, so that recording what a
// peer sends takes no container code: VP8 goes into IVF, Opus into Ogg Opus, H.264 into a raw
// Annex B stream (.h264). No decoding or re-encoding happens.
#pragma once

#include <cstdint>
#include <memory>
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

}  // namespace trystero

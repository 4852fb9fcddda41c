// Optional encode/decode helpers for the media tracks: VP8 (libvpx) and Opus (libopus), so that a
// program can send pictures and sound it makes, and look at what peers send, without learning
// either library. A separate library, trystero::trystero_codecs (built when libvpx-dev and
// libopus-dev are installed): the core library needs no codec.
//
// The encoders' MediaFrame output goes straight into LocalTrack::sendFrame; the decoders take
// RemoteTrack::onFrame's MediaFrame. Each object belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "trystero/trystero.hpp"

namespace trystero::codecs {

// A picture in I420 (planar YUV 4:2:0, BT.601 studio range as VP8 uses it): y holds width x
// height samples, u and v each ((width + 1) / 2) x ((height + 1) / 2), row by row.
struct I420Picture {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> y, u, v;

  // A picture of one colour (Y, U, V), e.g. for tests and placeholders.
  static I420Picture filled(int width, int height, std::uint8_t y, std::uint8_t u, std::uint8_t v);
  // The mean Y, U and V over a rectangle (in luma samples, clipped to the picture).
  struct Yuv {
    double y = 0, u = 0, v = 0;
  };
  Yuv mean(int x, int y, int width, int height) const;
};

class Vp8Encoder {
 public:
  struct Settings {
    int width = 640;
    int height = 480;
    int kilobitsPerSecond = 1000;
    int framesPerSecond = 30;          // a hint for the rate control
    int keyframeIntervalFrames = 300;  // at most this many frames between keyframes
  };
  // Throws std::invalid_argument for a size libvpx refuses, std::runtime_error if it fails.
  explicit Vp8Encoder(const Settings& settings);
  ~Vp8Encoder();
  Vp8Encoder(const Vp8Encoder&) = delete;
  Vp8Encoder& operator=(const Vp8Encoder&) = delete;

  // Encodes one picture of the configured size taken at rtpTimestamp (90 kHz). The first frame,
  // and the first after requestKeyframe(), is a keyframe. Returns the encoded frame, or nullopt
  // when the rate control dropped the picture or it has another size.
  std::optional<MediaFrame> encode(const I420Picture& picture, std::uint32_t rtpTimestamp);
  // The next picture becomes a keyframe: call it from LocalTrack::onKeyframeRequest (any thread).
  void requestKeyframe();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Vp8Decoder {
 public:
  Vp8Decoder();  // throws std::runtime_error if libvpx fails
  ~Vp8Decoder();
  Vp8Decoder(const Vp8Decoder&) = delete;
  Vp8Decoder& operator=(const Vp8Decoder&) = delete;

  // The picture in one VP8 frame; nullopt when it cannot be decoded (damaged, or no keyframe
  // came before it: ask the sender with RemoteTrack::requestKeyframe()).
  std::optional<I420Picture> decode(const MediaFrame& frame);
  std::uint64_t framesDecoded() const;
  std::uint64_t framesFailed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Opus at 48 kHz in 20 ms packets (960 samples per channel), as browsers send it.
class OpusEncoder {
 public:
  static constexpr int kSamplesPerPacket = 960;
  // channels: 1 or 2. Throws std::invalid_argument / std::runtime_error.
  explicit OpusEncoder(int channels = 1, int bitsPerSecond = 32000);
  ~OpusEncoder();
  OpusEncoder(const OpusEncoder&) = delete;
  OpusEncoder& operator=(const OpusEncoder&) = delete;

  // 960 samples per channel, interleaved; nullopt for another count or if libopus fails.
  std::optional<MediaFrame> encode(std::span<const std::int16_t> samples,
                                   std::uint32_t rtpTimestamp);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class OpusDecoder {
 public:
  // channels of the output (1 or 2): a stereo packet is mixed down and a mono one spread.
  explicit OpusDecoder(int channels = 1);
  ~OpusDecoder();
  OpusDecoder(const OpusDecoder&) = delete;
  OpusDecoder& operator=(const OpusDecoder&) = delete;

  // Interleaved 48 kHz samples of one packet; empty when it cannot be decoded.
  std::vector<std::int16_t> decode(const MediaFrame& frame);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trystero::codecs

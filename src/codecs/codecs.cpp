#include "trystero/codecs.hpp"

#include <opus.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace trystero::codecs {

namespace {

int chromaSize(int lumaSize) { return (lumaSize + 1) / 2; }

std::runtime_error vpxError(const char* what, vpx_codec_ctx_t* codec) {
  return std::runtime_error(std::string("trystero: libvpx ") + what + ": " +
                            (codec ? vpx_codec_error(codec) : ""));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// I420Picture

I420Picture I420Picture::filled(int width, int height, std::uint8_t y, std::uint8_t u,
                                std::uint8_t v) {
  I420Picture picture;
  picture.width = std::max(width, 0);
  picture.height = std::max(height, 0);
  const auto chroma = static_cast<std::size_t>(chromaSize(picture.width)) *
                      static_cast<std::size_t>(chromaSize(picture.height));
  picture.y.assign(static_cast<std::size_t>(picture.width) * picture.height, y);
  picture.u.assign(chroma, u);
  picture.v.assign(chroma, v);
  return picture;
}

I420Picture::Yuv I420Picture::mean(int x, int y0, int w, int h) const {
  const int x1 = std::clamp(x + w, 0, width), y1 = std::clamp(y0 + h, 0, height);
  x = std::clamp(x, 0, width);
  y0 = std::clamp(y0, 0, height);
  Yuv sum;
  std::size_t count = 0;
  const int chromaWidth = chromaSize(width);
  for (int row = y0; row < y1; ++row) {
    for (int col = x; col < x1; ++col) {
      const auto luma = static_cast<std::size_t>(row) * width + col;
      const auto chroma = static_cast<std::size_t>(row / 2) * chromaWidth + col / 2;
      if (luma >= this->y.size() || chroma >= u.size() || chroma >= v.size()) continue;
      sum.y += this->y[luma];
      sum.u += u[chroma];
      sum.v += v[chroma];
      ++count;
    }
  }
  if (count == 0) return sum;
  return {sum.y / count, sum.u / count, sum.v / count};
}

// ---------------------------------------------------------------------------------------------
// VP8

struct Vp8Encoder::Impl {
  vpx_codec_ctx_t codec{};
  Settings settings;
  std::atomic<bool> keyframeWanted{true};
  std::optional<std::uint32_t> lastTimestamp;
  vpx_codec_pts_t pts = 0;  // 90 kHz, unwrapped from the RTP timestamps
  ~Impl() { vpx_codec_destroy(&codec); }
};

Vp8Encoder::Vp8Encoder(const Settings& settings) {
  if (settings.width <= 0 || settings.height <= 0 || settings.width > 16383 ||
      settings.height > 16383 || settings.kilobitsPerSecond <= 0 || settings.framesPerSecond <= 0) {
    throw std::invalid_argument("trystero: a VP8 picture is 1 to 16383 samples each way");
  }
  vpx_codec_enc_cfg_t config{};
  if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &config, 0) != VPX_CODEC_OK) {
    throw vpxError("has no VP8 encoder", nullptr);
  }
  config.g_w = static_cast<unsigned>(settings.width);
  config.g_h = static_cast<unsigned>(settings.height);
  config.g_timebase = {1, 90000};
  config.rc_target_bitrate = static_cast<unsigned>(settings.kilobitsPerSecond);
  config.rc_end_usage = VPX_CBR;
  config.g_lag_in_frames = 0;  // real time: every picture out at once
  config.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
  config.g_threads = 1;
  config.kf_mode = VPX_KF_AUTO;
  config.kf_max_dist = static_cast<unsigned>(std::max(settings.keyframeIntervalFrames, 1));
  auto impl = std::make_unique<Impl>();
  impl->settings = settings;
  if (vpx_codec_enc_init(&impl->codec, vpx_codec_vp8_cx(), &config, 0) != VPX_CODEC_OK) {
    throw vpxError("cannot start the VP8 encoder", &impl->codec);
  }
  vpx_codec_control(&impl->codec, VP8E_SET_CPUUSED, 8);
  impl_ = std::move(impl);
}

Vp8Encoder::~Vp8Encoder() = default;

void Vp8Encoder::requestKeyframe() { impl_->keyframeWanted = true; }

std::optional<MediaFrame> Vp8Encoder::encode(const I420Picture& picture,
                                             std::uint32_t rtpTimestamp) {
  auto& impl = *impl_;
  const int w = impl.settings.width, h = impl.settings.height;
  const auto chroma = static_cast<std::size_t>(chromaSize(w)) * chromaSize(h);
  if (picture.width != w || picture.height != h ||
      picture.y.size() != static_cast<std::size_t>(w) * h || picture.u.size() != chroma ||
      picture.v.size() != chroma) {
    return std::nullopt;
  }
  vpx_image_t image{};
  image.fmt = VPX_IMG_FMT_I420;
  image.w = image.d_w = static_cast<unsigned>(w);
  image.h = image.d_h = static_cast<unsigned>(h);
  image.x_chroma_shift = image.y_chroma_shift = 1;
  image.bps = 12;
  // libvpx reads the planes only; its image type has no const.
  image.planes[VPX_PLANE_Y] = const_cast<std::uint8_t*>(picture.y.data());
  image.planes[VPX_PLANE_U] = const_cast<std::uint8_t*>(picture.u.data());
  image.planes[VPX_PLANE_V] = const_cast<std::uint8_t*>(picture.v.data());
  image.stride[VPX_PLANE_Y] = w;
  image.stride[VPX_PLANE_U] = image.stride[VPX_PLANE_V] = chromaSize(w);

  const auto step = 90000 / impl.settings.framesPerSecond;
  if (impl.lastTimestamp)
    impl.pts += static_cast<std::uint32_t>(rtpTimestamp - *impl.lastTimestamp);
  impl.lastTimestamp = rtpTimestamp;
  const vpx_enc_frame_flags_t flags = impl.keyframeWanted.exchange(false) ? VPX_EFLAG_FORCE_KF : 0;
  if (vpx_codec_encode(&impl.codec, &image, impl.pts, static_cast<unsigned long>(step), flags,
                       VPX_DL_REALTIME) != VPX_CODEC_OK) {
    if (flags) impl.keyframeWanted = true;
    return std::nullopt;
  }
  std::optional<MediaFrame> out;
  vpx_codec_iter_t iter = nullptr;
  while (const vpx_codec_cx_pkt_t* packet = vpx_codec_get_cx_data(&impl.codec, &iter)) {
    if (packet->kind != VPX_CODEC_CX_FRAME_PKT || out) continue;
    const auto* bytes = static_cast<const std::uint8_t*>(packet->data.frame.buf);
    out.emplace();
    out->data.assign(bytes, bytes + packet->data.frame.sz);
    out->rtpTimestamp = rtpTimestamp;
    out->keyframe = (packet->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
  }
  if (!out && flags) impl.keyframeWanted = true;  // dropped: the next one is the keyframe
  return out;
}

struct Vp8Decoder::Impl {
  vpx_codec_ctx_t codec{};
  std::uint64_t decoded = 0, failed = 0;
  ~Impl() { vpx_codec_destroy(&codec); }
};

Vp8Decoder::Vp8Decoder() : impl_(std::make_unique<Impl>()) {
  vpx_codec_dec_cfg_t config{};
  config.threads = 1;
  if (vpx_codec_dec_init(&impl_->codec, vpx_codec_vp8_dx(), &config, 0) != VPX_CODEC_OK) {
    throw vpxError("cannot start the VP8 decoder", &impl_->codec);
  }
}

Vp8Decoder::~Vp8Decoder() = default;

std::optional<I420Picture> Vp8Decoder::decode(const MediaFrame& frame) {
  auto& impl = *impl_;
  if (frame.data.empty() || frame.data.size() > UINT32_MAX ||
      vpx_codec_decode(&impl.codec, frame.data.data(), static_cast<unsigned>(frame.data.size()),
                       nullptr, 0) != VPX_CODEC_OK) {
    impl.failed++;
    return std::nullopt;
  }
  vpx_codec_iter_t iter = nullptr;
  const vpx_image_t* image = vpx_codec_get_frame(&impl.codec, &iter);
  if (!image || image->fmt != VPX_IMG_FMT_I420) {
    impl.failed++;
    return std::nullopt;
  }
  I420Picture picture;
  picture.width = static_cast<int>(image->d_w);
  picture.height = static_cast<int>(image->d_h);
  auto copyPlane = [&](int plane, int width, int height, std::vector<std::uint8_t>& to) {
    to.resize(static_cast<std::size_t>(width) * height);
    for (int row = 0; row < height; ++row) {
      std::memcpy(to.data() + static_cast<std::size_t>(row) * width,
                  image->planes[plane] + static_cast<std::ptrdiff_t>(row) * image->stride[plane],
                  static_cast<std::size_t>(width));
    }
  };
  copyPlane(VPX_PLANE_Y, picture.width, picture.height, picture.y);
  copyPlane(VPX_PLANE_U, chromaSize(picture.width), chromaSize(picture.height), picture.u);
  copyPlane(VPX_PLANE_V, chromaSize(picture.width), chromaSize(picture.height), picture.v);
  impl.decoded++;
  return picture;
}

std::uint64_t Vp8Decoder::framesDecoded() const { return impl_->decoded; }
std::uint64_t Vp8Decoder::framesFailed() const { return impl_->failed; }

// ---------------------------------------------------------------------------------------------
// Opus

struct OpusEncoder::Impl {
  ::OpusEncoder* encoder = nullptr;
  int channels = 1;
  ~Impl() { opus_encoder_destroy(encoder); }
};

OpusEncoder::OpusEncoder(int channels, int bitsPerSecond) : impl_(std::make_unique<Impl>()) {
  if (channels != 1 && channels != 2)
    throw std::invalid_argument("trystero: Opus is 1 or 2 channels");
  int error = OPUS_OK;
  impl_->encoder = opus_encoder_create(48000, channels, OPUS_APPLICATION_AUDIO, &error);
  if (error != OPUS_OK || !impl_->encoder) {
    throw std::runtime_error(std::string("trystero: libopus: ") + opus_strerror(error));
  }
  impl_->channels = channels;
  opus_encoder_ctl(impl_->encoder, OPUS_SET_BITRATE(bitsPerSecond));
}

OpusEncoder::~OpusEncoder() = default;

std::optional<MediaFrame> OpusEncoder::encode(std::span<const std::int16_t> samples,
                                              std::uint32_t rtpTimestamp) {
  if (samples.size() != static_cast<std::size_t>(kSamplesPerPacket * impl_->channels)) {
    return std::nullopt;
  }
  MediaFrame frame;
  frame.data.resize(1500);
  const int size = opus_encode(impl_->encoder, samples.data(), kSamplesPerPacket, frame.data.data(),
                               static_cast<opus_int32>(frame.data.size()));
  if (size < 0) return std::nullopt;
  frame.data.resize(static_cast<std::size_t>(size));
  frame.rtpTimestamp = rtpTimestamp;
  frame.keyframe = true;
  return frame;
}

struct OpusDecoder::Impl {
  ::OpusDecoder* decoder = nullptr;
  int channels = 1;
  ~Impl() { opus_decoder_destroy(decoder); }
};

OpusDecoder::OpusDecoder(int channels) : impl_(std::make_unique<Impl>()) {
  if (channels != 1 && channels != 2)
    throw std::invalid_argument("trystero: Opus is 1 or 2 channels");
  int error = OPUS_OK;
  impl_->decoder = opus_decoder_create(48000, channels, &error);
  if (error != OPUS_OK || !impl_->decoder) {
    throw std::runtime_error(std::string("trystero: libopus: ") + opus_strerror(error));
  }
  impl_->channels = channels;
}

OpusDecoder::~OpusDecoder() = default;

std::vector<std::int16_t> OpusDecoder::decode(const MediaFrame& frame) {
  constexpr int kMaxSamples = 5760;  // 120 ms, the longest packet
  if (frame.data.empty() || frame.data.size() > 1275 * 48) return {};
  std::vector<std::int16_t> samples(static_cast<std::size_t>(kMaxSamples * impl_->channels));
  const int count =
      opus_decode(impl_->decoder, frame.data.data(), static_cast<opus_int32>(frame.data.size()),
                  samples.data(), kMaxSamples, 0);
  if (count < 0) return {};
  samples.resize(static_cast<std::size_t>(count * impl_->channels));
  return samples;
}

}  // namespace trystero::codecs

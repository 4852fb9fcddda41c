// README "Audio and video" with pictures and sound a program makes: every peer that joins gets
// our stream (room.addStream in onPeerJoin, as the README does), a moving test pattern encoded
// to VP8 and a tone encoded to Opus with trystero_codecs; what peers send us is decoded and
// described. Run it twice, or open a browser app on the same room and play its onPeerStream.
// Needs trystero::trystero_codecs (libvpx-dev, libopus-dev).
#include <trystero/codecs.hpp>
#include <trystero/nostr.hpp>

#include <atomic>
#include <cmath>
#include <iostream>
#include <numbers>
#include <thread>

#include "example_config.hpp"

namespace codecs = trystero::codecs;

// A 320x240 picture: grey with a white bar that moves with `frame`.
codecs::I420Picture testPattern(int frame) {
  auto picture = codecs::I420Picture::filled(320, 240, 100, 128, 128);
  const int bar = (frame * 8) % 320;
  for (int row = 0; row < 240; ++row) {
    for (int col = bar; col < std::min(bar + 16, 320); ++col) picture.y[row * 320 + col] = 235;
  }
  return picture;
}

int main(int argc, char** argv) {
  auto room = trystero::nostr::joinRoom(exampleConfig(argc, argv, "video_call"), "studio");
  // One track of each kind, shared by every peer (each gets its own RTP state).
  auto video = trystero::LocalTrack::create("video", "VP8");
  auto audio = trystero::LocalTrack::create("audio", "opus");
  const trystero::LocalStream stream{"test-pattern", {video, audio}};
  codecs::Vp8Encoder encoder({.width = 320, .height = 240, .kilobitsPerSecond = 500});
  // A peer that starts receiving (or lost a picture) needs a keyframe.
  video->onKeyframeRequest([&encoder](const std::string&) { encoder.requestKeyframe(); });

  room->onPeerJoin([&room, &stream](const std::string& peerId) {
    room->addStream(stream, peerId, nlohmann::json{{"name", "test pattern"}});
  });
  std::atomic<int> pictures = 0, sounds = 0;  // peers whose media we decoded
  room->onPeerTrack([&pictures, &sounds](std::shared_ptr<trystero::RemoteTrack> track,
                                         const std::string&, const std::string& peerId,
                                         const trystero::Metadata&) {
    // Frames arrive on the network thread, one at a time: the decoders live in the handler.
    if (track->codec() == "VP8") {
      auto decoder = std::make_shared<codecs::Vp8Decoder>();
      track->onFrame(
          [&pictures, decoder, peerId, told = false](const trystero::MediaFrame& frame) mutable {
            auto picture = decoder->decode(frame);
            if (!picture || told) return;
            told = true;
            pictures++;
            std::cout << peerId << ": decoded a " << picture->width << "x" << picture->height
                      << " picture" << std::endl;
          });
    } else if (track->codec() == "opus") {
      auto decoder = std::make_shared<codecs::OpusDecoder>();
      track->onFrame(
          [&sounds, decoder, peerId, packets = 0](const trystero::MediaFrame& frame) mutable {
            auto samples = decoder->decode(frame);
            if (samples.empty() || ++packets != 50) return;  // once, after a second of sound
            sounds++;
            double sum = 0;
            for (auto s : samples) sum += double(s) * s;
            std::cout << peerId << ": decoded sound, level "
                      << std::lround(std::sqrt(sum / samples.size())) << std::endl;
          });
    }
  });

  // The sender: 15 pictures and 50 Opus packets of a 440 Hz tone a second, in real time.
  std::atomic<bool> running = true;
  std::thread sender([&] {
    codecs::OpusEncoder opus(1);
    std::vector<std::int16_t> tone(codecs::OpusEncoder::kSamplesPerPacket);
    const auto start = std::chrono::steady_clock::now();
    for (int tick = 0; running; ++tick) {  // every 20 ms
      const auto samplesSoFar = static_cast<std::uint32_t>(tick) * 960;
      for (std::size_t i = 0; i < tone.size(); ++i) {
        const double t = (samplesSoFar + i) / 48000.0;
        tone[i] = static_cast<std::int16_t>(6000 * std::sin(2 * std::numbers::pi * 440 * t));
      }
      if (auto packet = opus.encode(tone, samplesSoFar)) audio->sendFrame(std::move(*packet));
      if (tick % 10 == 0 || tick % 10 == 3 || tick % 10 == 7) {        // ~15 pictures a second
        const auto rtpTime = static_cast<std::uint32_t>(tick) * 1800;  // 20 ms at 90 kHz
        if (auto frame = encoder.encode(testPattern(tick), rtpTime))
          video->sendFrame(std::move(*frame));
      }
      std::this_thread::sleep_until(start + std::chrono::milliseconds(20) * (tick + 1));
    }
  });
  std::this_thread::sleep_for(exampleSeconds(argc, argv, 600));
  running = false;
  sender.join();
  room->leave().get();
  std::cout << "pictures from " << pictures << " peer(s), sound from " << sounds << " peer(s)"
            << std::endl;
}

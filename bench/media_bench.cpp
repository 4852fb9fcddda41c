// Media benchmark: the CPU cost of sending one 2 Mbit/s video track (VP8-sized frames, 30 fps)
// to N peers and receiving it, with packetization, SRTP both ways and frame reassembly, next to
// the same bytes at the same pace over the data channel (the baseline), in the same run. Sender
// and receivers are in this one process on one network thread, so the figures are the sum of
// both ends. Usage: media_bench [seconds=5] [peers=1,4]
// Prints a table, then one JSON line.
#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "bench_pair.hpp"
#include "media/frame_assembler.hpp"
#include "media/rtp.hpp"
#include "media/vp8.hpp"

using namespace trystero;
using namespace std::chrono_literals;

namespace {

constexpr int kFps = 30;
constexpr std::size_t kFrameBytes = 2'000'000 / 8 / kFps;  // 2 Mbit/s
constexpr int kKeyframeEvery = 60;

struct Received {
  std::atomic<std::uint64_t> frames{0}, bytes{0};
};

std::vector<std::uint8_t> frameBytes(int index) {
  std::vector<std::uint8_t> frame(kFrameBytes);
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<std::uint8_t>(i * 31);
  frame[0] = index % kKeyframeEvery == 0 ? 0x10 : 0x11;  // VP8 tag: bit 0 clear on keyframes
  return frame;
}

// Adds a video section on each pair's offerer and negotiates it on the live connection.
std::vector<std::string> addVideo(loop::Loop& loop, std::vector<bench::Pair>& pairs,
                                  Received& received,
                                  std::vector<std::unique_ptr<media::FrameAssembler>>& assemblers) {
  std::vector<std::string> mids(pairs.size());
  loop.invoke([&] {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      auto& pair = pairs[i];
      assemblers.push_back(std::make_unique<media::FrameAssembler>(media::makeVp8Depacketizer()));
      auto* assembler = assemblers.back().get();
      rtc::PeerConnection::MediaHandlers handlers;
      handlers.rtp = [assembler, &received](const std::string&, std::span<const std::uint8_t> raw) {
        auto packet = media::parseRtp(raw);
        if (!packet) return;
        for (auto& frame : assembler->push(*packet).frames) {
          received.frames++;
          received.bytes += frame.data.size();
        }
      };
      pair.answerer->receiveMedia(std::move(handlers));
      auto offerer = pair.offerer;
      auto answerer = pair.answerer;
      offerer->onNegotiationNeeded([offerer, answerer] {
        offerer->createOffer([offerer, answerer](auto offer, const std::string&) {
          if (!offer) return;
          answerer->setRemoteDescription(*offer, [offerer, answerer](const std::string&) {
            answerer->createAnswer([offerer](auto answer, const std::string&) {
              if (answer) offerer->setRemoteDescription(*answer, [](const std::string&) {});
            });
          });
        });
      });
      mids[i] = offerer->addLocalMedia({"video", "VP8", "bench", "video"});
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  const auto probe = frameBytes(0);
  while (!loop.invoke([&] {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (!pairs[i].offerer->sendFrame(mids[i], probe, 0)) return false;
    }
    return true;
  })) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "media negotiation timed out\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(10ms);
  }
  return mids;
}

struct Run {
  double cpuPercent = 0;  // of one core, whole process
  double mbitPerSecond = 0;
  std::uint64_t frames = 0;
};

// Sends one frame per 1/30 s to every peer for `seconds`, through `send`; returns what the
// process spent and what arrived.
template <typename Send>
Run paced(loop::Loop& loop, double seconds, Received& received, Send send) {
  const auto frames0 = received.frames.load();
  const auto bytes0 = received.bytes.load();
  int index = 0;
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < kKeyframeEvery; ++i) frames.push_back(frameBytes(i));
  const double cpu0 = bench::cpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  loop::Timer timer;
  loop.invoke([&] {
    timer = loop.every(std::chrono::milliseconds(1000 / kFps), [&] {
      send(frames[index % kKeyframeEvery], static_cast<std::uint32_t>(index * 90000 / kFps));
      index++;
      return true;
    });
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  loop.invoke([&] { timer.cancel(); });
  std::this_thread::sleep_for(200ms);  // the last frames land
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Run run;
  run.cpuPercent = 100.0 * (bench::cpuSeconds() - cpu0) / elapsed;
  run.frames = received.frames - frames0;
  run.mbitPerSecond = (received.bytes - bytes0) * 8 / 1e6 / seconds;
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  std::vector<int> peerCounts;
  std::stringstream list(argc > 2 ? argv[2] : "1,4");
  for (std::string item; std::getline(list, item, ',');) peerCounts.push_back(std::stoi(item));
  loop::Loop loop;

  std::printf(
      "2 Mbit/s video (%zu-byte frames, %d fps) to N peers, %.0f s each; sender and\n"
      "receivers in one process: CPU %% of one core for both ends together\n\n",
      kFrameBytes, kFps, seconds);
  std::printf("%5s  %12s %10s %8s  %12s %10s  %7s\n", "peers", "media CPU %", "per track", "Mbit/s",
              "channel CPU %", "per peer", "ratio");
  nlohmann::json results = nlohmann::json::array();
  for (int peers : peerCounts) {
    std::vector<bench::Pair> pairs(peers);
    for (auto& pair : pairs) bench::connect(loop, pair);
    Received media, data;
    std::vector<std::unique_ptr<media::FrameAssembler>> assemblers;
    auto mids = addVideo(loop, pairs, media, assemblers);
    auto rtp = paced(loop, seconds, media, [&](const auto& frame, std::uint32_t timestamp) {
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        pairs[i].offerer->sendFrame(mids[i], frame, timestamp);
      }
    });
    loop.invoke([&] {
      for (auto& pair : pairs) {
        pair.receiver->onMessage([&data](std::span<const std::uint8_t> bytes, bool) {
          data.frames++;
          data.bytes += bytes.size();
        });
      }
    });
    auto channel = paced(loop, seconds, data, [&](const auto& frame, std::uint32_t) {
      for (auto& pair : pairs) pair.sender->send(std::span<const std::uint8_t>(frame));
    });
    const double ratio = rtp.cpuPercent / channel.cpuPercent;
    std::printf("%5d  %12.1f %10.2f %8.2f  %12.1f %10.2f  %6.2fx\n", peers, rtp.cpuPercent,
                rtp.cpuPercent / peers, rtp.mbitPerSecond / peers, channel.cpuPercent,
                channel.cpuPercent / peers, ratio);
    results.push_back({{"peers", peers},
                       {"media_cpu_percent", rtp.cpuPercent},
                       {"media_cpu_percent_per_track", rtp.cpuPercent / peers},
                       {"media_frames", rtp.frames},
                       {"channel_cpu_percent", channel.cpuPercent},
                       {"media_to_channel_cpu", ratio}});
    for (auto& pair : pairs) bench::release(loop, pair);
  }
  std::printf("%s\n", nlohmann::json{{"impl", "trystero-cpp"}, {"media", results}}.dump().c_str());
  return 0;
}

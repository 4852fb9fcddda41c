// Native data-channel benchmark: setup time (create -> open) and 16 KiB-message throughput
// between two peer connections in one process, on one network thread, over loopback.
// Usage: datachannel_bench [seconds=10] [setups=10]
// Prints one JSON line at the end so scripts can put it beside a baseline run.
#include <cstdio>
#include <future>
#include <nlohmann/json.hpp>

#include "bench_pair.hpp"

using namespace trystero;
using namespace std::chrono_literals;

using bench::connect;
using bench::cpuSeconds;
using bench::Pair;
using bench::release;

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 10.0;
  int setups = argc > 2 ? std::atoi(argv[2]) : 10;
  loop::Loop loop;

  std::vector<double> setupMs;
  for (int i = 0; i < setups; ++i) {
    Pair pair;
    setupMs.push_back(connect(loop, pair));
    release(loop, pair);
  }
  std::sort(setupMs.begin(), setupMs.end());
  double medianSetup = setupMs[setupMs.size() / 2];
  std::printf("setup (create -> open), %d runs: median %.1f ms, min %.1f ms, max %.1f ms\n", setups,
              medianSetup, setupMs.front(), setupMs.back());

  Pair pair;
  connect(loop, pair);
  constexpr std::size_t kMessage = 16 * 1024;
  std::vector<std::uint8_t> message(kMessage, 0x5a);
  std::uint64_t received = 0;
  bool stop = false;
  std::promise<void> drained;
  std::uint64_t sent = 0;
  auto pump = [&] {
    while (!stop && pair.sender->bufferedAmount() <= (1u << 20)) {
      pair.sender->send(std::span<const std::uint8_t>(message));
      sent += kMessage;
    }
  };
  double cpuStart = cpuSeconds();
  auto start = std::chrono::steady_clock::now();
  loop.invoke([&] {
    pair.receiver->onMessage([&](std::span<const std::uint8_t> data, bool) {
      received += data.size();
      if (stop && received == sent) drained.set_value();
    });
    pair.sender->setBufferedAmountLowThreshold(256 * 1024);
    pair.sender->onBufferedAmountLow(pump);
    pump();
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  loop.invoke([&] {
    stop = true;
    if (received == sent) drained.set_value();
  });
  drained.get_future().wait_for(30s);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = cpuSeconds() - cpuStart;
  double mb = received / 1e6;
  std::printf(
      "throughput, 16 KiB messages, %.1f s: %.1f MB/s, %.1f MB per CPU-second (%.2f CPU-s)\n",
      elapsed, mb / elapsed, mb / cpu, cpu);
  nlohmann::json result = {{"impl", "trystero-cpp"},
                           {"setup_ms_median", medianSetup},
                           {"mb_per_s", mb / elapsed},
                           {"mb_per_cpu_s", mb / cpu}};
  std::printf("%s\n", result.dump().c_str());
  release(loop, pair);
  return 0;
}

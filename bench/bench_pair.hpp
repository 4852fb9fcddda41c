// What the native benchmarks share: CPU time of the process, and two peer connections in one
// process, connected over loopback on one network thread with a data channel open between them.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>

#include "loop/loop.hpp"
#include "rtc/peer_connection.hpp"

namespace trystero::bench {

inline double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Pair {
  std::shared_ptr<rtc::PeerConnection> offerer, answerer;
  std::shared_ptr<rtc::DataChannel> sender, receiver;
};

// Connects a pair; returns ms from creation to both channel ends open. Exits on a timeout.
inline double connect(loop::Loop& loop, Pair& pair) {
  using namespace std::chrono_literals;
  std::promise<void> open;
  auto openCount = std::make_shared<int>(0);
  auto start = std::chrono::steady_clock::now();
  loop.invoke([&] {
    rtc::Configuration config;
    config.allowLoopback = true;
    pair.offerer = rtc::PeerConnection::create(loop, config);
    pair.answerer = rtc::PeerConnection::create(loop, config);
    pair.sender = pair.offerer->createDataChannel("data");
    auto opened = [&open, openCount] {
      if (++*openCount == 2) open.set_value();
    };
    pair.sender->onOpen(opened);
    pair.answerer->onDataChannel([&pair, opened](std::shared_ptr<rtc::DataChannel> channel) {
      pair.receiver = std::move(channel);
      opened();
    });
    pair.offerer->createOffer([&pair](auto offer, const std::string&) {
      pair.answerer->setRemoteDescription(*offer, [&pair](const std::string&) {
        pair.answerer->createAnswer([&pair](auto answer, const std::string&) {
          pair.offerer->setRemoteDescription(*answer, [](const std::string&) {});
        });
      });
    });
  });
  if (open.get_future().wait_for(20s) != std::future_status::ready) {
    std::fprintf(stderr, "setup timed out\n");
    std::exit(1);
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

inline void release(loop::Loop& loop, Pair& pair) {
  loop.invoke([&] { pair = Pair{}; });
}

}  // namespace trystero::bench

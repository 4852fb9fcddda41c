// A native peer for interop tests, driven with JSON lines on stdin/stdout
// (tests/interop/PROTOCOL.md).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "loop/loop.hpp"
#include "rtc/peer_connection.hpp"

using nlohmann::json;
using namespace trystero;

namespace {

std::mutex outputMutex;

void emit(const json& message) {
  std::lock_guard lock(outputMutex);
  std::string line = message.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

std::uint8_t patternByte(std::uint64_t index, std::uint64_t seed) {
  return static_cast<std::uint8_t>((index * 31 + seed) & 0xFF);
}

struct Peer {
  explicit Peer(loop::Loop& l) : loop(l) {}
  loop::Loop& loop;
  std::shared_ptr<rtc::PeerConnection> pc;
  std::shared_ptr<rtc::DataChannel> channel;
  // expect-bytes
  std::uint64_t expectSize = 0, expectSeed = 0, received = 0;
  bool expectOk = true;
  std::int64_t expectStartMs = 0;
  // send-bytes
  std::uint64_t sendSize = 0, sendSeed = 0, sent = 0;
  std::vector<std::uint8_t> buffer;

  void attach(std::shared_ptr<rtc::DataChannel> dc) {
    channel = std::move(dc);
    channel->setBufferedAmountLowThreshold(1 << 20);
    channel->onOpen([] { emit({{"event", "open"}}); });
    channel->onClose([] { emit({{"event", "close"}}); });
    channel->onError([](const std::string& e) { emit({{"event", "error"}, {"message", e}}); });
    channel->onBufferedAmountLow([this] { pump(); });
    channel->onMessage([this](std::span<const std::uint8_t> data, bool binary) {
      if (data.size() < 1024) {
        emit({{"event", "message"}, {"binary", binary}, {"size", data.size()}});
      }
      if (expectSize > 0 && binary) {
        if (received == 0) expectStartMs = loop::nowMs();
        for (std::size_t i = 0; i < data.size(); ++i) {
          if (data[i] != patternByte(received + i, expectSeed)) expectOk = false;
        }
        received += data.size();
        if (received >= expectSize) {
          emit({{"event", "received"},
                {"size", received},
                {"ok", expectOk && received == expectSize},
                {"ms", loop::nowMs() - expectStartMs}});
          expectSize = 0;
          received = 0;
        }
        return;
      }
      {
        if (binary) {
          channel->send(data);
        } else {
          channel->send(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
        }
      }
    });
  }

  void pump() {
    constexpr std::size_t kMessage = 16 * 1024;
    while (sent < sendSize && channel->bufferedAmount() <= (4u << 20)) {
      std::size_t n = std::min<std::uint64_t>(kMessage, sendSize - sent);
      buffer.resize(n);
      for (std::size_t i = 0; i < n; ++i) buffer[i] = patternByte(sent + i, sendSeed);
      if (!channel->send(std::span<const std::uint8_t>(buffer))) {
        emit({{"event", "error"}, {"message", "send failed"}});
        sendSize = 0;
        return;
      }
      sent += n;
    }
    if (sendSize > 0 && sent >= sendSize) {
      emit({{"event", "sent"}, {"size", sent}});
      sendSize = 0;
    }
  }

  void handle(const json& message) {
    if (message.contains("type")) {
      auto type = rtc::sdpTypeFromString(message.value("type", ""));
      if (!type) return emit({{"event", "error"}, {"message", "bad type"}});
      pc->setRemoteDescription({*type, message.value("sdp", "")},
                               [this, type](const std::string& e) {
                                 if (!e.empty()) return emit({{"event", "error"}, {"message", e}});
                                 if (*type == rtc::SdpType::Offer) {
                                   pc->createAnswer([](auto description, const std::string& error) {
                                     if (!description)
                                       return emit({{"event", "error"}, {"message", error}});
                                     emit({{"type", "answer"}, {"sdp", description->sdp}});
                                   });
                                 }
                               });
      return;
    }
    auto cmd = message.value("cmd", "");
    if (cmd == "send-bytes") {
      sendSize = message.value("size", 0ull);
      sendSeed = message.value("seed", 0ull);
      sent = 0;
      pump();
    } else if (cmd == "expect-bytes") {
      expectSize = message.value("size", 0ull);
      if (expectSize == 0) {
        emit({{"event", "received"}, {"size", 0}, {"ok", true}, {"ms", 0}});
      }
      expectSeed = message.value("seed", 0ull);
      received = 0;
      expectOk = true;
      // The acknowledgement: a driver starts the sender only after it, so that no byte arrives
      // before sink mode (it would be echoed instead of counted).
      if (expectSize > 0) emit({{"event", "expecting"}, {"size", expectSize}});
    } else if (cmd == "status") {
      // Where a transfer stands, for a driver whose wait ran out.
      emit({{"event", "status"},
            {"sendSize", sendSize},
            {"sent", sent},
            {"bufferedAmount", channel ? channel->bufferedAmount() : 0},
            {"expectSize", expectSize},
            {"received", received},
            {"state", rtc::toString(pc->state())}});
    } else if (cmd == "close") {
      if (channel) channel->close();
    } else if (cmd == "quit") {
      std::fflush(stdout);
      std::_Exit(0);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string role = "offer";
  rtc::Configuration config;
  config.allowLoopback = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--role" && i + 1 < argc) {
      role = argv[++i];
    } else if (arg == "--turn" && i + 1 < argc) {
      // url,username,credential
      std::string spec = argv[++i];
      auto a = spec.find(','), b = spec.rfind(',');
      config.iceServers.push_back(
          {{spec.substr(0, a)}, spec.substr(a + 1, b - a - 1), spec.substr(b + 1)});
    } else if (arg == "--relay-only") {
      config.iceTransportPolicy = rtc::IceTransportPolicy::Relay;
    }
  }
  auto& loop = loop::Loop::shared();
  Peer peer(loop);
  loop.invoke([&] {
    peer.pc = rtc::PeerConnection::create(loop, config);
    peer.pc->onStateChange([](rtc::PeerConnection::State state) {
      emit({{"event", "state"}, {"state", rtc::toString(state)}});
    });
    if (role == "offer") {
      peer.attach(peer.pc->createDataChannel("data"));
      peer.pc->createOffer([](auto description, const std::string& error) {
        if (!description) return emit({{"event", "error"}, {"message", error}});
        emit({{"type", "offer"}, {"sdp", description->sdp}});
      });
    } else {
      peer.pc->onDataChannel([&peer](std::shared_ptr<rtc::DataChannel> channel) {
        peer.attach(std::move(channel));
        emit({{"event", "open"}});
      });
    }
  });
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json message = json::parse(line, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      emit({{"event", "error"}, {"message", "bad input line"}});
      continue;
    }
    loop.post([&peer, message] { peer.handle(message); });
  }
  // stdin closed: leave quietly.
  loop.invoke([&] { peer.pc->close(); });
  return 0;
}

// A data channel through a real TURN relay (Debian's coturn on loopback), with the relay-only
// policy so that no direct path can be used.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <future>

#include "rtc/peer_connection.hpp"
#include "support/child_process.hpp"
#include "support/eventually.hpp"

using namespace trystero;
using namespace std::chrono_literals;

namespace {

int freePort(int type) {
  int fd = socket(AF_INET, type, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class TurnTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/bin/turnserver")) GTEST_SKIP() << "coturn not installed";
    port = freePort(SOCK_STREAM);
    int relayBase = 40000 + (port % 20000);
    server = std::make_unique<trystero::testing::ChildProcess>(std::vector<std::string>{
        "/usr/bin/turnserver", "-n", "--listening-ip=127.0.0.1",
        "--listening-port=" + std::to_string(port), "--relay-ip=127.0.0.1",
        "--min-port=" + std::to_string(relayBase), "--max-port=" + std::to_string(relayBase + 200),
        "--lt-cred-mech", "--user=native:secret", "--realm=trystero.test", "--no-tls", "--no-dtls",
        "--allow-loopback-peers", "--no-cli", "--log-file=stdout", "--simple-log",
        "--pidfile=/tmp/turn-" + std::to_string(port) + ".pid"});
    // Ready once its TCP listener accepts (coturn opens the UDP one on the same port first).
    ASSERT_TRUE(trystero::testing::eventually([&] { return accepts(port); }, 10s))
        << "turnserver did not start listening on " << port;
  }
  static bool accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return ok;
  }
  void TearDown() override { server.reset(); }

  int port = 0;
  std::unique_ptr<trystero::testing::ChildProcess> server;
};

}  // namespace

TEST_P(TurnTest, ChannelOpensThroughTheRelayOnly) {
  loop::Loop loop;
  rtc::Configuration config;
  config.allowLoopback = true;
  config.iceTransportPolicy = rtc::IceTransportPolicy::Relay;
  config.gatheringTimeout = 3000ms;
  std::string query = GetParam() == "tcp" ? "?transport=tcp" : "";
  config.iceServers.push_back(
      {{"turn:127.0.0.1:" + std::to_string(port) + query}, "native", "secret"});

  std::shared_ptr<rtc::PeerConnection> offerer, answerer;
  std::shared_ptr<rtc::DataChannel> channel;
  std::promise<std::string> echoed;
  std::string offerSdp;
  loop.invoke([&] {
    offerer = rtc::PeerConnection::create(loop, config);
    answerer = rtc::PeerConnection::create(loop, config);
    channel = offerer->createDataChannel("data");
    channel->onOpen([&] { channel->send(std::string_view("through the relay")); });
    channel->onMessage([&](std::span<const std::uint8_t> data, bool) {
      echoed.set_value(std::string(data.begin(), data.end()));
    });
    answerer->onDataChannel([&](std::shared_ptr<rtc::DataChannel> remote) {
      remote->onMessage([remote](std::span<const std::uint8_t> data, bool) { remote->send(data); });
    });
    offerer->createOffer([&](auto offer, const std::string& error) {
      ASSERT_TRUE(offer) << error;
      offerSdp = offer->sdp;
      answerer->setRemoteDescription(*offer, [&](const std::string&) {
        answerer->createAnswer([&](auto answer, const std::string&) {
          offerer->setRemoteDescription(*answer, [](const std::string&) {});
        });
      });
    });
  });
  auto future = echoed.get_future();
  ASSERT_EQ(future.wait_for(20s), std::future_status::ready) << offerSdp;
  EXPECT_EQ(future.get(), "through the relay");
  EXPECT_NE(offerSdp.find("typ relay"), std::string::npos);
  EXPECT_EQ(offerSdp.find("typ host"), std::string::npos);
  auto stats = loop.invoke([&] { return offerer->stats(); });
  EXPECT_NE(stats.selectedLocalCandidate.find("relay"), std::string::npos)
      << stats.selectedLocalCandidate;
  loop.invoke([&] {
    channel.reset();
    offerer.reset();
    answerer.reset();
  });
}

INSTANTIATE_TEST_SUITE_P(Transports, TurnTest, ::testing::Values("udp", "tcp"));

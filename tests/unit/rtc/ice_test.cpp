// ICE on its own: two agents on loopback gather, exchange credentials and candidates the way
// SDP carries them, connect, and carry datagrams both ways; what a hostile description lists
// beyond the caps is dropped and counted, and mDNS names are skipped.
#include "rtc/ice/ice_transport.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "rtc/peer_connection.hpp"
#include "support/eventually.hpp"
#include "support/rtc_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using rtc::IceTransport;
using trystero::testing::eventually;
using trystero::testing::loopbackRtcConfig;

namespace {

// One agent and what it reported, touched on the loop thread only.
struct Agent {
  std::unique_ptr<IceTransport> ice;
  std::atomic<bool> gathered{false};
  std::atomic<IceTransport::State> state{IceTransport::State::New};
  std::mutex mutex;
  std::vector<std::string> packets;

  Agent(loop::Loop& loop, bool controlling) {
    ice = std::make_unique<IceTransport>(loop, loopbackRtcConfig(),
                                         IceTransport::Callbacks{
                                             [this] { gathered = true; },
                                             [this](IceTransport::State s) { state = s; },
                                             [this](std::span<const std::uint8_t> packet) {
                                               std::lock_guard lock(mutex);
                                               packets.emplace_back(packet.begin(), packet.end());
                                             },
                                         });
    ice->setControlling(controlling);
  }
  std::vector<std::string> received() {
    std::lock_guard lock(mutex);
    return packets;
  }
};

// What an a=candidate line would carry, for a host candidate that nothing answers on.
rtc::sdp::Candidate junkCandidate(int i, const std::string& transport) {
  std::string line = "candidate:" + std::to_string(1000 + i) + " 1 " + transport + " 2122260223 " +
                     "127.0.0." + std::to_string(2 + i % 200) + " " + std::to_string(40000 + i) +
                     " typ host";
  if (transport == "tcp") line += " tcptype passive";
  auto candidate = rtc::sdp::parseCandidate(line);
  EXPECT_TRUE(candidate) << line;
  return *candidate;
}

class IceTest : public ::testing::Test {
 protected:
  void TearDown() override {
    loop.invoke([&] {
      for (auto* agent : {a.get(), b.get()}) {
        if (agent) agent->ice->close();
      }
      a.reset();
      b.reset();
    });
  }
  void makeAgents() {
    loop.invoke([&] {
      a = std::make_unique<Agent>(loop, true);
      b = std::make_unique<Agent>(loop, false);
      a->ice->gather();
      b->ice->gather();
    });
    ASSERT_TRUE(eventually([&] { return a->gathered && b->gathered; }, 10s));
  }
  // Hands each agent the other's credentials and candidates, plus `extra` for a.
  void exchange(const std::vector<rtc::sdp::Candidate>& extraForA = {}) {
    loop.invoke([&] {
      auto forA = b->ice->localCandidates();
      forA.insert(forA.end(), extraForA.begin(), extraForA.end());
      a->ice->setRemote(b->ice->localUfrag(), b->ice->localPwd(), forA);
      b->ice->setRemote(a->ice->localUfrag(), a->ice->localPwd(), a->ice->localCandidates());
    });
  }
  bool bothConnected() {
    return a->state == IceTransport::State::Connected && b->state == IceTransport::State::Connected;
  }

  loop::Loop loop;
  std::unique_ptr<Agent> a, b;
};

}  // namespace

TEST_F(IceTest, TwoAgentsConnectAndCarryDatagramsBothWays) {
  makeAgents();
  loop.invoke([&] {
    EXPECT_FALSE(a->ice->localUfrag().empty());
    EXPECT_GE(a->ice->localPwd().size(), 22u);  // RFC 8839: at least 128 bits
    EXPECT_FALSE(a->ice->localCandidates().empty());
    // Nothing to send on before a pair is selected.
    const std::uint8_t early[] = {22, 1, 2, 3};
    EXPECT_FALSE(a->ice->send(early));
  });
  exchange();
  ASSERT_TRUE(eventually([&] { return bothConnected(); }, 10s));
  // First bytes in DTLS's range (RFC 7983), as everything above ICE sends.
  const std::string fromA =
                        "\x16"
                        "from a",
                    fromB =
                        "\x17"
                        "from b";
  loop.invoke([&] {
    EXPECT_TRUE(a->ice->send({reinterpret_cast<const std::uint8_t*>(fromA.data()), fromA.size()}));
    EXPECT_TRUE(b->ice->send({reinterpret_cast<const std::uint8_t*>(fromB.data()), fromB.size()}));
    EXPECT_NE(a->ice->selectedLocal(), "");
    EXPECT_NE(a->ice->selectedRemote(), "");
  });
  ASSERT_TRUE(eventually([&] { return !a->received().empty() && !b->received().empty(); }));
  EXPECT_EQ(b->received(), std::vector<std::string>{fromA});
  EXPECT_EQ(a->received(), std::vector<std::string>{fromB});
  EXPECT_EQ(loop.invoke([&] { return a->ice->droppedRemoteCandidates(); }), 0u);
}

TEST_F(IceTest, CandidatesBeyondTheCapsAreDroppedAndCountedAndTheRealOnesStillConnect) {
  makeAgents();
  std::vector<rtc::sdp::Candidate> junk;
  for (int i = 0; i < 150; ++i) junk.push_back(junkCandidate(i, "udp"));
  for (int i = 0; i < 40; ++i) junk.push_back(junkCandidate(500 + i, "tcp"));
  auto mdns = rtc::sdp::parseCandidate(
      "candidate:9 1 udp 2122260223 4f6a2c5e-1f0b-4f2e-9c3d-0123456789ab.local 50000 typ host");
  ASSERT_TRUE(mdns);
  junk.push_back(*mdns);
  exchange(junk);
  ASSERT_TRUE(eventually([&] { return bothConnected(); }, 10s));
  const std::size_t realOnes = loop.invoke([&] { return b->ice->localCandidates().size(); });
  const std::size_t dropped = loop.invoke([&] { return a->ice->droppedRemoteCandidates(); });
  // At most kMaxRemoteCandidates taken (of them kMaxRemoteTcpCandidates TCP): all the junk
  // beyond that is dropped (the real ones come first; libnice may skip some of them, such as
  // TCP-active ones, before they count). The mDNS name is skipped, not counted.
  const std::size_t offered = realOnes + 150 + 40;
  EXPECT_GE(dropped, 150 + 40 - rtc::kMaxRemoteCandidates);
  EXPECT_LE(dropped, offered);
  EXPECT_GE(dropped, 40 - rtc::kMaxRemoteTcpCandidates);
}

TEST_F(IceTest, CloseEndsTheTransport) {
  makeAgents();
  exchange();
  ASSERT_TRUE(eventually([&] { return bothConnected(); }, 10s));
  loop.invoke([&] {
    a->ice->close();
    EXPECT_EQ(a->ice->state(), IceTransport::State::Closed);
    const std::uint8_t data[] = {22, 0};
    EXPECT_FALSE(a->ice->send(data));
  });
}

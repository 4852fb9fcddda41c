// Remote descriptions listing absurd numbers of ICE candidates. libnice keeps state per remote
// candidate and per pair, scans the interfaces for each one it is given, and opens a TCP socket
// per TCP pair it checks from a local tcp-active candidate (none on loopback-only hosts, so the
// descriptor bound below is a sanity check here; the cap itself is what the counters show).
// The excess must be dropped and counted, and a connection whose description also carries junk
// must still open.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <future>
#include <string>

#include "rtc/ice/ice_transport.hpp"
#include "rtc/peer_connection.hpp"
#include "rtc/sdp/sdp.hpp"
#include "support/rtc_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using trystero::testing::loopbackRtcConfig;
using trystero::testing::openDescriptors;

namespace {

// A TCP port on every loopback address that completes connections but never answers: each
// check libnice makes to it holds a socket until the check times out.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(fd_, 4096) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// tcp passive candidates first (to the listener, one loopback address each), then udp ones to
// loopback ports where nobody listens.
std::string junkCandidates(int tcp, int udp, int tcpPort = 9) {
  std::string out;
  for (int i = 0; i < tcp + udp; ++i) {
    const bool isTcp = i < tcp;
    const std::string address =
        isTcp ? "127.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)
              : "127.0.0.1";
    const int port = isTcp ? tcpPort : 20000 + i;
    out += "a=candidate:" + std::to_string(1000 + i) + " 1 " + (isTcp ? "tcp" : "udp") + " " +
           std::to_string(2000000000 - i) + " " + address + " " + std::to_string(port) +
           " typ host" + (isTcp ? " tcptype passive" : "") + "\r\n";
  }
  return out;
}

std::string withoutCandidates(const std::string& sdp) {
  std::string out;
  std::size_t pos = 0;
  while (pos < sdp.size()) {
    std::size_t end = sdp.find('\n', pos);
    end = end == std::string::npos ? sdp.size() : end + 1;
    std::string_view line(sdp.data() + pos, end - pos);
    if (line.rfind("a=candidate:", 0) != 0) out += line;
    pos = end;
  }
  return out;
}

// An offer of a real peer connection (so credentials and fingerprint are valid).
std::string realOffer(loop::Loop& loop, std::shared_ptr<rtc::PeerConnection>& offerer,
                      std::shared_ptr<rtc::DataChannel>& channel) {
  std::promise<std::string> offer;
  loop.invoke([&] {
    offerer = rtc::PeerConnection::create(loop, loopbackRtcConfig());
    channel = offerer->createDataChannel("data");
    offerer->createOffer([&](auto description, const std::string& error) {
      EXPECT_TRUE(description) << error;
      offer.set_value(description ? description->sdp : "");
    });
  });
  return offer.get_future().get();
}

}  // namespace

TEST(SdpLimits, ThousandsOfCandidatesAreCappedCountedAndCostFewDescriptors) {
  loop::Loop loop;
  std::shared_ptr<rtc::PeerConnection> offerer, victim;
  std::shared_ptr<rtc::DataChannel> channel;
  const std::string offer = realOffer(loop, offerer, channel);
  ASSERT_FALSE(offer.empty());
  // None of the offerer's own candidates: nothing can succeed, every pair gets checked.
  SilentListener listener;
  const std::string hostile = withoutCandidates(offer) + junkCandidates(600, 400, listener.port());
  ASSERT_TRUE(rtc::sdp::parse(hostile).description);

  const std::size_t before = openDescriptors();
  auto failed = std::make_shared<std::promise<void>>();
  std::promise<std::string> applied;
  loop.invoke([&] {
    victim = rtc::PeerConnection::create(loop, loopbackRtcConfig());
    victim->onStateChange([failed, once = std::make_shared<bool>(false)](auto state) {
      if (state == rtc::PeerConnection::State::Failed && !*once) {
        *once = true;
        failed->set_value();
      }
    });
    victim->setRemoteDescription({rtc::SdpType::Offer, hostile}, [&](const std::string& error) {
      applied.set_value(error);
      if (error.empty()) victim->createAnswer([](auto, const std::string&) {});
    });
  });
  ASSERT_EQ(applied.get_future().get(), "");
  // Every kept pair is checked and fails; then ICE gives up. The most descriptors held at any
  // time on the way there is what matters.
  auto done = failed->get_future();
  std::size_t peak = before;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (done.wait_for(20ms) != std::future_status::ready) {
    peak = std::max(peak, openDescriptors());
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "ICE never failed";
  }
  auto stats = loop.invoke([&] { return victim->stats(); });
  EXPECT_EQ(stats.droppedRemoteCandidates, 1000 - rtc::kMaxRemoteCandidates);
  // The victim's own sockets (a few per local address) plus at most one per kept TCP candidate
  // and local TCP address, nowhere near one per candidate.
  EXPECT_LT(peak, before + 16 + 2 * rtc::kMaxRemoteTcpCandidates)
      << "descriptors before: " << before;

  loop.invoke([&] {
    channel.reset();
    victim.reset();
    offerer.reset();
  });
}

TEST(SdpLimits, ConnectionWithJunkAfterTheRealCandidatesStillOpens) {
  loop::Loop loop;
  std::shared_ptr<rtc::PeerConnection> offerer, answerer;
  std::shared_ptr<rtc::DataChannel> channel, answererChannel;
  const std::string offer = realOffer(loop, offerer, channel);
  ASSERT_FALSE(offer.empty());
  const auto real = rtc::sdp::parse(offer).description->candidates.size();
  ASSERT_GT(real, 0u);
  ASSERT_LT(real, rtc::kMaxRemoteCandidates);

  auto open = std::make_shared<std::promise<void>>();
  loop.invoke([&] {
    channel->onOpen([open] { open->set_value(); });
    answerer = rtc::PeerConnection::create(loop, loopbackRtcConfig());
    answerer->onDataChannel([&](std::shared_ptr<rtc::DataChannel> c) { answererChannel = c; });
    answerer->setRemoteDescription(
        {rtc::SdpType::Offer, offer + junkCandidates(300, 700)}, [&](const std::string& error) {
          ASSERT_EQ(error, "");
          answerer->createAnswer([&](auto answer, const std::string& error) {
            ASSERT_TRUE(answer) << error;
            offerer->setRemoteDescription(*answer, [](const std::string& e) { ASSERT_EQ(e, ""); });
          });
        });
  });
  ASSERT_EQ(open->get_future().wait_for(20s), std::future_status::ready);
  auto answererStats = loop.invoke([&] { return answerer->stats(); });
  auto offererStats = loop.invoke([&] { return offerer->stats(); });
  EXPECT_GE(answererStats.droppedRemoteCandidates, real + 1000 - rtc::kMaxRemoteCandidates);
  EXPECT_EQ(offererStats.droppedRemoteCandidates, 0u);  // an ordinary answer loses nothing

  loop.invoke([&] {
    channel.reset();
    answererChannel.reset();
    answerer.reset();
    offerer.reset();
  });
}

TEST(SdpLimits, DescriptionsBeyondTheParserBoundsFailCleanly) {
  loop::Loop loop;
  std::shared_ptr<rtc::PeerConnection> offerer, victim;
  std::shared_ptr<rtc::DataChannel> channel;
  const std::string offer = realOffer(loop, offerer, channel);
  // More candidate lines than the parser reads, and more bytes than it accepts.
  const std::string tooMany = withoutCandidates(offer) + junkCandidates(1500, 1500);
  ASSERT_LE(tooMany.size(), rtc::sdp::kMaxDescriptionBytes);
  const std::string tooBig =
      offer + "a=x-padding:" + std::string(rtc::sdp::kMaxDescriptionBytes, 'p');
  for (const auto* text : {&tooMany, &tooBig}) {
    std::promise<std::string> result;
    loop.invoke([&] {
      victim = rtc::PeerConnection::create(loop, loopbackRtcConfig());
      victim->setRemoteDescription({rtc::SdpType::Offer, *text},
                                   [&](const std::string& error) { result.set_value(error); });
    });
    EXPECT_NE(result.get_future().get(), "");
    loop.invoke([&] { victim.reset(); });
  }
  loop.invoke([&] {
    channel.reset();
    offerer.reset();
  });
}

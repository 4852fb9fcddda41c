#include "net/relay_socket.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loop/loop.hpp"
#include "support/ws_test_server.hpp"

using namespace std::chrono_literals;
using trystero::loop::Loop;
using trystero::net::pauseRelayReconnection;
using trystero::net::relayReconnectionPaused;
using trystero::net::RelaySocket;
using trystero::net::resumeRelayReconnection;
using trystero::net::testing::eventually;
using trystero::net::testing::Recorder;
using trystero::net::testing::TestServer;

namespace {

RelaySocket::Callbacks record(Recorder& r) {
  RelaySocket::Callbacks cb;
  cb.onOpen = [&r] { r.opened(); };
  cb.onMessage = [&r](std::string_view data, bool binary) { r.message(data, binary); };
  cb.onClose = [&r](int code, const std::string& reason) { r.closed(code, reason); };
  cb.onError = [&r](const std::string& error) { r.error(error); };
  return cb;
}

// A free port on 127.0.0.1 with nothing listening (kept bound so nobody else takes it until
// released).
struct ReservedPort {
  int fd = -1;
  unsigned port = 0;
  ReservedPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  void release() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ~ReservedPort() { release(); }
};

TestServer::Options onPort(unsigned port) {
  TestServer::Options o;
  o.port = port;
  return o;
}

class RelaySocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    resumeRelayReconnection();
    RelaySocket::setRetryDelays(100ms, 10s);
  }
  void TearDown() override {
    resumeRelayReconnection();
    RelaySocket::resetRetryDelays();
  }

  std::shared_ptr<RelaySocket> create(const std::string& url, Recorder& r) {
    return RelaySocket::create(client, url, record(r));
  }
  RelaySocket::State state(const std::shared_ptr<RelaySocket>& s) {
    return client.invoke([&] { return s->state(); });
  }
  // close() on the loop thread, then let the closing handshake run before the loops stop.
  void finish(std::shared_ptr<RelaySocket>& s, TestServer* server = nullptr) {
    client.invoke([&] {
      s->close();
      s.reset();
    });
    if (server) {
      EXPECT_TRUE(eventually([&] { return server->open() == 0; }));
    }
  }

  Loop serverLoop;
  Loop client;
};

TEST_F(RelaySocketTest, DeliversMessagesAndCountsThem) {
  TestServer server(serverLoop);
  Recorder r;
  auto relay = create(server.url(), r);
  EXPECT_EQ(relay->url(), server.url());
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  EXPECT_TRUE(relay->isOpen());
  EXPECT_NE(client.invoke([&] { return relay->socket(); }), nullptr);
  client.invoke([&] {
    EXPECT_TRUE(relay->send("[\"REQ\",\"x\",{}]"));
    std::vector<std::uint8_t> bytes{0x10, 0x00};
    EXPECT_TRUE(relay->sendBinary(bytes));
  });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 2; }));
  auto messages = r.messagesCopy();
  EXPECT_EQ(messages[0].first, "[\"REQ\",\"x\",{}]");
  EXPECT_FALSE(messages[0].second);
  EXPECT_TRUE(messages[1].second);
  auto stats = relay->stats();
  EXPECT_EQ(stats.connectAttempts, 1u);
  EXPECT_EQ(stats.reconnects, 0u);
  EXPECT_EQ(stats.opens, 1u);
  EXPECT_EQ(stats.messagesOut, 2u);
  EXPECT_EQ(stats.messagesIn, 2u);
  EXPECT_EQ(stats.bytesOut, 16u);
  EXPECT_EQ(stats.bytesIn, 16u);
  EXPECT_EQ(stats.sendsDropped, 0u);
  finish(relay, &server);
}

TEST_F(RelaySocketTest, ReconnectsAfterServerClosesOrDropsTheConnection) {
  TestServer server(serverLoop);
  Recorder r;
  auto relay = create(server.url(), r);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));

  server.closeAll(1001, "going away");
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  EXPECT_EQ(r.closesCopy()[0].code, 1001);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 2; }, 3s));
  // The server counts a connection after it sent the 101, possibly after the client opened.
  EXPECT_TRUE(eventually([&] { return server.accepted() == 2; }));

  server.dropAll();  // no close frame this time
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 2; }));
  EXPECT_EQ(r.closesCopy()[1].code, 1006);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 3; }, 3s));
  EXPECT_EQ(relay->stats().reconnects, 2u);

  // The new connection works.
  client.invoke([&] { EXPECT_TRUE(relay->send("after reconnect")); });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 1; }));
  finish(relay, &server);
}

TEST_F(RelaySocketTest, ReconnectsAfterServerRestartsOnTheSamePort) {
  auto server = std::make_unique<TestServer>(serverLoop);
  unsigned port = server->port();
  std::string url = server->url();
  Recorder r;
  auto relay = create(url, r);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));

  server.reset();  // stops listening, cuts the connection
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  // Refused attempts while the server is down: 100 ms, then 200 ms, ...
  ASSERT_TRUE(eventually([&] { return r.closeCount() >= 3; }, 3s));
  EXPECT_EQ(r.openCount(), 1);
  EXPECT_GE(r.errorCount(), 2u);

  server = std::make_unique<TestServer>(serverLoop, onPort(port));
  ASSERT_EQ(server->port(), port);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 2; }, 5s));
  EXPECT_EQ(state(relay), RelaySocket::State::Open);
  client.invoke([&] { EXPECT_TRUE(relay->send("hello again")); });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 1; }));
  finish(relay, server.get());
}

TEST_F(RelaySocketTest, BackoffDoublesPerUrlAndResetsOnOpen) {
  ReservedPort reserved;
  std::string url = "ws://127.0.0.1:" + std::to_string(reserved.port) + "/ws";
  EXPECT_EQ(RelaySocket::nextRetryDelay(url), 100ms);
  Recorder r;
  auto relay = create(url, r);
  // Attempts fail at once (refused); the gaps between them are the retry delays.
  ASSERT_TRUE(eventually([&] { return r.closeCount() >= 4; }, 5s));
  auto times = r.closeTimes();
  std::vector<std::int64_t> expected{100, 200, 400};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto gap = times[i + 1] - times[i];
    EXPECT_GE(gap, expected[i] - 5) << "gap " << i;
    EXPECT_LE(gap, expected[i] + 250) << "gap " << i;  // slack for loaded CI machines
  }
  EXPECT_EQ(state(relay), RelaySocket::State::Waiting);
  EXPECT_EQ(RelaySocket::nextRetryDelay(url), 1600ms);  // 800 ms is pending now
  // Another URL has its own delay.
  EXPECT_EQ(RelaySocket::nextRetryDelay(url + "x"), 100ms);

  // Once a connection opens the delay for the URL is back to the base.
  reserved.release();
  TestServer server(serverLoop, onPort(reserved.port));
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }, 5s));
  EXPECT_EQ(RelaySocket::nextRetryDelay(url), 100ms);
  finish(relay, &server);
}

TEST_F(RelaySocketTest, BackoffIsCapped) {
  RelaySocket::setRetryDelays(40ms, 100ms);
  ReservedPort reserved;
  std::string url = "ws://127.0.0.1:" + std::to_string(reserved.port) + "/";
  Recorder r;
  auto relay = create(url, r);
  ASSERT_TRUE(eventually([&] { return r.closeCount() >= 5; }, 5s));
  auto times = r.closeTimes();
  EXPECT_LE(times[4] - times[3], 100 + 250);
  EXPECT_EQ(RelaySocket::nextRetryDelay(url), 100ms);
  finish(relay);
}

// Supabase's Phoenix socket reconnects after 1, 2, 5, then every 10 s, per socket: a socket
// with a retry schedule follows it (the last delay repeats), leaves the shared per-URL delay
// alone, and starts the schedule over once a connection opens.
TEST_F(RelaySocketTest, ARetryScheduleReplacesTheSharedBackoff) {
  ReservedPort reserved;
  std::string url = "ws://127.0.0.1:" + std::to_string(reserved.port) + "/ws";
  Recorder r;
  auto relay = RelaySocket::create(client, url, record(r), {}, {1000ms, 3000ms, 1500ms});
  auto attempts = [&] { return relay->stats().connectAttempts; };
  // Each retry comes after its delay in the schedule, the last delay repeating. The loop clock
  // also runs with real time: each step leaves 400 ms of slack either side.
  auto nextRetryAfter = [&](std::chrono::milliseconds delay) {
    const auto before = attempts();
    client.advanceClock(delay - 400ms);
    EXPECT_EQ(attempts(), before) << delay.count();
    client.advanceClock(800ms);
    EXPECT_TRUE(eventually([&] { return attempts() == before + 1; })) << delay.count();
  };
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  for (auto delay : {1000ms, 3000ms, 1500ms}) {
    nextRetryAfter(delay);
    ASSERT_TRUE(eventually([&] { return r.closeCount() == attempts(); }));
  }
  EXPECT_EQ(RelaySocket::nextRetryDelay(url), 100ms);  // the shared delay was not used

  // Once a connection opened, the schedule starts over.
  reserved.release();
  TestServer server(serverLoop, onPort(reserved.port));
  nextRetryAfter(1500ms);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  const auto closesBefore = r.closeCount();
  server.closeAll(1000);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == closesBefore + 1; }));
  nextRetryAfter(1000ms);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 2; }));
  finish(relay, &server);
}

TEST_F(RelaySocketTest, DelayIsSharedByAllSocketsToTheSameUrl) {
  RelaySocket::setRetryDelays(200ms, 10s);
  ReservedPort reserved;
  std::string url = "ws://127.0.0.1:" + std::to_string(reserved.port) + "/";
  Recorder a, b;
  auto first = create(url, a);
  auto second = create(url, b);
  // Both fail once: one takes 200 ms, the other 400 ms (JS: socketRetryPeriods[url]).
  ASSERT_TRUE(eventually([&] { return a.closeCount() == 1 && b.closeCount() == 1; }));
  EXPECT_EQ(RelaySocket::nextRetryDelay(url), 800ms);
  finish(first);
  finish(second);
}

TEST_F(RelaySocketTest, PauseHoldsReconnectionAndResumeReconnectsAtOnce) {
  RelaySocket::setRetryDelays(2000ms, 10s);  // much longer than the test waits
  TestServer server(serverLoop);
  Recorder r;
  auto relay = create(server.url(), r);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));

  pauseRelayReconnection();
  pauseRelayReconnection();  // idempotent
  EXPECT_TRUE(relayReconnectionPaused());
  EXPECT_TRUE(relay->isOpen());  // open sockets are left alone
  server.closeAll(1001);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  client.advanceClock(3s);  // past the retry delay: paused, nothing happens
  EXPECT_EQ(state(relay), RelaySocket::State::Waiting);
  EXPECT_EQ(relay->stats().connectAttempts, 1u);
  EXPECT_EQ(RelaySocket::nextRetryDelay(server.url()), 2000ms);  // no backoff consumed

  // Resume from another thread (this one): reconnects now, not after 2 s.
  auto resumedAt = trystero::loop::nowMs();
  resumeRelayReconnection();
  EXPECT_FALSE(relayReconnectionPaused());
  ASSERT_TRUE(eventually([&] { return r.openCount() == 2; }, 1800ms));
  EXPECT_LT(r.openTimes()[1] - resumedAt, 1000);  // the retry delay is 2000
  resumeRelayReconnection();                      // not paused: no effect
  finish(relay, &server);
}

TEST_F(RelaySocketTest, RetryFallingDueWhilePausedWaitsForResume) {
  RelaySocket::setRetryDelays(150ms, 10s);
  TestServer server(serverLoop);
  Recorder r;
  auto relay = create(server.url(), r);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  server.closeAll(1001);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  pauseRelayReconnection();  // the 150 ms retry timer is already running
  client.advanceClock(450ms);
  EXPECT_EQ(relay->stats().connectAttempts, 1u);
  EXPECT_EQ(state(relay), RelaySocket::State::Waiting);
  resumeRelayReconnection();
  ASSERT_TRUE(eventually([&] { return r.openCount() == 2; }, 1s));
  finish(relay, &server);
}

TEST_F(RelaySocketTest, ResumeAfterCloseOrDestructionIsHarmless) {
  TestServer server(serverLoop);
  Recorder r1, r2;
  auto closed = create(server.url(), r1);
  auto destroyed = create(server.url(), r2);
  ASSERT_TRUE(eventually([&] { return r1.openCount() == 1 && r2.openCount() == 1; }));
  pauseRelayReconnection();
  server.closeAll(1001);
  ASSERT_TRUE(eventually([&] { return r1.closeCount() == 1 && r2.closeCount() == 1; }));
  client.invoke([&] { closed->close(); });
  destroyed.reset();  // from the test thread, while registered as waiting
  resumeRelayReconnection();
  client.advanceClock(200ms);  // and runs what the resume posted
  EXPECT_EQ(closed->stats().connectAttempts, 1u);
  EXPECT_EQ(state(closed), RelaySocket::State::Closed);
  EXPECT_EQ(server.accepted(), 2);
  client.invoke([&] { closed.reset(); });
}

TEST_F(RelaySocketTest, WhenOpenQueuesUntilOpenAndRunsAtOnceWhenOpen) {
  TestServer server(serverLoop);
  Recorder r;
  std::vector<std::string> order;  // loop thread only
  std::shared_ptr<RelaySocket> relay;
  // Created in the same loop task that queues the callbacks: on a busy machine the handshake
  // could otherwise complete between create() on this thread and the task.
  client.invoke([&] {
    relay = create(server.url(), r);
    ASSERT_EQ(relay->state(), RelaySocket::State::Connecting);
    relay->whenOpen([&] {
      order.push_back("first");
      EXPECT_TRUE(relay->isOpen());
      EXPECT_TRUE(relay->send("from whenOpen"));
    });
    relay->whenOpen([&] { order.push_back("second"); });
    EXPECT_TRUE(order.empty());
  });
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  client.invoke([&] {
    EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
    relay->whenOpen([&] { order.push_back("immediate"); });
    EXPECT_EQ(order.back(), "immediate");
  });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 1; }));
  EXPECT_EQ(r.messagesCopy()[0].first, "from whenOpen");

  // Queued while waiting to reconnect: runs on the next open only, once.
  server.closeAll(1001);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  client.invoke([&] { relay->whenOpen([&] { order.push_back("after reconnect"); }); });
  ASSERT_TRUE(eventually([&] { return r.openCount() == 2; }, 3s));
  client.invoke([&] {
    EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "immediate", "after reconnect"}));
  });
  finish(relay, &server);
}

TEST_F(RelaySocketTest, SendWhileNotOpenIsDropped) {
  RelaySocket::setRetryDelays(300ms, 10s);
  TestServer server(serverLoop);
  Recorder r;
  auto relay = create(server.url(), r);
  client.invoke([&] { EXPECT_FALSE(relay->send("while connecting")); });
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  server.closeAll(1001);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  client.invoke([&] {
    EXPECT_EQ(relay->state(), RelaySocket::State::Waiting);
    EXPECT_FALSE(relay->send("while waiting"));
  });
  ASSERT_TRUE(eventually([&] { return r.openCount() == 2; }, 3s));
  EXPECT_EQ(server.textsReceived(), 0);  // nothing was queued for later
  EXPECT_EQ(r.messageCount(), 0u);
  auto stats = relay->stats();
  EXPECT_EQ(stats.sendsDropped, 2u);
  EXPECT_EQ(stats.messagesOut, 0u);
  finish(relay, &server);
}

TEST_F(RelaySocketTest, CloseStopsForGood) {
  TestServer server(serverLoop);
  Recorder r;
  auto relay = create(server.url(), r);
  bool ran = false;
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  client.invoke([&] {
    relay->close();
    EXPECT_EQ(relay->state(), RelaySocket::State::Closed);
    EXPECT_FALSE(relay->send("x"));
    relay->whenOpen([&] { ran = true; });
    relay->close();  // idempotent
  });
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
  client.advanceClock(300ms);  // three base delays
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(r.closeCount(), 0u);  // no callbacks after close()
  EXPECT_EQ(state(relay), RelaySocket::State::Closed);
  EXPECT_FALSE(client.invoke([&] { return ran; }));
  client.invoke([&] { relay.reset(); });
}

TEST_F(RelaySocketTest, CloseWhileWaitingCancelsTheRetry) {
  ReservedPort reserved;
  Recorder r;
  auto relay = create("ws://127.0.0.1:" + std::to_string(reserved.port) + "/", r);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  client.invoke([&] { relay->close(); });
  client.advanceClock(300ms);
  EXPECT_EQ(relay->stats().connectAttempts, 1u);
  client.invoke([&] { relay.reset(); });
}

TEST_F(RelaySocketTest, CallbacksMayCloseAndDropTheSocket) {
  TestServer server(serverLoop);
  std::shared_ptr<RelaySocket> holder;
  std::atomic<int> messages{0};
  RelaySocket::Callbacks cb;
  cb.onOpen = [&] { holder->send("bye"); };
  cb.onMessage = [&](std::string_view, bool) {
    messages++;
    holder->close();
    holder.reset();
  };
  client.invoke([&] { holder = RelaySocket::create(client, server.url(), std::move(cb)); });
  ASSERT_TRUE(eventually([&] { return messages.load() == 1; }));
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
  client.advanceClock(250ms);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(RelaySocketScheduleTest, AGrowingScheduleGrowsByItsFactorUpToItsMaximum) {
  // The Firebase SDK's backoff: 1 s, x1.3, at most 5 min.
  auto schedule = RelaySocket::growingRetrySchedule(1000ms, 1.3, 300000ms);
  ASSERT_GE(schedule.size(), 3u);
  EXPECT_EQ(schedule[0], 1000ms);
  EXPECT_EQ(schedule[1], 1300ms);
  EXPECT_EQ(schedule[2], 1690ms);
  EXPECT_EQ(schedule.back(), 300000ms);
  for (std::size_t i = 1; i < schedule.size(); ++i) EXPECT_GT(schedule[i], schedule[i - 1]);
  EXPECT_EQ(RelaySocket::growingRetrySchedule(500ms, 1.0, 300000ms).size(), 1u);
}

TEST_F(RelaySocketTest, InvalidUrlKeepsRetryingLikeTheJs) {
  Recorder r;
  auto relay = create("not a url", r);
  ASSERT_TRUE(eventually([&] { return r.closeCount() >= 2; }, 2s));
  EXPECT_GE(r.errorCount(), 2u);
  EXPECT_EQ(r.openCount(), 0);
  finish(relay);
}

}  // namespace

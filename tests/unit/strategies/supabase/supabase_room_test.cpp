// The Supabase strategy against the local Realtime broadcast server of the interop suite
// (tests/interop/relays/supabase_server.mjs, Node + ws): several identities in one process meet,
// refused channel joins are retried with the server's reason kept, and a restarted server is
// reconnected and every channel rejoined. Skipped when node or the interop node_modules are
// missing. realtimeUrl() needs no server.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <stdexcept>

#include "room/signaller.hpp"
#include "strategies/supabase/supabase_strategy.hpp"
#include "support/child_process.hpp"
#include "support/room_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using strategies::supabase::SupabaseStrategy;
using trystero::testing::eventually;

namespace {

constexpr const char* kNode = "/usr/bin/node";
std::filesystem::path serverScript() {
  return trystero::testing::interopDir() / "relays" / "supabase_server.mjs";
}

// supabase_server.mjs on a free port; its "listening <port>" line says which.
class RealtimeServer {
 public:
  explicit RealtimeServer(std::vector<std::string> extra = {}, unsigned port = 0) {
    std::vector<std::string> argv = {kNode, serverScript().string(), "--port",
                                     std::to_string(port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<trystero::testing::ChildProcess>(argv);
    auto line = process_->readLine(10s);
    if (!line || !line->starts_with("listening ")) throw std::runtime_error("server did not start");
    port_ = static_cast<unsigned>(std::stoul(line->substr(10)));
  }
  ~RealtimeServer() { stop(); }
  void stop() {
    if (!process_) return;
    kill(process_->pid(), SIGKILL);
    process_->finish(5s);
    process_.reset();
  }
  unsigned port() const { return port_; }
  std::string projectUrl() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::unique_ptr<trystero::testing::ChildProcess> process_;
  unsigned port_ = 0;
};

struct Identity : trystero::testing::Identity {
  SupabaseStrategy* strategy = nullptr;  // owned by the signaller
};

SupabaseStrategy::Options fastOptions() {
  SupabaseStrategy::Options options;
  options.rejoinDelays = {50ms, 100ms};
  options.reconnectDelays = {100ms, 200ms};
  return options;
}

class SupabaseRoomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kNode, X_OK) != 0) GTEST_SKIP() << kNode << " is not installed";
    if (!std::filesystem::exists(trystero::testing::interopDir() / "node_modules" / "ws")) {
      GTEST_SKIP() << "tests/interop/node_modules (npm ci) is missing";
    }
  }
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop::Loop::shared().invoke([&] { identities.clear(); });
  }

  Config config() const {
    Config c = trystero::testing::testConfig(server->projectUrl(), {});
    c.supabaseKey = "test-anon-key";
    return c;
  }

  Identity& addIdentity(SupabaseStrategy::Options options = fastOptions()) {
    Identity identity;
    auto url = strategies::supabase::realtimeUrl(server->projectUrl(), "test-anon-key");
    static_cast<trystero::testing::Identity&>(identity) =
        trystero::testing::makeIdentity(config(), [&](loop::Loop& loop, const std::string& id) {
          auto strategy =
              std::make_unique<SupabaseStrategy>(loop, url, "test-anon-key", id, options);
          identity.strategy = strategy.get();
          return strategy;
        });
    identities.push_back(std::move(identity));
    return identities.back();
  }

  std::shared_ptr<Room> join(Identity& identity, JoinErrorHandler onJoinError = {}) {
    rooms.push_back(trystero::testing::join(identity, config(), "lobby", std::move(onJoinError)));
    return rooms.back();
  }

  template <typename F>
  auto onLoop(F f) {
    return loop::Loop::shared().invoke(f);
  }

  std::unique_ptr<RealtimeServer> server;
  std::deque<Identity> identities;
  std::vector<std::shared_ptr<Room>> rooms;
};

}  // namespace

TEST(SupabaseUrl, AsSupabaseJsDerivesIt) {
  using strategies::supabase::realtimeUrl;
  EXPECT_EQ(realtimeUrl("https://abc.supabase.co", "k"),
            "wss://abc.supabase.co/realtime/v1/websocket?apikey=k&vsn=2.0.0");
  EXPECT_EQ(realtimeUrl(" http://127.0.0.1:5432/ ", "a b+c"),
            "ws://127.0.0.1:5432/realtime/v1/websocket?apikey=a%20b%2Bc&vsn=2.0.0");
  EXPECT_EQ(realtimeUrl("HTTPS://x.example/base?q=1", "k"),
            "wss://x.example/base/realtime/v1/websocket?apikey=k&vsn=2.0.0");
  EXPECT_THROW(realtimeUrl("abc.supabase.co", "k"), std::invalid_argument);
  EXPECT_THROW(realtimeUrl("ws://abc.supabase.co", "k"), std::invalid_argument);
  EXPECT_THROW(realtimeUrl("https://", "k"), std::invalid_argument);
  EXPECT_THROW(realtimeUrl("", "k"), std::invalid_argument);
  EXPECT_THROW(realtimeUrl("https://abc.supabase.co", ""), std::invalid_argument);
}

TEST_F(SupabaseRoomTest, TwoIdentitiesMeetAndLeaveTheirChannels) {
  server = std::make_unique<RealtimeServer>();
  auto& a = addIdentity();
  auto& b = addIdentity();
  auto roomA = join(a);
  auto roomB = join(b);
  ASSERT_TRUE(eventually([&] {
    return roomA->getPeers() == std::vector{b.id} && roomB->getPeers() == std::vector{a.id};
  }));
  auto stats = onLoop([&] { return a.strategy->stats(); });
  EXPECT_GE(stats.joinsOk, 2u);  // root and self, plus b's self topic once a signalled b
  EXPECT_EQ(stats.malformedFrames, 0u);
  EXPECT_GE(stats.broadcastsDelivered, 1u);
  trystero::testing::expectMediaBothWays(*roomA, a.id, *roomB, b.id);
  roomA->leave().get();
  // The room's root and self channels are left; a peer channel may stay for a while.
  ASSERT_TRUE(
      eventually([&] { return onLoop([&] { return a.strategy->joinedChannels().size(); }) <= 1; }));
}

TEST_F(SupabaseRoomTest, MalformedFramesAreDroppedAndCounted) {
  server = std::make_unique<RealtimeServer>(std::vector<std::string>{"--junk"});
  auto& a = addIdentity();
  auto& b = addIdentity();
  auto roomA = join(a);
  auto roomB = join(b);
  ASSERT_TRUE(eventually([&] {
    return roomA->getPeers() == std::vector{b.id} && roomB->getPeers() == std::vector{a.id};
  }));
  // Ten junk frames after each accepted join (root, self, and the peer channel if any).
  auto malformed = onLoop([&] { return a.strategy->stats().malformedFrames; });
  EXPECT_GE(malformed, 20u);
  EXPECT_EQ(malformed % 10, 0u);
}

TEST_F(SupabaseRoomTest, RefusedJoinsAreRetriedAndTheReasonKept) {
  server = std::make_unique<RealtimeServer>(std::vector<std::string>{"--reject-joins", "3"});
  auto& a = addIdentity();
  auto& b = addIdentity();
  trystero::testing::Inbox errors;
  auto onJoinError = [&](const JoinError& error) { errors.add(error.roomId, error.error); };
  auto roomA = join(a, onJoinError);
  auto roomB = join(b, onJoinError);
  ASSERT_TRUE(eventually([&] {
    return roomA->getPeers() == std::vector{b.id} && roomB->getPeers() == std::vector{a.id};
  }));
  auto refused =
      onLoop([&] { return a.strategy->stats().joinsRefused + b.strategy->stats().joinsRefused; });
  EXPECT_EQ(refused, 3u);
  auto error = onLoop([&] {
    auto s = a.strategy->stats();
    return s.joinsRefused ? s.lastError : b.strategy->stats().lastError;
  });
  EXPECT_NE(error.find("--reject-joins"), std::string::npos) << error;
  // The rooms whose channels were refused heard it in the server's words, once per room (a
  // room's root and self channels are refused for the same reason).
  auto reported = errors.copy();
  ASSERT_GE(reported.size(), 1u);
  ASSERT_LE(reported.size(), 2u);
  for (const auto& [roomId, text] : reported) {
    EXPECT_EQ(roomId, "lobby");
    EXPECT_EQ(text,
              "supabase: the server refused to join a channel: join refused by the test server "
              "(--reject-joins)");
  }
}

// A wrong key: Supabase's gateway answers the WebSocket handshake 401. The room hears it once,
// though the socket keeps retrying, and meets nobody.
TEST_F(SupabaseRoomTest, AWrongKeyIsAJoinErrorOnce) {
  server = std::make_unique<RealtimeServer>(std::vector<std::string>{"--key", "the-right-key"});
  auto& a = addIdentity();
  trystero::testing::Inbox errors;
  auto room = join(a, [&](const JoinError& error) { errors.add(error.roomId, error.error); });
  ASSERT_TRUE(eventually([&] { return errors.size() >= 1; }));
  // Several more handshakes are refused (retries every 100-200 ms); none is reported again.
  ASSERT_TRUE(eventually(
      [&] { return onLoop([&] { return a.strategy->relaySockets()[0].reconnects; }) >= 3; }));
  EXPECT_EQ(onLoop([&] { return a.strategy->relaySockets()[0].opens; }), 0u);
  auto before = errors.copy();
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].first, "lobby");
  EXPECT_NE(before[0].second.find("supabase: "), std::string::npos) << before[0].second;
  EXPECT_NE(before[0].second.find("(HTTP 401 Unauthorized)"), std::string::npos)
      << before[0].second;
  EXPECT_EQ(before[0].second.find("test-anon-key"), std::string::npos)
      << "the key stays out of the error: " << before[0].second;
}

TEST_F(SupabaseRoomTest, AJoinWithoutReplyTimesOutAndIsRetried) {
  server = std::make_unique<RealtimeServer>(std::vector<std::string>{"--ignore-joins", "2"});
  auto options = fastOptions();
  options.pushTimeout = 300ms;
  auto& a = addIdentity(options);
  auto roomA = join(a);
  ASSERT_TRUE(eventually(
      [&] { return onLoop([&] { return a.strategy->joinedChannels().size(); }) == 2; }, 10s));
  EXPECT_EQ(onLoop([&] { return a.strategy->stats().joinTimeouts; }), 2u);
}

// Phoenix: a heartbeat still unanswered when the next is due closes the socket; it reconnects
// and rejoins (and keeps timing out against a server that never answers).
TEST_F(SupabaseRoomTest, AnUnansweredHeartbeatClosesAndReconnects) {
  server = std::make_unique<RealtimeServer>(std::vector<std::string>{"--silent-heartbeats"});
  auto options = fastOptions();
  options.heartbeatInterval = 200ms;
  auto& a = addIdentity(options);
  auto roomA = join(a);
  ASSERT_TRUE(eventually(
      [&] { return onLoop([&] { return a.strategy->stats().heartbeatTimeouts; }) >= 2; }, 10s));
  auto sockets = onLoop([&] { return a.strategy->relaySockets(); });
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_GE(sockets[0].opens, 2u);
  EXPECT_EQ(sockets[0].url.find("apikey"), std::string::npos);  // the key stays out of it
}

TEST_F(SupabaseRoomTest, ARestartedServerIsReconnectedAndEveryChannelRejoined) {
  server = std::make_unique<RealtimeServer>();
  const unsigned port = server->port();
  auto& a = addIdentity();
  auto roomA = join(a);
  ASSERT_TRUE(
      eventually([&] { return onLoop([&] { return a.strategy->joinedChannels().size(); }) == 2; }));
  server->stop();
  ASSERT_TRUE(
      eventually([&] { return onLoop([&] { return a.strategy->joinedChannels().empty(); }); }));
  server = std::make_unique<RealtimeServer>(std::vector<std::string>{}, port);
  ASSERT_TRUE(eventually(
      [&] { return onLoop([&] { return a.strategy->joinedChannels().size(); }) == 2; }, 10s));
  // A newcomer is met over the rejoined channels.
  auto& b = addIdentity();
  auto roomB = join(b);
  ASSERT_TRUE(eventually([&] {
    return roomA->getPeers() == std::vector{b.id} && roomB->getPeers() == std::vector{a.id};
  }));
}

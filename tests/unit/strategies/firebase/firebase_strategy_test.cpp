// The firebase strategy and its database connection against a scripted Realtime Database that
// behaves as firebase-server 1.1.0 (tests/support/fake_rtdb_server.hpp): the layout firebase.js
// writes, which presences and signals reach the engine, hostile frames, reconnects, keepalive
// and getOccupants.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crypto/crypto.hpp"
#include "strategies/firebase/firebase_strategy.hpp"
#include "support/eventually.hpp"
#include "support/fake_rtdb_server.hpp"
#include "trystero/firebase.hpp"

namespace trystero::strategies::firebase {
namespace {

using nlohmann::json;
using trystero::testing::eventually;
using trystero::testing::FakeRtdbServer;

constexpr const char* kRoot = "/__trystero__/roomT";
constexpr const char* kSelfPath = "/__trystero__/roomT/selfT";

class FirebaseStrategyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop.invoke([&] {
      connection = std::make_shared<Connection>(loop, *parseDatabaseUrl(server->databaseUrl()));
      connection->start();
      strategy = std::make_unique<FirebaseStrategy>(connection, "", "selfA");
    });
  }
  void TearDown() override {
    loop.invoke([&] {
      strategy.reset();
      connection->close();
      connection.reset();
    });
  }

  void subscribe() {
    loop.invoke([&] {
      strategy->subscribe(0, "roomT", "selfT", [this](const std::string& t, const std::string& m) {
        std::lock_guard lock(mutex);
        delivered.emplace_back(t, m);
      });
    });
    roundTrip();
  }

  // Replies come in request order: once a write made now is acknowledged, everything sent
  // before it (a listen, say) has been answered and handled.
  void roundTrip() {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    loop.invoke(
        [&] { connection->set("/probe", 1, [done](const std::string&) { done->set_value(); }); });
    ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  }

  std::vector<std::pair<std::string, std::string>> messages() {
    std::lock_guard lock(mutex);
    return delivered;
  }

  loop::Loop serverLoop;
  loop::Loop loop;
  std::unique_ptr<FakeRtdbServer> server = std::make_unique<FakeRtdbServer>(serverLoop);
  std::shared_ptr<Connection> connection;
  std::unique_ptr<FirebaseStrategy> strategy;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> delivered;
};

TEST_F(FirebaseStrategyTest, ConnectsAsTheSdkDoesInEmulatorMode) {
  subscribe();
  auto urls = server->urlsSeen();
  ASSERT_FALSE(urls.empty());
  EXPECT_NE(urls[0].find("/.ws?v=5&ns=test"), std::string::npos) << urls[0];
  auto listens = server->requests("q");
  ASSERT_EQ(listens.size(), 1u);
  EXPECT_EQ(listens[0].body, json({{"p", kRoot}, {"h", ""}}));
  EXPECT_TRUE(loop.invoke([&] { return strategy->relaySockets()[0].state; }) ==
              RelaySocketInfo::State::Open);
}

TEST_F(FirebaseStrategyTest, AnnounceRemovesThenWritesPresenceAndRegistersItsRemoval) {
  subscribe();
  loop.invoke([&] { strategy->announce(0, "roomT", "selfT"); });
  ASSERT_TRUE(eventually([&] { return !server->value(kSelfPath).is_null(); }));
  EXPECT_EQ(server->value(kSelfPath), json({{"_", {{"peerId", "selfA"}}}}));
  std::vector<json> writes;
  for (auto& r : server->requests()) {
    if ((r.action == "p" || r.action == "o") && r.body["p"] == kSelfPath) writes.push_back(r.body);
  }
  ASSERT_TRUE(eventually([&] { return server->requests("o").size() == 1; }));
  ASSERT_GE(writes.size(), 2u);
  EXPECT_TRUE(writes[0]["d"].is_null()) << "await remove(selfRef) first";
  EXPECT_EQ(writes[1]["d"], json({{"_", {{"peerId", "selfA"}}}}));
  EXPECT_EQ(server->requests("o")[0].body, json({{"p", kSelfPath}, {"d", nullptr}}));
}

TEST_F(FirebaseStrategyTest, NewcomersAreHandedOverButNotThePeersAlreadyThere) {
  server->set("/__trystero__/roomT/oldT/_", {{"peerId", "old"}});
  subscribe();
  server->set("/__trystero__/roomT/newT/_", {{"peerId", "new"}});
  server->set("/__trystero__/roomT/bareT/x", 1);  // no presence: not a peer
  ASSERT_TRUE(eventually([&] { return !messages().empty(); }));
  roundTrip();
  EXPECT_EQ(messages(),
            (std::vector<std::pair<std::string, std::string>>{{"roomT", R"({"peerId":"new"})"}}));
  // A re-announce (remove, then set) makes the peer a newcomer again, as in trystero.
  server->set("/__trystero__/roomT/oldT", nullptr);
  server->set("/__trystero__/roomT/oldT/_", {{"peerId", "old"}});
  ASSERT_TRUE(eventually([&] { return messages().size() == 2; }));
  EXPECT_EQ(messages()[1].second, R"({"peerId":"old"})");
}

TEST_F(FirebaseStrategyTest, SignalsAreHandedOverOnceAndRemoved) {
  subscribe();
  const std::string offer = R"({"peerId":"peerB","offer":{"type":"offer","sdp":"x"}})";
  const std::string path = std::string(kSelfPath) + "/peerB/-P7EevlGo2TEZ05-zpsE";
  server->set(path, offer);
  ASSERT_TRUE(eventually([&] { return !messages().empty(); }));
  ASSERT_TRUE(eventually([&] { return server->value(path).is_null(); }));
  roundTrip();
  EXPECT_EQ(messages(), (std::vector<std::pair<std::string, std::string>>{{"selfT", offer}}));
}

TEST_F(FirebaseStrategyTest, SignalGoesToThePeersQueueAfterItsOnDisconnect) {
  server->set("/__trystero__/roomT/peerT/_", {{"peerId", "peerB"}});
  subscribe();
  loop.invoke([&] { strategy->signal(0, "peerT", R"({"peerId":"selfA","offer":1})"); });
  ASSERT_TRUE(
      eventually([&] { return !server->value("/__trystero__/roomT/peerT/selfA").is_null(); }));
  auto queue = server->value("/__trystero__/roomT/peerT/selfA");
  ASSERT_EQ(queue.size(), 1u);
  const std::string pushId = queue.begin().key();
  EXPECT_EQ(pushId.size(), 20u);
  EXPECT_EQ(queue.begin().value(), R"({"peerId":"selfA","offer":1})");
  const std::string path = "/__trystero__/roomT/peerT/selfA/" + pushId;
  auto requests = server->requests();
  auto at = [&](const std::string& action) {
    return std::find_if(requests.begin(), requests.end(),
                        [&](auto& r) { return r.action == action && r.body["p"] == path; });
  };
  ASSERT_NE(at("o"), requests.end());
  EXPECT_LT(at("o"), at("p")) << "trystero calls onDisconnect before set";
}

TEST_F(FirebaseStrategyTest, MessagesOver16384CharactersAreSplitBothWays) {
  server->set("/__trystero__/roomT/peerT/_", {{"peerId", "peerB"}});
  subscribe();
  const std::string big(40000, 'x');  // three frames behind a count frame
  server->set(std::string(kSelfPath) + "/peerB/-P7EevlGo2TEZ05-zpsE", big);
  ASSERT_TRUE(eventually([&] { return messages().size() == 1; }));
  EXPECT_EQ(messages()[0].second, big);
  loop.invoke([&] { strategy->signal(0, "peerT", big); });
  ASSERT_TRUE(
      eventually([&] { return !server->value("/__trystero__/roomT/peerT/selfA").is_null(); }));
  EXPECT_EQ(server->value("/__trystero__/roomT/peerT/selfA").begin().value(), big);
}

TEST_F(FirebaseStrategyTest, LeavingRemovesThePresence) {
  subscribe();
  loop.invoke([&] { strategy->announce(0, "roomT", "selfT"); });
  ASSERT_TRUE(eventually([&] { return !server->value(kSelfPath).is_null(); }));
  loop.invoke([&] { strategy->unsubscribe(0, "roomT", "selfT"); });
  ASSERT_TRUE(eventually([&] { return server->value(kSelfPath).is_null(); }));
}

TEST_F(FirebaseStrategyTest, MalformedServerFramesAreDroppedAndBadFramingReconnects) {
  subscribe();
  std::string deep = R"({"t":"d","d":{"a":"d","b":{"p":"x","d":)" + std::string(1000, '[') + "}}}";
  server->sendRaw({"not json", "1", R"({"t":"d","d":{"a":"d","b":{"p":5}}})", deep,
                   R"({"t":"d","d":{"r":"x"}})", R"({"t":"c","d":{"t":"h"}})"});
  ASSERT_TRUE(eventually(
      [&] { return loop.invoke([&] { return connection->stats().malformedIn; }) >= 5; }));
  EXPECT_EQ(server->connections(), 1);
  server->sendRaw({"99999"});  // more frames than any message we accept
  ASSERT_TRUE(eventually([&] { return !loop.invoke([&] { return connection->connected(); }); }));
  loop.advanceClock(std::chrono::milliseconds(1000));  // the SDK's first retry delay
  ASSERT_TRUE(eventually([&] { return server->requests("q").size() == 2; }));
  server->set("/__trystero__/roomT/newT/_", {{"peerId", "new"}});
  ASSERT_TRUE(eventually([&] { return messages().size() == 1; }));
}

TEST_F(FirebaseStrategyTest, AReconnectRestoresListensAndOnDisconnectRemovals) {
  subscribe();
  loop.invoke([&] { strategy->announce(0, "roomT", "selfT"); });
  ASSERT_TRUE(eventually([&] { return server->requests("o").size() == 1; }));
  server->dropAll();
  ASSERT_TRUE(eventually([&] { return !loop.invoke([&] { return connection->connected(); }); }));
  loop.advanceClock(std::chrono::milliseconds(1000));
  ASSERT_TRUE(eventually([&] { return server->requests("o").size() == 2; }));
  EXPECT_EQ(server->connections(), 2);
  EXPECT_EQ(server->requests("q").size(), 2u);
  EXPECT_EQ(server->requests("o")[1].body["p"], kSelfPath);
}

TEST_F(FirebaseStrategyTest, KeepAliveAfter45SecondsWithoutTraffic) {
  subscribe();
  EXPECT_EQ(server->keepAlives(), 0);
  loop.advanceClock(std::chrono::milliseconds(45000));
  ASSERT_TRUE(eventually([&] { return server->keepAlives() == 1; }));
}

TEST(FirebaseConnection, WritesQueuedOfflineGoOutAfterTheHandshakeTheLatestPerPath) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer server(serverLoop);
  std::shared_ptr<Connection> connection;
  std::vector<std::string> statuses;
  loop.invoke([&] {
    connection = std::make_shared<Connection>(loop, *parseDatabaseUrl(server.databaseUrl()));
    connection->set("/x", 1, [&](const std::string& s) { statuses.push_back("x1 " + s); });
    connection->set("/y", 2);
    connection->set("/x", 3, [&](const std::string& s) { statuses.push_back("x3 " + s); });
    connection->start();
  });
  ASSERT_TRUE(eventually([&] { return loop.invoke([&] { return statuses.size(); }) == 1; }));
  EXPECT_EQ(loop.invoke([&] { return statuses; }), std::vector<std::string>{"x3 ok"});
  auto writes = server.requests("p");
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].body, json({{"p", "/y"}, {"d", 2}}));
  EXPECT_EQ(writes[1].body, json({{"p", "/x"}, {"d", 3}}));
  EXPECT_EQ(server.value("/x"), 3);
  loop.invoke([&] { connection->close(); });
}

TEST(FirebaseOccupants, ListsThePeersPresentWithoutJoining) {
  loop::Loop serverLoop;
  FakeRtdbServer server(serverLoop);
  Config config;
  config.appId = server.databaseUrl("occupants");
  const std::string room =
      "/__trystero__/" + crypto::topicHash("Trystero@" + config.appId + "@lobby");
  EXPECT_TRUE(trystero::firebase::getOccupants(config, "lobby").get().empty());
  server.set(room + "/aT/_", {{"peerId", "peerA"}});
  server.set(room + "/bT/_", {{"peerId", "peerB"}});
  server.set(room + "/cT/someone/-P7EevlGo2TEZ05-zpsE", "left-over signal, no presence");
  auto ids = trystero::firebase::getOccupants(config, "lobby").get();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"peerA", "peerB"}));
  config.appId = "not-a-url";
  EXPECT_THROW(trystero::firebase::getOccupants(config, "lobby"), std::invalid_argument);
}

}  // namespace
}  // namespace trystero::strategies::firebase

// The firebase strategy and its database connection against a scripted Realtime Database that
// behaves as firebase-server 1.1.0 (tests/support/fake_rtdb_server.hpp): the layout firebase.js
// writes, which presences and signals reach the engine, hostile frames, reconnects, keepalive
// and getOccupants.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
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

// --- Auth tokens and redirects --------------------------------------------------------------

namespace trystero::strategies::firebase {
namespace {

// A connection with options of the test's choosing, its refusals collected.
struct Client {
  Client(loop::Loop& loop, const std::string& databaseUrl, Connection::Options options)
      : loop(loop) {
    loop.invoke([&] {
      connection = std::make_shared<Connection>(loop, *parseDatabaseUrl(databaseUrl), options);
      connection->addRefusalHandler([this](const Connection::Refusal& refusal) {
        std::lock_guard lock(mutex);
        refusals.push_back(refusal.describe());
      });
      connection->start();
    });
  }
  ~Client() {
    loop.invoke([&] {
      connection->close();
      connection.reset();
    });
  }
  std::vector<std::string> refused() {
    std::lock_guard lock(mutex);
    return refusals;
  }
  bool connected() {
    return loop.invoke([&] { return connection->connected(); });
  }

  loop::Loop& loop;
  std::shared_ptr<Connection> connection;
  std::mutex mutex;
  std::vector<std::string> refusals;
};

Connection::Options withToken(const std::string& token) {
  Connection::Options options;
  options.authToken = token;
  return options;
}

// The actions of the requests, in the order the server got them.
std::vector<std::string> actions(const std::vector<FakeRtdbServer::Request>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.action);
  return out;
}

TEST(FirebaseAuth, TheTokenIsPresentedFirstAfterEveryHandshake) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer server(serverLoop);
  server.requireAuth("sesame");
  Client client(loop, server.databaseUrl(), withToken("sesame"));
  std::atomic<int> values{0};
  loop.invoke([&] { client.connection->listen("/room", [&](const json&) { values++; }); });
  ASSERT_TRUE(eventually([&] { return values.load() == 1; }));
  EXPECT_TRUE(loop.invoke([&] { return client.connection->authenticated(); }));
  auto first = server.requests();
  ASSERT_GE(first.size(), 2u);
  // Not a JWT with an iat claim: the SDK's `gauth`.
  EXPECT_EQ(first[0].action, "gauth");
  EXPECT_EQ(first[0].body, json({{"cred", "sesame"}}));
  EXPECT_EQ(first[1].action, "q");

  server.dropAll();
  ASSERT_TRUE(eventually([&] { return !client.connected(); }));
  loop.advanceClock(std::chrono::milliseconds(1000));
  ASSERT_TRUE(eventually([&] { return values.load() == 2; }));
  auto all = actions(server.requests());
  const std::vector<std::string> again(all.begin() + static_cast<std::ptrdiff_t>(first.size()),
                                       all.end());
  ASSERT_GE(again.size(), 2u);
  EXPECT_EQ(again[0], "gauth") << "auth again, before the listen";
  EXPECT_EQ(again[1], "q");
  EXPECT_TRUE(client.refused().empty());
}

TEST(FirebaseAuth, AJwtWithAnIatClaimGoesAsAuth) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer server(serverLoop);
  // {"alg":"HS256","typ":"JWT"} . {"v":0,"iat":1700000000,"d":{"uid":"native"}} . signature
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJ2IjowLCJpYXQiOjE3MDAwMDAwMDAsImQiOnsidWlkIjoibmF0aXZlIn19.c2lnbmF0dXJl";
  Client client(loop, server.databaseUrl(), withToken(jwt));
  ASSERT_TRUE(eventually([&] { return !server.requests().empty(); }));
  EXPECT_EQ(server.requests()[0].action, "auth");
  EXPECT_EQ(server.requests()[0].body, json({{"cred", jwt}}));
}

TEST(FirebaseAuth, AWrongTokenAndTheDeniedListenAreReportedInTheServersWords) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer server(serverLoop);
  server.requireAuth("sesame");
  Client client(loop, server.databaseUrl(), withToken("open up"));
  std::vector<std::pair<std::string, std::string>> errors;  // loop thread
  std::unique_ptr<FirebaseStrategy> strategy;
  loop.invoke([&] {
    strategy = std::make_unique<FirebaseStrategy>(client.connection, "", "selfA");
    strategy->setErrorHandler([&](const std::string& topic, const std::string& error) {
      errors.emplace_back(topic, error);
    });
    strategy->subscribe(0, "roomT", "selfT", [](const std::string&, const std::string&) {});
    strategy->announce(0, "roomT", "selfT");
  });
  ASSERT_TRUE(eventually([&] { return client.refused().size() >= 3; }));
  auto refused = client.refused();
  EXPECT_EQ(refused[0], "the auth token was refused: invalid_token (Could not parse auth token.)");
  EXPECT_EQ(refused[1], std::string("reading ") + kRoot +
                            " was refused: permission_denied (Permission denied)");
  EXPECT_EQ(refused[2], std::string("writing ") + kSelfPath +
                            " was refused: permission_denied (Permission denied)");
  // A second announce is refused again, but the room hears of each kind once.
  loop.invoke([&] { strategy->announce(0, "roomT", "selfT"); });
  ASSERT_TRUE(eventually([&] { return client.refused().size() == 4; }));
  auto reported = loop.invoke([&] { return errors; });
  ASSERT_EQ(reported.size(), 3u);
  EXPECT_EQ(reported[0],
            std::make_pair(std::string("roomT"),
                           std::string("firebase: the auth token was refused: invalid_token "
                                       "(Could not parse auth token.)")));
  EXPECT_NE(reported[1].second.find("permission_denied (Permission denied)"), std::string::npos);
  EXPECT_TRUE(client.connected()) << "a refusal does not end the connection";
  EXPECT_FALSE(loop.invoke([&] { return client.connection->authenticated(); }));
  loop.invoke([&] { strategy.reset(); });
}

// The connection is shared: a room that subscribes after the token was refused hears of it too.
TEST(FirebaseAuth, ARoomThatComesAfterTheRefusalHearsOfIt) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer server(serverLoop);
  server.requireAuth("sesame");
  Client client(loop, server.databaseUrl(), withToken("open up"));
  ASSERT_TRUE(eventually([&] { return client.refused().size() == 1; }));
  std::vector<std::pair<std::string, std::string>> errors;  // loop thread
  std::unique_ptr<FirebaseStrategy> strategy;
  loop.invoke([&] {
    strategy = std::make_unique<FirebaseStrategy>(client.connection, "", "selfA");
    strategy->setErrorHandler([&](const std::string& topic, const std::string& error) {
      errors.emplace_back(topic, error);
    });
    strategy->subscribe(0, "roomT", "selfT", [](const std::string&, const std::string&) {});
  });
  ASSERT_TRUE(eventually([&] { return loop.invoke([&] { return errors.size(); }) == 2; }));
  auto reported = loop.invoke([&] { return errors; });
  EXPECT_NE(std::find(reported.begin(), reported.end(),
                      std::make_pair(std::string("roomT"),
                                     std::string("firebase: the auth token was refused: "
                                                 "invalid_token (Could not parse auth token.)"))),
            reported.end());
  loop.invoke([&] { strategy.reset(); });
}

TEST(FirebaseAuth, ARevokedTokenIsReported) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer server(serverLoop);
  Client client(loop, server.databaseUrl(), withToken("sesame"));
  ASSERT_TRUE(eventually([&] {
    return client.connected() && loop.invoke([&] { return client.connection->authenticated(); });
  }));
  server.sendRaw(
      {R"({"t":"d","d":{"a":"ac","b":{"s":"expired_token","d":"Auth token is expired."}}})",
       R"({"t":"d","d":{"a":"c","b":{"p":"/room"}}})"});
  ASSERT_TRUE(eventually([&] { return client.refused().size() == 2; }));
  EXPECT_EQ(client.refused()[0],
            "the auth token was revoked: expired_token (Auth token is expired.)");
  EXPECT_EQ(client.refused()[1], "reading /room was revoked: permission_denied");
  EXPECT_FALSE(loop.invoke([&] { return client.connection->authenticated(); }));
}

TEST(FirebaseRedirect, ARedirectBeforeTheHandshakeIsFollowedAtOnce) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer target(serverLoop);
  FakeRtdbServer first(serverLoop);
  first.redirectTo(target.host());
  Client client(loop, first.databaseUrl("shard"), withToken("sesame"));
  std::atomic<int> values{0};
  loop.invoke([&] { client.connection->listen("/room", [&](const json&) { values++; }); });
  ASSERT_TRUE(eventually([&] { return values.load() == 1; }));
  EXPECT_EQ(first.connections(), 1);
  EXPECT_EQ(target.connections(), 1);
  ASSERT_FALSE(target.urlsSeen().empty());
  EXPECT_NE(target.urlsSeen()[0].find("/.ws?v=5&ns=shard"), std::string::npos);
  EXPECT_EQ(actions(target.requests()), (std::vector<std::string>{"gauth", "q"}));
  EXPECT_TRUE(first.requests().empty());
  EXPECT_EQ(loop.invoke([&] { return client.connection->stats().redirects; }), 1u);
}

TEST(FirebaseRedirect, ARedirectWhileConnectedMovesAfterTheRetryDelay) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer target(serverLoop);
  FakeRtdbServer first(serverLoop);
  Client client(loop, first.databaseUrl(), {});
  std::atomic<int> values{0};
  loop.invoke([&] { client.connection->listen("/room", [&](const json&) { values++; }); });
  ASSERT_TRUE(eventually([&] { return values.load() == 1; }));
  first.sendRaw({R"({"t":"c","d":{"t":"r","d":")" + target.host() + R"("}})"});
  ASSERT_TRUE(eventually([&] { return !client.connected(); }));
  loop.advanceClock(std::chrono::milliseconds(1000));
  ASSERT_TRUE(eventually([&] { return values.load() == 2; }));
  EXPECT_EQ(target.requests("q").size(), 1u);
}

TEST(FirebaseRedirect, RedirectsAreBoundedAndOnlyToHostNames) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer a(serverLoop);
  FakeRtdbServer b(serverLoop);
  // A sends to B, B back to A: three hops, then the fourth redirect is ignored.
  a.redirectTo(b.host());
  b.redirectTo(a.host());
  Connection::Options options;
  options.maxRedirects = 3;
  Client client(loop, a.databaseUrl(), options);
  ASSERT_TRUE(eventually([&] { return a.connections() + b.connections() == 4; }));
  EXPECT_EQ(loop.invoke([&] { return client.connection->stats().redirects; }), 3u);
  loop.advanceClock(std::chrono::milliseconds(5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(a.connections() + b.connections(), 4);

  // Not a host name: dropped, the connection stays where it is.
  FakeRtdbServer c(serverLoop);
  Client other(loop, c.databaseUrl(), {});
  ASSERT_TRUE(eventually([&] { return other.connected(); }));
  c.sendRaw({R"({"t":"c","d":{"t":"r","d":"evil.example/../x?y"}})",
             R"({"t":"c","d":{"t":"r","d":""}})"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  loop.advanceClock(std::chrono::milliseconds(5000));
  EXPECT_TRUE(other.connected());
  EXPECT_EQ(c.connections(), 1);
  EXPECT_EQ(loop.invoke([&] { return other.connection->stats().redirects; }), 0u);
}

TEST(FirebaseRedirect, TheHandshakeHostIsUsedForTheNextConnectionWhenFollowed) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer shard(serverLoop);
  FakeRtdbServer first(serverLoop);
  first.setHandshakeHost(shard.host());
  Connection::Options options;
  options.followHandshakeHost = true;  // the default for https databases only
  Client client(loop, first.databaseUrl(), options);
  ASSERT_TRUE(eventually([&] { return client.connected(); }));
  first.dropAll();
  ASSERT_TRUE(eventually([&] { return !client.connected(); }));
  loop.advanceClock(std::chrono::milliseconds(1000));
  ASSERT_TRUE(eventually([&] { return client.connected(); }));
  EXPECT_EQ(shard.connections(), 1);
  EXPECT_EQ(first.connections(), 1);

  // A handshake host that cannot be reached: back to the database's own host.
  shard.setHandshakeHost("127.0.0.1:1");
  shard.dropAll();
  ASSERT_TRUE(eventually([&] { return !client.connected(); }));
  loop.advanceClock(std::chrono::milliseconds(1000));  // to 127.0.0.1:1, refused
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  loop.advanceClock(std::chrono::milliseconds(1000));  // back to the configured host
  ASSERT_TRUE(eventually([&] {
    loop.advanceClock(std::chrono::milliseconds(1000));
    return client.connected() && first.connections() == 2;
  }));
}

TEST(FirebaseRedirect, LocalServersNamingThemselvesInTheHandshakeAreNotFollowed) {
  loop::Loop serverLoop;
  loop::Loop loop;
  FakeRtdbServer server(serverLoop);
  server.setHandshakeHost("trystero-interop");  // what firebase-server sends: its name
  Client client(loop, server.databaseUrl(), {});
  ASSERT_TRUE(eventually([&] { return client.connected(); }));
  server.dropAll();
  ASSERT_TRUE(eventually([&] { return !client.connected(); }));
  loop.advanceClock(std::chrono::milliseconds(1000));
  ASSERT_TRUE(eventually([&] { return client.connected(); }));
  EXPECT_EQ(server.connections(), 2);
}

}  // namespace
}  // namespace trystero::strategies::firebase

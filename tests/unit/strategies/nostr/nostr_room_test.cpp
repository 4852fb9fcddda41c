// Nostr end to end: rooms meet through a strict NIP-01 relay (tests/interop/relays/
// nostr_relay.mjs, which checks every event id and BIP-340 signature with @noble/secp256k1) on
// loopback. Skipped when node or tests/interop/node_modules is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <sstream>

#include "room/config.hpp"
#include "room/id.hpp"
#include "room/signaller.hpp"
#include "strategies/nostr/nostr_strategy.hpp"
#include "support/eventually.hpp"
#include "support/room_helpers.hpp"
#include "trystero/nostr.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using strategies::nostr::NostrStrategy;

namespace {

using trystero::testing::Identity;
using trystero::testing::Inbox;
using trystero::testing::join;

// Why the relay cannot run here, or empty.
std::string relayUnavailable() {
  return trystero::testing::nodeUnavailable({"ws", "@noble/secp256k1"});
}

// The strict relay; port 0: any free port.
class Relay : public trystero::testing::NodeServer {
 public:
  explicit Relay(int port = 0)
      : NodeServer("nostr relay", "nostr_relay.mjs", {"--port", std::to_string(port)}) {}
};

using trystero::testing::eventually;

Config testConfig(const std::string& relayUrl) {
  return trystero::testing::testConfig("trystero-cpp-nostr-test", {relayUrl});
}

Identity makeIdentity(const Config& config) {
  return trystero::testing::makeIdentity(config, [&](loop::Loop& loop, const std::string& id) {
    return std::make_unique<NostrStrategy>(loop, config.relayUrls, id);
  });
}

class NostrRoomTest : public ::testing::Test {
 protected:
  // One relay for the whole process (it stops at exit): the public nostr strategy keeps the
  // relay URL of its first join for the life of the process, so the URL must not change
  // between suites (--gtest_repeat).
  static void SetUpTestSuite() {
    if (relay || !unavailable.empty()) return;
    unavailable = relayUnavailable();
    if (unavailable.empty()) relay = std::make_unique<Relay>();
  }
  void SetUp() override {
    if (!relay) GTEST_SKIP() << unavailable;
    // Sanitizer hygiene: OpenSSL's DRBGs are first instantiated on the main thread (LeakSanitizer
    // may report them at exit when the loop thread was first; see nostr_test.cpp).
    (void)nostr::wire::processKeyPair();
    (void)trystero::selfId();
  }
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop::Loop::shared().invoke([&] { identities.clear(); });
  }

  static std::unique_ptr<Relay> relay;
  static std::string unavailable;
  std::vector<Identity> identities;
  std::vector<std::shared_ptr<Room>> rooms;
};

std::unique_ptr<Relay> NostrRoomTest::relay;
std::string NostrRoomTest::unavailable;

// Two strategies on one relay URL (they share its connection), loop thread only.
struct StrategyPair {
  std::unique_ptr<NostrStrategy> listener, speaker;
  std::string speakerId;
};

StrategyPair makeStrategies(const std::string& url) {
  auto& loop = loop::Loop::shared();
  auto speakerId = crypto::generateId(20);
  return loop.invoke([&] {
    return StrategyPair{
        std::make_unique<NostrStrategy>(loop, std::vector<std::string>{url},
                                        crypto::generateId(20)),
        std::make_unique<NostrStrategy>(loop, std::vector<std::string>{url}, speakerId), speakerId};
  });
}

bool relayOpen(NostrStrategy& strategy, std::uint64_t opens = 1) {
  return loop::Loop::shared().invoke([&] {
    auto info = strategy.relaySockets().at(0);
    return info.state == RelaySocketInfo::State::Open && info.opens >= opens;
  });
}

}  // namespace

TEST_F(NostrRoomTest, TwoIdentitiesExchangeAnAction) {
  const auto config = testConfig(relay->url());
  identities.push_back(makeIdentity(config));
  identities.push_back(makeIdentity(config));
  auto a = join(identities[0], config, "vineland");
  auto b = join(identities[1], config, "vineland");
  rooms = {a, b};
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  EXPECT_EQ(a->getPeers()[0], identities[1].id);
  EXPECT_EQ(b->getPeers()[0], identities[0].id);

  Inbox inbox;
  auto [send, receive, progress] = a->makeAction("horn");
  b->makeAction("horn").receive([&](const Payload& data, const std::string& from, const Metadata&) {
    inbox.add(from, data.isText() ? data.text() : data.json().dump());
  });
  send("muted post horn").get();
  send(nlohmann::json{{"w", "a.s.t.e."}}).get();
  ASSERT_TRUE(eventually([&] { return inbox.size() == 2; }));
  auto got = inbox.copy();
  EXPECT_EQ(got[0], std::make_pair(identities[0].id, std::string("muted post horn")));
  EXPECT_EQ(got[1], std::make_pair(identities[0].id, std::string("{\"w\":\"a.s.t.e.\"}")));
  trystero::testing::expectMediaBothWays(*a, identities[0].id, *b, identities[1].id);

  auto sockets = loop::Loop::shared().invoke(
      [&] { return identities[0].signaller->strategy().relaySockets(); });
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].url, relay->url());
  EXPECT_EQ(sockets[0].state, RelaySocketInfo::State::Open);
  EXPECT_GT(sockets[0].messagesOut, 0u);
  EXPECT_GT(sockets[0].messagesIn, 0u);
}

// The public API (this process's selfId and key) with a second identity beside it.
TEST_F(NostrRoomTest, PublicJoinRoomMeetsAnotherIdentity) {
  const auto config = testConfig(relay->url());
  auto publicRoom = trystero::nostr::joinRoom(config, "lot49");
  rooms.push_back(publicRoom);
  identities.push_back(makeIdentity(config));
  auto other = join(identities[0], config, "lot49");
  rooms.push_back(other);
  ASSERT_TRUE(eventually(
      [&] { return publicRoom->getPeers().size() == 1 && other->getPeers().size() == 1; }));
  EXPECT_EQ(publicRoom->getPeers()[0], identities[0].id);
  EXPECT_EQ(other->getPeers()[0], trystero::selfId());

  Inbox toPublic, toOther;
  auto pub = publicRoom->makeAction("tristero");
  auto oth = other->makeAction("tristero");
  pub.receive([&](const Payload& d, const std::string& from, const Metadata&) {
    toPublic.add(from, d.text());
  });
  oth.receive([&](const Payload& d, const std::string& from, const Metadata&) {
    toOther.add(from, d.text());
  });
  pub.send("from the public room").get();
  oth.send("from the signaller").get();
  ASSERT_TRUE(eventually([&] { return toPublic.size() == 1 && toOther.size() == 1; }));
  EXPECT_EQ(toPublic.copy()[0],
            std::make_pair(identities[0].id, std::string("from the signaller")));
  EXPECT_EQ(toOther.copy()[0],
            std::make_pair(trystero::selfId(), std::string("from the public room")));

  auto sockets = trystero::nostr::getRelaySockets();
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].url, relay->url());
  EXPECT_EQ(sockets[0].state, RelaySocketInfo::State::Open);
  EXPECT_GT(sockets[0].messagesOut, 0u);
}

// Every content survives the relay's id and signature checks (noble) and comes back intact.
TEST_F(NostrRoomTest, StrictRelayAcceptsOurEvents) {
  auto pair = makeStrategies(relay->url());
  ASSERT_TRUE(eventually([&] { return relayOpen(*pair.listener); }));
  Inbox inbox;
  const std::string root = "root-topic-for-signature-check", self = "self-topic-for-check";
  loop::Loop::shared().invoke([&] {
    pair.listener->subscribe(0, root, self, [&](const std::string& topic, const std::string& m) {
      inbox.add(topic, m);
    });
  });
  // (The connection is shared with every other user of this relay URL in the process.)
  auto notices = [&] {
    return loop::Loop::shared().invoke([&] { return pair.speaker->relay(0)->stats().notices; });
  };
  const auto noticesBefore = notices();
  const std::vector<std::string> contents = {
      "",
      "quotes \" \\ and /",
      "line\nbreak\r\ttab\b\f",
      std::string("nul \x00 \x01 \x1f \x7f", 11),
      "é 日本語 🎉👩‍👩‍👧 \u2028\u2029\uFEFF",
      std::string(20000, 'x')};
  loop::Loop::shared().invoke([&] {
    for (const auto& c : contents) pair.speaker->signal(0, self, c);
    pair.speaker->announce(0, root, self);
  });
  ASSERT_TRUE(eventually([&] { return inbox.size() == contents.size() + 1; }));
  auto got = inbox.copy();
  for (std::size_t i = 0; i < contents.size(); ++i) {
    EXPECT_EQ(got[i].first, self);
    EXPECT_EQ(got[i].second, contents[i]);
  }
  EXPECT_EQ(got.back().first, root);
  EXPECT_EQ(got.back().second, nostr::wire::makeAnnounceContent(pair.speakerId));
  EXPECT_EQ(notices(), noticesBefore);

  // A forged event is refused by the relay (OK false), which we log and count.
  loop::Loop::shared().invoke([&] {
    pair.speaker->relay(0)->publish(
        "[\"EVENT\",{\"kind\":20001,\"tags\":[],\"created_at\":1,\"content\":\"\",\"pubkey\":\"" +
        std::string(64, 'a') + "\",\"id\":\"" + std::string(64, 'b') + "\",\"sig\":\"" +
        std::string(128, 'c') + "\"}]");
  });
  EXPECT_TRUE(eventually([&] { return notices() == noticesBefore + 1; }));
  loop::Loop::shared().invoke([&] { pair = {}; });
}

// Unlike nostr.js, subscriptions come back after the relay restarts.
TEST_F(NostrRoomTest, ResubscribesAfterRelayRestart) {
  net::RelaySocket::setRetryDelays(100ms, 400ms);
  auto own = std::make_unique<Relay>();
  const int port = own->port();
  const std::string url = own->url();
  auto pair = makeStrategies(url);
  ASSERT_TRUE(eventually([&] { return relayOpen(*pair.listener); }));
  Inbox inbox;
  loop::Loop::shared().invoke([&] {
    pair.listener->subscribe(
        0, "r", "s", [&](const std::string& topic, const std::string& m) { inbox.add(topic, m); });
    pair.speaker->signal(0, "s", "before");
  });
  ASSERT_TRUE(eventually([&] { return inbox.size() == 1; }));

  own.reset();  // the relay goes away, taking its subscriptions with it
  ASSERT_TRUE(eventually([&] { return !relayOpen(*pair.listener); }));
  own = std::make_unique<Relay>(port);
  ASSERT_TRUE(eventually([&] { return relayOpen(*pair.listener, 2); }));
  loop::Loop::shared().invoke([&] { pair.speaker->signal(0, "s", "after"); });
  ASSERT_TRUE(eventually([&] { return inbox.size() == 2; }));
  EXPECT_EQ(inbox.copy()[1], std::make_pair(std::string("s"), std::string("after")));
  auto info = loop::Loop::shared().invoke([&] { return pair.listener->relaySockets().at(0); });
  EXPECT_GE(info.reconnects, 1u);
  EXPECT_EQ(info.opens, 2u);
  loop::Loop::shared().invoke([&] { pair = {}; });
  net::RelaySocket::resetRetryDelays();
}

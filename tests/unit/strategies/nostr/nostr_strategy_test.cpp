// The Nostr strategy: default relays as nostr.js picks them, and the relay connection's handling
// of what relays deliver, hostile input included (the wire format: tests/unit/nostr/).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "nostr/wire.hpp"
#include "room/id.hpp"
#include "room/registry.hpp"
#include "strategies/nostr/nostr_strategy.hpp"
#include "support/nostr_vectors.hpp"
#include "trystero/nostr.hpp"

using namespace trystero;
using namespace trystero::strategies::nostr;
using namespace trystero::nostr::wire;
using nlohmann::json;
using trystero::testing::asDelivered;
using trystero::testing::deliveredJson;
using trystero::testing::eventJson;

namespace {

const json& vectors() { return trystero::testing::nostrVectors(); }

// Test hygiene for the sanitizer build, not product behaviour:
// - OpenSSL's DRBGs (and the secp256k1 context) are first used here, on the main thread. When
//   the loop thread instantiates OpenSSL's primary DRBG, LeakSanitizer at exit sometimes reports
//   it, since OpenSSL frees per-thread state only for threads that end before OPENSSL_cleanup.
// - Before a test drops its connections, their first connect attempt must have finished: a
//   process that exits while the loop thread is still inside libsoup/GIO's lazy setup can abort
//   in GObject's type system.
void useCryptoOnMainThread() { (void)processKeyPair(); }

void waitForFirstAttempt(const std::shared_ptr<RelayConnection>& connection) {
  auto& loop = loop::Loop::shared();
  for (int i = 0; i < 1000; ++i) {
    if (loop.invoke([&] { return connection->info().state == RelaySocketInfo::State::Waiting; })) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "no connection attempt finished for " << connection->url();
}

}  // namespace

TEST(NostrWire, DefaultRelaysMatchNostrJs) {
  EXPECT_EQ(defaultRelayUrls(), vectors()["defaultRelayUrls"].get<std::vector<std::string>>());
  EXPECT_EQ(&trystero::nostr::defaultRelayUrls(), &defaultRelayUrls());
  for (const auto& v : vectors()["relays"]) {
    Config config;
    config.appId = v["config"]["appId"].get<std::string>();
    config.relayRedundancy = v["config"].value("relayRedundancy", 0);
    if (v["config"].contains("relayUrls")) {
      config.relayUrls = v["config"]["relayUrls"].get<std::vector<std::string>>();
    }
    EXPECT_EQ(room::selectRelays(config, defaultRelayUrls(), kDefaultRedundancy, true),
              v["relays"].get<std::vector<std::string>>())
        << v["config"].dump();
  }
}

// The connection's dispatch: only well-formed, verified events inside a live subscription's
// kind and tag reach the room; everything else is counted and dropped.
TEST(NostrConnection, DispatchDropsWhatDoesNotBelong) {
  auto& loop = loop::Loop::shared();
  const auto& v = vectors()["events"];
  const std::string message = v[1]["message"];
  const std::string topic = v[1]["topic"];
  const std::string otherMessage = v[0]["message"];  // another topic and kind
  struct Got {
    std::vector<std::pair<std::string, std::string>> events;
  } got;
  useCryptoOnMainThread();
  // Nothing listens on port 9 of loopback: the socket just keeps retrying.
  auto connection =
      loop.invoke([&] { return RelayConnection::get(loop, "ws://127.0.0.1:9/dispatch-test"); });
  waitForFirstAttempt(connection);
  loop.invoke([&] {
    EXPECT_EQ(RelayConnection::get(loop, "ws://127.0.0.1:9/dispatch-test"), connection);
    connection->subscribe("sub", topic, [&](const std::string& t, const std::string& content) {
      got.events.emplace_back(t, content);
    });
    EXPECT_EQ(connection->subscriptionCount(), 1u);

    connection->handleText(asDelivered(message, "sub"));
    ASSERT_EQ(got.events.size(), 1u);
    EXPECT_EQ(got.events[0].first, topic);
    EXPECT_EQ(got.events[0].second, v[1]["content"].get<std::string>());
    EXPECT_EQ(connection->stats().eventsDelivered, 1u);

    connection->handleText(asDelivered(message, "unknown-sub"));
    connection->handleText(asDelivered(otherMessage, "sub"));  // wrong kind and tag
    json wrongTag = eventJson(message);
    wrongTag["tags"] = json::array({json::array({"y", topic})});
    connection->handleText(deliveredJson("sub", wrongTag));
    json badSig = eventJson(message);
    badSig["sig"] = std::string(128, '0');
    connection->handleText(deliveredJson("sub", badSig));
    EXPECT_EQ(got.events.size(), 1u);
    EXPECT_EQ(connection->stats().eventsDropped, 4u);

    connection->handleText("[\"NOTICE\",\"rate limited\"]");
    connection->handleText("[\"OK\",\"abc\",false,\"invalid: bad signature\"]");
    connection->handleText("[\"OK\",\"abc\",true,\"\"]");
    connection->handleText("[\"CLOSED\",\"sub\",\"error: gone\"]");
    connection->handleText("[\"EOSE\",\"sub\"]");
    connection->handleText("[\"AUTH\",\"challenge\"]");
    EXPECT_EQ(connection->stats().notices, 3u);
    connection->handleText("[\"WHAT\"]");
    connection->handleText("not json");
    connection->handleText(std::string(kMaxRelayMessageBytes + 1, '['));
    for (int i = 0; i < 50; ++i)
      connection->handleText("[\"NOTICE\",\"spam\"]");  // rate-limited log
    EXPECT_EQ(connection->stats().messagesDropped, 3u);
    EXPECT_EQ(connection->stats().notices, 53u);

    // A handler that unsubscribes itself while running.
    connection->subscribe(
        "sub", topic,
        [&, weak = std::weak_ptr(connection)](const std::string& t, const std::string& content) {
          got.events.emplace_back(t, content);
          if (auto c = weak.lock()) c->unsubscribe("sub");
        });
    connection->handleText(asDelivered(message, "sub"));
    connection->handleText(asDelivered(message, "sub"));
    EXPECT_EQ(got.events.size(), 2u);
    EXPECT_EQ(connection->subscriptionCount(), 0u);

    auto info = connection->info();
    EXPECT_EQ(info.url, "ws://127.0.0.1:9/dispatch-test");
    EXPECT_NE(info.state, RelaySocketInfo::State::Open);
    EXPECT_EQ(info.opens, 0u);
    connection.reset();
  });
}

TEST(NostrStrategy, SharesOneConnectionPerUrlAndReportsSockets) {
  auto& loop = loop::Loop::shared();
  useCryptoOnMainThread();
  const auto idA = crypto::generateId(20), idB = crypto::generateId(20);
  const std::vector<std::string> urls = {"ws://127.0.0.1:9/a", "ws://127.0.0.1:9/b"};
  auto a = loop.invoke([&] { return std::make_unique<NostrStrategy>(loop, urls, idA); });
  waitForFirstAttempt(a->relay(0));
  waitForFirstAttempt(a->relay(1));
  loop.invoke([&] {
    auto b = std::make_unique<NostrStrategy>(loop, urls, idB);
    EXPECT_EQ(a->relayCount(), 2u);
    EXPECT_EQ(a->relay(0), b->relay(0));
    EXPECT_NE(a->relay(0), a->relay(1));
    EXPECT_EQ(a->publicKeyHex(), processKeyPair()->publicKeyHex());
    auto sockets = a->relaySockets();
    ASSERT_EQ(sockets.size(), 2u);
    EXPECT_EQ(sockets[0].url, urls[0]);
    EXPECT_EQ(sockets[1].url, urls[1]);

    a->subscribe(0, "root", "self", [](const std::string&, const std::string&) {});
    b->subscribe(0, "root", "self", [](const std::string&, const std::string&) {});
    EXPECT_EQ(a->relay(0)->subscriptionCount(), 4u);
    a->subscribe(0, "root", "self", [](const std::string&, const std::string&) {});  // again
    EXPECT_EQ(a->relay(0)->subscriptionCount(), 4u);
    a->unsubscribe(0, "root", "self");
    a->unsubscribe(1, "never", "subscribed");
    EXPECT_EQ(a->relay(0)->subscriptionCount(), 2u);
    // Sends while the relay is down are dropped, never queued.
    a->announce(0, "root", "self");
    a->signal(1, "topic", "{}");
    std::weak_ptr<RelayConnection> weak = a->relay(1);
    auto relay0 = a->relay(0);
    b.reset();
    EXPECT_EQ(relay0->subscriptionCount(), 0u);
    a.reset();
    EXPECT_TRUE(weak.expired());  // the last strategy closed it
  });
}

// Firebase end to end: two native identities (each with its own database connection, as two
// processes would have) meet in a room, talk, leave; getOccupants follows. Against the scripted
// database of tests/support/fake_rtdb_server.hpp, and against npm firebase-server 1.1.0
// (tests/interop/relays/firebase_server.mjs, skipped when node or the package is missing).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "room/config.hpp"
#include "strategies/firebase/firebase_strategy.hpp"
#include "support/eventually.hpp"
#include "support/fake_rtdb_server.hpp"
#include "support/room_helpers.hpp"
#include "trystero/firebase.hpp"

using namespace trystero;
using namespace std::chrono_literals;

namespace {

using strategies::firebase::Connection;
using strategies::firebase::FirebaseStrategy;
using trystero::testing::eventually;
using trystero::testing::Identity;
using trystero::testing::Inbox;

// A new identity with its own connection to the database (the appId).
Identity makeIdentity(const Config& config) {
  return trystero::testing::makeIdentity(config, [&](loop::Loop& loop, const std::string& id) {
    auto connection =
        std::make_shared<Connection>(loop, *strategies::firebase::parseDatabaseUrl(config.appId));
    connection->start();
    return std::make_unique<FirebaseStrategy>(connection, config.rootPath, id);
  });
}

std::vector<std::string> sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Two identities join, exchange an action, and leave one after the other; getOccupants sees
// two, one, none (both leavers remove their presence: firebase-server never runs onDisconnect).
void meetTalkAndLeave(const std::string& databaseUrl) {
  auto config = trystero::testing::testConfig(databaseUrl, {});
  config.rootPath = "room-test";
  std::vector<Identity> identities{makeIdentity(config), makeIdentity(config)};
  auto a = trystero::testing::join(identities[0], config, "vineland");
  auto b = trystero::testing::join(identities[1], config, "vineland");
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  EXPECT_EQ(a->getPeers()[0], identities[1].id);

  Inbox inbox;
  auto [send, receive, progress] = a->makeAction("horn");
  b->makeAction("horn").receive([&](const Payload& data, const std::string& from, const Metadata&) {
    inbox.add(from, data.text());
  });
  send("muted post horn").get();
  ASSERT_TRUE(eventually([&] { return inbox.size() == 1; }));
  EXPECT_EQ(inbox.copy()[0], std::make_pair(identities[0].id, std::string("muted post horn")));

  auto occupants = [&] { return sorted(firebase::getOccupants(config, "vineland").get()); };
  ASSERT_TRUE(eventually([&] {
    return occupants() == sorted({identities[0].id, identities[1].id});
  }));
  a->leave().waitFor(5s);
  ASSERT_TRUE(eventually([&] { return b->getPeers().empty(); }));
  ASSERT_TRUE(
      eventually([&] { return occupants() == std::vector<std::string>{identities[1].id}; }));
  b->leave().waitFor(5s);
  ASSERT_TRUE(eventually([&] { return occupants().empty(); }));
  loop::Loop::shared().invoke([&] { identities.clear(); });
}

TEST(FirebaseRoom, TwoIdentitiesMeetThroughTheScriptedDatabase) {
  loop::Loop serverLoop;
  trystero::testing::FakeRtdbServer server(serverLoop);
  meetTalkAndLeave(server.databaseUrl("fake"));
}

TEST(FirebaseRoom, TwoIdentitiesMeetThroughFirebaseServer) {
  auto unavailable = trystero::testing::nodeUnavailable({"firebase-server"});
  if (!unavailable.empty()) GTEST_SKIP() << unavailable;
  trystero::testing::NodeServer server("firebase-server", "firebase_server.mjs",
                                       {"--port", "0", "--name", "roomtest"});
  meetTalkAndLeave("http://127.0.0.1:" + std::to_string(server.port()) + "?ns=roomtest");
}

}  // namespace

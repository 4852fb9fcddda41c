// Firebase end to end: two native identities (each with its own database connection, as two
// processes would have) meet in a room, talk, leave; getOccupants follows. Against the scripted
// database of tests/support/fake_rtdb_server.hpp, and against npm firebase-server 1.1.0
// (tests/interop/relays/firebase_server.mjs, skipped when node or the package is missing).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "crypto/crypto.hpp"
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
    Connection::Options options;
    options.authToken = config.firebaseAuthToken;
    auto connection = std::make_shared<Connection>(
        loop, *strategies::firebase::parseDatabaseUrl(config.appId), options);
    connection->start();
    return std::make_unique<FirebaseStrategy>(connection, config.rootPath, id);
  });
}

// base64url without padding, as JWTs have it.
std::string base64Url(std::string_view data) {
  auto text =
      crypto::base64Encode({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
  for (auto& c : text) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

// RFC 2104 over the SHA-256 we have.
std::string hmacSha256(const std::string& key, const std::string& message) {
  std::string block = key.size() > 64 ? std::string(64, '\0') : key;
  block.resize(64, '\0');
  std::string inner(64, '\0'), outer(64, '\0');
  for (std::size_t i = 0; i < 64; ++i) {
    inner[i] = static_cast<char>(block[i] ^ 0x36);
    outer[i] = static_cast<char>(block[i] ^ 0x5c);
  }
  auto innerHash = crypto::sha256(inner + message);
  auto outerHash = crypto::sha256(outer + std::string(innerHash.begin(), innerHash.end()));
  return std::string(outerHash.begin(), outerHash.end());
}

// A token as firebase-token-generator mints them with the database secret (what firebase-server
// verifies): HS256, claims {v, iat, d: the rules' `auth`}.
std::string mintToken(const std::string& secret, const std::string& uid) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string signedPart =
      base64Url(R"({"alg":"HS256","typ":"JWT"})") + "." +
      base64Url(nlohmann::json({{"v", 0}, {"iat", now}, {"d", {{"uid", uid}}}}).dump());
  return signedPart + "." + base64Url(hmacSha256(secret, signedPart));
}

std::vector<std::string> sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Two identities join, exchange an action, and leave one after the other; getOccupants sees
// two, one, none (both leavers remove their presence: firebase-server never runs onDisconnect).
void meetTalkAndLeave(const std::string& databaseUrl, const std::string& token = {},
                      bool withMedia = false) {
  auto config = trystero::testing::testConfig(databaseUrl, {});
  config.firebaseAuthToken = token;
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
  if (withMedia) trystero::testing::expectMediaBothWays(*a, identities[0].id, *b, identities[1].id);

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
  meetTalkAndLeave("http://127.0.0.1:" + std::to_string(server.port()) + "?ns=roomtest", {},
                   /*withMedia=*/true);
}

// Rules that want sign-in: with the right token the room works as without rules.
TEST(FirebaseRoom, TwoIdentitiesMeetWithTheRightToken) {
  loop::Loop serverLoop;
  trystero::testing::FakeRtdbServer server(serverLoop);
  server.requireAuth("sesame");
  meetTalkAndLeave(server.databaseUrl("guarded"), "sesame");
}

// With a wrong one the room hears the server's refusal as a join error, and nothing hangs.
TEST(FirebaseRoom, AWrongTokenIsAJoinErrorInTheServersWords) {
  loop::Loop serverLoop;
  trystero::testing::FakeRtdbServer server(serverLoop);
  server.requireAuth("sesame");
  auto config = trystero::testing::testConfig(server.databaseUrl("guarded"), {});
  config.firebaseAuthToken = "open up";
  std::vector<Identity> identities{makeIdentity(config)};
  Inbox errors;
  auto room = trystero::testing::join(
      identities[0], config, "vineland",
      [&](const JoinError& error) { errors.add(error.roomId, error.error); });
  ASSERT_TRUE(eventually([&] { return errors.size() >= 2; }));
  auto reported = errors.copy();
  EXPECT_EQ(reported[0].first, "vineland");
  EXPECT_EQ(reported[0].second,
            "firebase: the auth token was refused: invalid_token (Could not parse auth token.)");
  EXPECT_NE(reported[1].second.find("was refused: permission_denied (Permission denied)"),
            std::string::npos)
      << reported[1].second;
  room->leave().waitFor(5s);
  loop::Loop::shared().invoke([&] { identities.clear(); });

  // getOccupants fails at once with the same words instead of waiting for its deadline.
  auto started = std::chrono::steady_clock::now();
  try {
    firebase::getOccupants(config, "vineland").get();
    ADD_FAILURE() << "getOccupants should fail";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("permission_denied (Permission denied)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  config.firebaseAuthToken = "sesame";
  EXPECT_TRUE(firebase::getOccupants(config, "vineland").get().empty());
}

// firebase-server with rules that want sign-in and tokens it verifies with its secret: a native
// peer with a token signed with another secret is refused in firebase-server's words; peers
// that sign in meet. (No JS peer here: trystero@0.22.0's firebase.js never signs in, and
// signing the Firebase JS SDK in needs Firebase Auth, which has no local stand-in in the tests.)
TEST(FirebaseRoom, TwoIdentitiesMeetThroughFirebaseServerWithRulesAndTokens) {
  auto unavailable = trystero::testing::nodeUnavailable({"firebase-server"});
  if (!unavailable.empty()) GTEST_SKIP() << unavailable;
  const std::string rules =
      R"({"rules":{".read":"auth != null",".write":"auth != null && auth.uid == 'native'"}})";
  trystero::testing::NodeServer server(
      "firebase-server", "firebase_server.mjs",
      {"--port", "0", "--name", "guarded", "--secret", "shh", "--rules", rules});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "?ns=guarded";
  // The refused token first: firebase-server judges an unauthenticated client with the auth of
  // the last client that wrote (targaryen's as(null) keeps the previous auth), so after the
  // signed-in peers below it would let anyone in.
  auto config = trystero::testing::testConfig(url, {});
  config.firebaseAuthToken = mintToken("not the secret", "native");
  std::vector<Identity> identities{makeIdentity(config)};
  Inbox errors;
  auto room = trystero::testing::join(
      identities[0], config, "vineland",
      [&](const JoinError& error) { errors.add(error.roomId, error.error); });
  ASSERT_TRUE(eventually([&] { return errors.size() >= 2; }));
  EXPECT_EQ(errors.copy()[0].second,
            "firebase: the auth token was refused: invalid_token (Could not parse auth token.)");
  EXPECT_NE(errors.copy()[1].second.find("permission_denied (Permission denied)"),
            std::string::npos);
  room->leave().waitFor(5s);
  loop::Loop::shared().invoke([&] { identities.clear(); });

  meetTalkAndLeave(url, mintToken("shh", "native"));
}

}  // namespace

// The Realtime Database wire codec: database URLs, push ids, frame splitting and reassembly,
// server messages (hostile ones included) and the local copy of a listened subtree. Vectors come
// from frames of the real SDK (/work/shared/design/managed-protocols.md section 2).
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "strategies/firebase/rtdb_wire.hpp"

namespace trystero::strategies::firebase {
namespace {

using nlohmann::json;

TEST(RtdbUrl, EmulatorUrlKeepsTheNamespaceInTheQuery) {
  auto db = parseDatabaseUrl("http://127.0.0.1:15000?ns=study");
  ASSERT_TRUE(db);
  EXPECT_EQ(db->host, "127.0.0.1:15000");
  EXPECT_FALSE(db->secure);
  EXPECT_EQ(db->ns, "study");
  EXPECT_TRUE(db->namespaceInQuery);
  // Captured: CONNECT /.ws?v=5&ns=study
  EXPECT_EQ(websocketUrl(*db, db->host), "ws://127.0.0.1:15000/.ws?v=5&ns=study");
  EXPECT_EQ(websocketUrl(*db, db->host, "abc"), "ws://127.0.0.1:15000/.ws?v=5&ls=abc&ns=study");
}

TEST(RtdbUrl, HostedDatabaseTakesTheNamespaceFromTheHost) {
  auto db = parseDatabaseUrl("https://My-DB.firebaseio.com/");
  ASSERT_TRUE(db);
  EXPECT_EQ(db->host, "my-db.firebaseio.com");
  EXPECT_TRUE(db->secure);
  EXPECT_EQ(db->ns, "my-db");
  EXPECT_FALSE(db->namespaceInQuery);
  EXPECT_EQ(websocketUrl(*db, db->host), "wss://my-db.firebaseio.com/.ws?v=5");
  EXPECT_EQ(websocketUrl(*db, "s-usc1a.firebaseio.com"), "wss://s-usc1a.firebaseio.com/.ws?v=5");
}

TEST(RtdbUrl, RejectsWhatIsNotADatabaseUrl) {
  for (const char* url : {"", "my-app", "ftp://x.firebaseio.com", "https://", "https://a b.com",
                          "wss://x.firebaseio.com", "http://?ns=x"}) {
    EXPECT_FALSE(parseDatabaseUrl(url)) << url;
  }
}

TEST(RtdbPushId, TimeIsEightBase64DigitsMostSignificantFirst) {
  PushIdGenerator ids([] { return 0; });
  EXPECT_EQ(ids.next(0), "--------------------");
  // 64^7 + 2 ms: digits 1,0,0,0,0,0,0,2 of "-0123...".
  const std::int64_t ms = (std::int64_t{1} << 42) + 2;
  EXPECT_EQ(ids.next(ms).substr(0, 8), "0------1");
}

TEST(RtdbPushId, CapturedIdDecodesToAPlausibleTimeAndRoundTrips) {
  // -P7EevlGo2TEZ05-zpsE was made by the SDK during the capture (handshake ts 1795559242010).
  const std::string captured = "-P7EevlGo2TEZ05-zpsE";
  std::int64_t ms = 0;
  for (char c : captured.substr(0, 8)) {
    ms = ms * 64 + static_cast<std::int64_t>(PushIdGenerator::kAlphabet.find(c));
  }
  EXPECT_NEAR(static_cast<double>(ms), 1795559242010.0, 60'000.0);
  PushIdGenerator ids;
  EXPECT_EQ(ids.next(ms).substr(0, 8), captured.substr(0, 8));
}

TEST(RtdbPushId, SameMillisecondIncrementsTheRandomPart) {
  PushIdGenerator ids([] { return 5; });  // '4'
  auto first = ids.next(1000);
  auto second = ids.next(1000);
  auto third = ids.next(1001);
  EXPECT_EQ(first.substr(8), "444444444444");
  EXPECT_EQ(second.substr(8), "444444444445");
  EXPECT_EQ(third.substr(8), "444444444444");  // a new ms draws again
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

TEST(RtdbPushId, IncrementCarries) {
  int calls = 0;
  PushIdGenerator ids([&] { return calls++ < 11 ? 0 : 63; });  // ...0 0 63
  auto first = ids.next(7);
  auto second = ids.next(7);
  EXPECT_EQ(first.substr(8), "-----------z");
  EXPECT_EQ(second.substr(8), "----------0-");
  EXPECT_LT(first, second);
}

TEST(RtdbPushId, IdsAreTwentyCharactersOfTheAlphabetAndSortInCreationOrder) {
  PushIdGenerator ids;
  std::vector<std::string> made;
  for (int i = 0; i < 200; ++i) made.push_back(ids.next(1795559242010 + i / 3));
  EXPECT_TRUE(std::is_sorted(made.begin(), made.end()));
  for (const auto& id : made) {
    ASSERT_EQ(id.size(), 20u);
    EXPECT_EQ(id.find_first_not_of(PushIdGenerator::kAlphabet), std::string::npos) << id;
  }
}

TEST(RtdbFrames, SplitsLongMessagesBehindAPieceCount) {
  EXPECT_EQ(splitMessage(std::string(16384, 'a')).size(), 1u);
  auto frames = splitMessage(std::string(16385, 'a'));
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], "2");
  EXPECT_EQ(frames[1].size(), 16384u);
  EXPECT_EQ(frames[2], "a");
  EXPECT_EQ(splitMessage(std::string(40000, 'b'))[0], "3");
}

TEST(RtdbFrames, ReassemblesCountPrefixedAndPlainFrames) {
  FrameAssembler frames;
  EXPECT_EQ(frames.feed("{\"t\":\"c\"}"), "{\"t\":\"c\"}");
  EXPECT_FALSE(frames.feed("1"));  // firebase-server: a count before every message
  EXPECT_EQ(frames.feed("{}"), "{}");
  std::string big = "{\"x\":\"" + std::string(40000, 'y') + "\"}";
  std::optional<std::string> out;
  for (const auto& frame : splitMessage(big)) {
    EXPECT_FALSE(out);
    out = frames.feed(frame);
  }
  EXPECT_EQ(out, big);
  EXPECT_FALSE(frames.feed("0"));                  // announces nothing
  EXPECT_EQ(frames.feed("12345678"), "12345678");  // longer than 6: a message, not a count
  EXPECT_FALSE(frames.failed());
}

TEST(RtdbFrames, BoundsWhatAHostileServerCanMakeUsBuffer) {
  FrameAssembler frames(100000);
  EXPECT_FALSE(frames.feed("999999"));  // more frames than 100000 characters allow
  EXPECT_TRUE(frames.failed());
  EXPECT_FALSE(frames.feed("{}"));  // failed until reset
  frames.reset();
  EXPECT_FALSE(frames.feed("7"));
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(frames.feed(std::string(16384, 'z')));
  EXPECT_FALSE(frames.failed());
  EXPECT_FALSE(frames.feed(std::string(16384, 'z')));
  EXPECT_TRUE(frames.failed()) << "7 x 16384 characters exceed the bound";
  frames.reset();
  EXPECT_FALSE(frames.feed(std::string(100001, 'z')));
  EXPECT_TRUE(frames.failed());
}

TEST(RtdbMessages, EncodesRequestsAsTheSdk) {
  EXPECT_EQ(encodeRequest(2, "q", {{"p", "/__trystero__/roomtopic"}, {"h", ""}}),
            R"({"d":{"a":"q","b":{"h":"","p":"/__trystero__/roomtopic"},"r":2},"t":"d"})");
  EXPECT_EQ(encodeRequest(5, "o", {{"p", "/a/b"}, {"d", nullptr}}),
            R"({"d":{"a":"o","b":{"d":null,"p":"/a/b"},"r":5},"t":"d"})");
}

TEST(RtdbMessages, ParsesTheCapturedServerMessages) {
  auto hello = parseServerMessage(
      R"({"d":{"t":"h","d":{"ts":1795559242010,"v":"5","h":"127.0.0.1:15100","s":""}},"t":"c"})");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->kind, ServerMessage::Kind::Handshake);
  EXPECT_EQ(hello->timestamp, 1795559242010);
  EXPECT_EQ(hello->host, "127.0.0.1:15100");

  auto push = parseServerMessage(
      R"({"d":{"a":"d","b":{"p":"__trystero__/roomtopic","d":{"roomtopic_peerA":{"_":{"peerId":"peerA"}}}}},"t":"d"})");
  ASSERT_TRUE(push);
  EXPECT_EQ(push->kind, ServerMessage::Kind::Push);
  EXPECT_FALSE(push->merge);
  EXPECT_EQ(push->path, "__trystero__/roomtopic");
  EXPECT_EQ(push->data["roomtopic_peerA"]["_"]["peerId"], "peerA");

  auto reply = parseServerMessage(R"({"d":{"r":2,"b":{"s":"ok","d":{}}},"t":"d"})");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->kind, ServerMessage::Kind::Reply);
  EXPECT_EQ(reply->requestId, 2u);
  EXPECT_EQ(reply->status, "ok");

  auto redirect = parseServerMessage(R"({"t":"c","d":{"t":"r","d":"s-usc1a.firebaseio.com"}})");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->kind, ServerMessage::Kind::Redirect);
  EXPECT_EQ(redirect->host, "s-usc1a.firebaseio.com");
  auto pong = parseServerMessage(R"({"t":"c","d":{"t":"o","d":null}})");
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->kind, ServerMessage::Kind::Ignored);
}

TEST(RtdbMessages, DropsMalformedMessages) {
  std::string deep(300, '[');
  std::string longPath = "a";
  for (int i = 0; i < 100; ++i) longPath += "/a";
  for (const std::string& text :
       {std::string("not json"), std::string("[]"), std::string(R"({"t":"d"})"),
        std::string(R"({"t":"x","d":{}})"), std::string(R"({"t":"c","d":{"t":"h","d":{}}})"),
        std::string(R"({"t":"c","d":{"t":"h","d":{"ts":"soon"}}})"),
        std::string(R"({"t":"c","d":{"t":"r","d":5}})"),
        std::string(R"({"t":"d","d":{"a":"ac","b":{"d":"no status"}}})"),
        std::string(R"({"t":"d","d":{"a":"c","b":{"q":[]}}})"),
        std::string(R"({"t":"d","d":{"r":-1,"b":{"s":"ok"}}})"),
        std::string(R"({"t":"d","d":{"r":1,"b":{"s":7}}})"),
        std::string(R"({"t":"d","d":{"a":"d","b":{"p":5,"d":1}}})"),
        std::string(R"({"t":"d","d":{"a":"m","b":{"p":"x","d":1}}})"),
        R"({"t":"d","d":{"a":"d","b":{"p":")" + longPath + R"(","d":1}}})",
        R"({"t":"d","d":{"a":"d","b":{"p":"x","d":)" + deep + "}}}"}) {
    EXPECT_FALSE(parseServerMessage(text)) << text.substr(0, 80);
  }
}

ServerMessage pushAt(const std::string& path, json data, bool merge = false) {
  ServerMessage m;
  m.kind = ServerMessage::Kind::Push;
  m.path = path;
  m.data = std::move(data);
  m.merge = merge;
  return m;
}

TEST(RtdbSubtree, FollowsSetsRemovesAndMergesBelowItsRoot) {
  Subtree room(splitPath("/__trystero__/room"));
  EXPECT_TRUE(room.apply(pushAt("__trystero__/room", {{"a", {{"_", {{"peerId", "A"}}}}}})));
  EXPECT_TRUE(room.apply(pushAt("__trystero__/room/b/_", {{"peerId", "B"}})));
  EXPECT_EQ(room.value()["b"]["_"]["peerId"], "B");
  EXPECT_TRUE(room.apply(pushAt("__trystero__/room/a", nullptr)));
  EXPECT_FALSE(room.value().contains("a"));
  EXPECT_TRUE(room.apply(pushAt("__trystero__/room", {{"c/x", 1}, {"b", nullptr}}, true)));
  EXPECT_EQ(room.value(), json({{"c", {{"x", 1}}}}));
  EXPECT_FALSE(room.apply(pushAt("__trystero__/other", 1)));
  EXPECT_FALSE(room.apply(pushAt("__trystero__/roomy", 1)));
  // A value for an ancestor carries ours.
  EXPECT_TRUE(room.apply(pushAt("__trystero__", {{"room", {{"z", true}}}, {"other", 1}})));
  EXPECT_EQ(room.value(), json({{"z", true}}));
  EXPECT_TRUE(room.apply(pushAt("", nullptr)));
  EXPECT_TRUE(room.value().is_null());
}

TEST(RtdbSubtree, NullsAndEmptyObjectsDoNotExist) {
  EXPECT_EQ(normalize({{"a", nullptr}, {"b", json::object()}, {"c", {{"d", nullptr}}}}), nullptr);
  EXPECT_EQ(normalize({{"a", 1}, {"b", {{"c", nullptr}, {"d", "x"}}}}),
            json({{"a", 1}, {"b", {{"d", "x"}}}}));
  Subtree root({});
  root.apply(pushAt("a/b/c", 1));
  root.apply(pushAt("a/b/c", nullptr));
  EXPECT_TRUE(root.value().is_null());
}

}  // namespace
}  // namespace trystero::strategies::firebase

namespace trystero::strategies::firebase {
namespace {

TEST(RtdbMessages, ParsesRevocationsAndLeavesRedirectHostsToTheConnection) {
  auto revoked = parseServerMessage(
      R"({"t":"d","d":{"a":"ac","b":{"s":"expired_token","d":"Auth token is expired."}}})");
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->kind, ServerMessage::Kind::AuthRevoked);
  EXPECT_EQ(revoked->status, "expired_token");
  EXPECT_EQ(revoked->text, "Auth token is expired.");
  auto listen = parseServerMessage(R"({"t":"d","d":{"a":"c","b":{"p":"/a/b/"}}})");
  ASSERT_TRUE(listen);
  EXPECT_EQ(listen->kind, ServerMessage::Kind::ListenRevoked);
  EXPECT_EQ(listen->path, "a/b");
  // The connection checks the host (and warns): parsing keeps whatever string came.
  auto redirect = parseServerMessage(R"({"t":"c","d":{"t":"r","d":"evil host/with path"}})");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->host, "evil host/with path");
}

TEST(RtdbHosts, OnlyHostNamesWithAnOptionalPort) {
  for (const char* good : {"s-usc1a-nss-2118.firebaseio.com", "127.0.0.1:9000", "localhost",
                           "my_db.europe-west1.firebasedatabase.app", "[::1]:9000", "[fe80::1]"}) {
    EXPECT_TRUE(isHostName(good)) << good;
  }
  for (const char* bad : {"", "evil host", "a/b", "a.com/x", "user@a.com", "a.com?x=1",
                          "a.com:", "a.com:0", "a.com:70000", "a.com:9x", "-a.com", "a-.com",
                          "a..com", ".a.com", "[::1", "[zz]", "[::1]x", "a.com#f", "a\\b"}) {
    EXPECT_FALSE(isHostName(bad)) << bad;
  }
  EXPECT_FALSE(isHostName(std::string(300, 'a')));
}

TEST(RtdbAuth, AJwtWithIatIsAuthAnythingElseGauth) {
  // base64url of {"v":0,"iat":1700000000,"d":{"uid":"native"}}, without padding
  EXPECT_EQ(authAction("eyJhbGciOiJIUzI1NiJ9."
                       "eyJ2IjowLCJpYXQiOjE3MDAwMDAwMDAsImQiOnsidWlkIjoibmF0aXZlIn19.sig"),
            "auth");
  // {"sub":"x"}: a JWT, but without iat
  EXPECT_EQ(authAction("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"), "gauth");
  EXPECT_EQ(authAction("ya29.a0AfH6SMB-an-oauth-access-token"), "gauth");
  EXPECT_EQ(authAction("a-40-character-legacy-database-secret-xx"), "gauth");
  EXPECT_EQ(authAction("x.!!!.y"), "gauth");
  EXPECT_EQ(authAction(""), "gauth");
}

}  // namespace
}  // namespace trystero::strategies::firebase

// The Nostr wire format against vectors made by the real trystero@0.22.0 nostr.js (see
// vectors/nostr_vectors.mjs): keys, signatures, events, requests, and relay messages, hostile
// ones included.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <set>
#include <string>

#include "crypto/crypto.hpp"
#include "nostr/wire.hpp"
#include "support/nostr_vectors.hpp"

using namespace trystero;
using namespace trystero::nostr::wire;
using nlohmann::json;
using trystero::testing::asDelivered;
using trystero::testing::deliveredJson;
using trystero::testing::eventJson;

namespace {

const json& vectors() { return trystero::testing::nostrVectors(); }

template <std::size_t N>
std::array<std::uint8_t, N> bytesOf(const std::string& hex) {
  std::array<std::uint8_t, N> out{};
  if (hex.size() != 2 * N) throw std::invalid_argument("hex length");
  for (std::size_t i = 0; i < N; ++i) {
    out[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return out;
}

std::string hexOf(std::string_view bytes) {
  return crypto::hexEncode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

std::shared_ptr<const KeyPair> vectorKey() {
  return KeyPair::fromSecret(bytesOf<32>(vectors()["secretKey"].get<std::string>()));
}

}  // namespace

// ---- keys and events -------------------------------------------------------------------------

TEST(NostrWire, VectorKeyHasTheJsPublicKey) {
  auto key = vectorKey();
  ASSERT_TRUE(key);
  EXPECT_EQ(key->publicKeyHex(), vectors()["pubkey"].get<std::string>());
}

TEST(NostrWire, InvalidSecretsAreRefused) {
  EXPECT_FALSE(KeyPair::fromSecret({}));
  KeyPair::Secret n = bytesOf<32>(
      "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");  // the group order
  EXPECT_FALSE(KeyPair::fromSecret(n));
}

TEST(NostrWire, JsEventsVerifyAndMatchByteForByte) {
  auto key = vectorKey();
  ASSERT_TRUE(key);
  int checked = 0;
  for (const auto& v : vectors()["events"]) {
    const auto message = v["message"].get<std::string>();
    SCOPED_TRACE(message.substr(0, 160));
    if (v["content"].is_null()) continue;  // see LoneSurrogateEventsAreDropped
    const auto topic = v["topic"].get<std::string>();
    const auto content = v["content"].get<std::string>();
    const auto createdAt = v["createdAt"].get<std::int64_t>();
    EXPECT_EQ(createdAt, v["nowMs"].get<std::int64_t>() / 1000);

    // C++ reads and verifies the JS event.
    auto parsed = parseRelayMessage(asDelivered(message, "sub"));
    ASSERT_TRUE(parsed);
    ASSERT_EQ(parsed->type, RelayMessage::Type::Event);
    EXPECT_EQ(parsed->subId, "sub");
    const Event& event = parsed->event;
    EXPECT_EQ(event.content, content);
    EXPECT_EQ(event.kind, v["kind"].get<std::int64_t>());
    EXPECT_EQ(event.createdAt, createdAt);
    EXPECT_EQ(event.tags, (std::vector<std::vector<std::string>>{{"x", topic}}));
    EXPECT_EQ(hexOf(serializeForId(event)), v["serialized"].get<std::string>());
    EXPECT_EQ(computeEventId(event), v["id"].get<std::string>());
    EXPECT_TRUE(verifySignature(event.pubkey, event.id, event.sig));
    EXPECT_TRUE(verifyEvent(event));
    EXPECT_EQ(topicToKind(topic), v["kind"].get<std::uint32_t>());

    // C++ writes the same bytes from the same key, time and aux randomness.
    EXPECT_EQ(
        makeEventMessage(*key, topic, content, createdAt, bytesOf<32>(v["aux"].get<std::string>())),
        message);

    // And with fresh randomness a different, equally valid signature.
    auto fresh = makeEventMessage(*key, topic, content, createdAt);
    auto again = parseRelayMessage(asDelivered(fresh, "sub"));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->event.id, v["id"].get<std::string>());
    EXPECT_NE(again->event.sig, v["sig"].get<std::string>());
    EXPECT_TRUE(verifyEvent(again->event));
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(NostrWire, LoneSurrogateEventsAreDropped) {
  // JS strings may hold lone surrogates, which have no UTF-8 form; trystero never sends them
  // (its contents are JSON.stringify output), and nlohmann refuses the \udXXX escape. Such an
  // event is dropped rather than misread.
  int seen = 0;
  for (const auto& v : vectors()["events"]) {
    if (!v["content"].is_null()) continue;
    ++seen;
    EXPECT_FALSE(parseRelayMessage(asDelivered(v["message"].get<std::string>(), "sub")));
  }
  EXPECT_EQ(seen, 1);
}

TEST(NostrWire, TamperedEventsFailVerification) {
  const auto message = vectors()["events"][1]["message"].get<std::string>();
  const json original = eventJson(message);
  auto check = [&](const std::function<void(json&)>& tamper) {
    json e = original;
    tamper(e);
    auto parsed = parseRelayMessage(deliveredJson("sub", e));
    return parsed && verifyEvent(parsed->event);
  };
  EXPECT_TRUE(check([](json&) {}));
  EXPECT_FALSE(check([](json& e) { e["content"] = "{\"peerId\":\"someone else\"}"; }));
  EXPECT_FALSE(check([](json& e) { e["created_at"] = e["created_at"].get<std::int64_t>() + 1; }));
  EXPECT_FALSE(check([](json& e) { e["kind"] = 20000; }));
  EXPECT_FALSE(check([](json& e) { e["tags"] = json::array({json::array({"x", "other"})}); }));
  EXPECT_FALSE(check([](json& e) {
    auto sig = e["sig"].get<std::string>();
    sig[10] = sig[10] == '0' ? '1' : '0';
    e["sig"] = sig;
  }));
  EXPECT_FALSE(check([&](json& e) {
    // A valid signature by another key over the same id.
    e["pubkey"] = KeyPair::generate()->publicKeyHex();
  }));
  EXPECT_FALSE(check([&](json& e) {
    // Consistent id, but the signature belongs to the original id.
    e["content"] = "changed";
    Event event;
    event.pubkey = e["pubkey"].get<std::string>();
    event.createdAt = e["created_at"].get<std::int64_t>();
    event.kind = e["kind"].get<std::int64_t>();
    event.tags = e["tags"].get<std::vector<std::vector<std::string>>>();
    event.content = "changed";
    e["id"] = computeEventId(event);
  }));
}

TEST(NostrWire, ProcessKeySignsVerifiableEvents) {
  auto key = processKeyPair();
  ASSERT_TRUE(key);
  EXPECT_EQ(processKeyPair(), key);
  EXPECT_EQ(key->publicKeyHex().size(), 64u);
  auto other = KeyPair::generate();
  EXPECT_NE(other->publicKeyHex(), key->publicKeyHex());
  const std::string topic = vectors()["events"][0]["topic"];
  auto message = makeEventMessage(*key, topic, makeAnnounceContent("abc\"def"), nowSeconds());
  auto parsed = parseRelayMessage(asDelivered(message, "s"));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->event.pubkey, key->publicKeyHex());
  EXPECT_EQ(parsed->event.content, "{\"peerId\":\"abc\\\"def\"}");
  EXPECT_TRUE(verifyEvent(parsed->event));
  EXPECT_LE(std::abs(parsed->event.createdAt - nowSeconds()), 1);
}

TEST(NostrWire, JsonQuoteMatchesJsonStringify) {
  EXPECT_EQ(jsonQuote(""), "\"\"");
  EXPECT_EQ(jsonQuote("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
  EXPECT_EQ(jsonQuote("\b\t\n\f\r"), "\"\\b\\t\\n\\f\\r\"");
  EXPECT_EQ(jsonQuote(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(jsonQuote("\u2028\u2029\uFEFF é 🎉"), "\"\u2028\u2029\uFEFF é 🎉\"");
  // A leading BOM stays (JSON.stringify keeps U+FEFF); invalid UTF-8 becomes U+FFFD per
  // maximal subpart, as TextDecoder reads it.
  EXPECT_EQ(jsonQuote("\xEF\xBB\xBFx"), "\"\xEF\xBB\xBFx\"");
  EXPECT_EQ(jsonQuote("a\xFF"
                      "b\xE2\x82"
                      "c\xED\xA0\x80"),
            "\"a\uFFFDb\uFFFDc\uFFFD\uFFFD\uFFFD\"");
  // Events built from invalid UTF-8 still verify (content normalised the same way everywhere).
  auto key = KeyPair::generate();
  auto message = makeEventMessage(*key, "topic", "bad \xC3( utf8", 1);
  auto parsed = parseRelayMessage(asDelivered(message, "s"));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->event.content, "bad \uFFFD( utf8");
  EXPECT_TRUE(verifyEvent(parsed->event));
}

// ---- subscriptions, kinds, relays ------------------------------------------------------------

TEST(NostrWire, RequestsMatchNostrJs) {
  for (const auto& v : vectors()["requests"]) {
    EXPECT_EQ(makeReqMessage(v["subId"].get<std::string>(), v["topic"].get<std::string>(),
                             v["nowMs"].get<std::int64_t>() / 1000),
              v["message"].get<std::string>());
  }
  EXPECT_EQ(makeCloseMessage("abc"), "[\"CLOSE\",\"abc\"]");
  EXPECT_EQ(makeAnnounceContent("a1B2c3D4e5F6g7H8i9J0"), "{\"peerId\":\"a1B2c3D4e5F6g7H8i9J0\"}");
  EXPECT_EQ(vectors()["events"][1]["content"].get<std::string>(),
            makeAnnounceContent("a1B2c3D4e5F6g7H8i9J0"));
}

TEST(NostrWire, KindsMatchNostrJs) {
  for (const auto& v : vectors()["kinds"]) {
    const auto topic = v["topic"].get<std::string>();
    EXPECT_EQ(topicToKind(topic), v["kind"].get<std::uint32_t>()) << topic;
    EXPECT_GE(topicToKind(topic), 20000u);
    EXPECT_LT(topicToKind(topic), 30000u);
  }
}

TEST(NostrWire, SubscriptionIdsAreGenId64) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    auto id = makeSubscriptionId();
    ASSERT_EQ(id.size(), 64u);
    for (char c : id) EXPECT_NE(crypto::kIdAlphabet.find(c), std::string_view::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

// ---- hostile relay input ---------------------------------------------------------------------

TEST(NostrWire, HostileRelayMessagesAreRejected) {
  const json good = eventJson(vectors()["events"][1]["message"].get<std::string>());
  auto withField = [&](const char* name, json value) {
    json e = good;
    e[name] = std::move(value);
    return deliveredJson("s", e);
  };
  auto without = [&](const char* name) {
    json e = good;
    e.erase(name);
    return deliveredJson("s", e);
  };
  ASSERT_TRUE(parseRelayMessage(deliveredJson("s", good)));

  std::vector<std::string> bad = {
      "",
      " ",
      "null",
      "42",
      "\"EVENT\"",
      "{}",
      "[]",
      "[1]",
      "[null,\"s\"]",
      "[\"EVENT\"]",
      "[\"EVENT\",\"s\"]",
      "[\"EVENT\",1,{}]",
      "[\"EVENT\",\"s\",{}]",
      "[\"EVENT\",\"s\",[]]",
      "[\"EVENT\",\"s\",\"event\"]",
      "[\"EVENT\",\"s\",{\"id\":",  // truncated
      "[\"EVENT\",\"s\",{}]]",      // trailing garbage
      "[\"NOTICE\"]",
      "[\"NOTICE\",7]",
      "[\"OK\",\"id\"]",
      "[\"OK\",\"id\",\"false\",\"x\"]",
      "[\"OK\",1,true]",
      "[\"EOSE\"]",
      "[\"EOSE\",{}]",
      "[\"CLOSED\"]",
      "[\"CLOSED\",null,\"x\"]",
      "[\"NOTICE\",\"\xFF\xFE\"]",  // invalid UTF-8
      "[\"NOTICE\",\"\\ud800\"]",   // lone surrogate escape
      std::string("[\"NOTICE\",\"a\x00b\"]", 16),
      without("id"),
      without("pubkey"),
      without("created_at"),
      without("kind"),
      without("tags"),
      without("content"),
      without("sig"),
      withField("id", 5),
      withField("id", good["id"].get<std::string>().substr(1)),
      withField("id", "Z" + good["id"].get<std::string>().substr(1)),
      withField("pubkey", nullptr),
      withField("pubkey",
                [&] {  // uppercase hex is not NIP-01
                  auto s = good["pubkey"].get<std::string>();
                  for (auto& c : s) c = static_cast<char>(std::toupper(c));
                  return s;
                }()),
      withField("sig", "00"),
      withField("created_at", "1750000777"),
      withField("created_at", -1),
      withField("created_at", 1750000777.5),
      withField("created_at", 1e300),
      withField("created_at", 9007199254740992ULL),
      withField("kind", "22620"),
      withField("kind", 70000),
      withField("kind", -5),
      withField("kind", true),
      withField("tags", "x"),
      withField("tags", json::array({"x", "topic"})),
      withField("tags", json::array({json::array({"x", 1})})),
      withField("tags", json::array({json::object()})),
      withField("content", json::object({{"peerId", "abc"}})),  // JS would take it; NIP-01 not
      withField("content", nullptr),
      std::string(300 * 1024, ' ') + "[\"NOTICE\",\"big\"]",
      "[\"NOTICE\",\"" + std::string(kMaxRelayMessageBytes, 'a') + "\"]",
      std::string(100000, '[') + std::string(100000, ']'),
      "[\"EVENT\",\"s\"," + std::string(20, '[') + std::string(20, ']') + "]",
  };
  for (const auto& text : bad) {
    EXPECT_FALSE(parseRelayMessage(text)) << text.substr(0, 200);
  }

  // Well-formed but unknown or irrelevant verbs parse as such (and are ignored later).
  auto other = parseRelayMessage("[\"COUNT\",\"s\",{\"count\":1}]");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->type, RelayMessage::Type::Other);
  EXPECT_EQ(other->verb, "COUNT");
  auto auth = parseRelayMessage("[\"AUTH\",\"challenge\"]");
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->type, RelayMessage::Type::Auth);
  auto ok = parseRelayMessage("[\"OK\",\"abc\",false,\"invalid: nope\"]");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->type, RelayMessage::Type::Ok);
  EXPECT_FALSE(ok->accepted);
  EXPECT_EQ(ok->message, "invalid: nope");
  auto notice = parseRelayMessage("[\"NOTICE\",\"slow down\",\"extra\"]");
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->type, RelayMessage::Type::Notice);
  EXPECT_EQ(notice->message, "slow down");
  auto eose = parseRelayMessage("[\"EOSE\",\"s\"]");
  ASSERT_TRUE(eose);
  EXPECT_EQ(eose->type, RelayMessage::Type::Eose);
  auto closed = parseRelayMessage("[\"CLOSED\",\"s\",\"error: shutting down\"]");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->type, RelayMessage::Type::Closed);
  EXPECT_EQ(closed->message, "error: shutting down");
  // Extra event fields and extra tags are fine (and part of the id).
  json extra = good;
  extra["relay_hint"] = "whatever";
  EXPECT_TRUE(parseRelayMessage(deliveredJson("s", extra)));
}

// The Phoenix / Supabase Realtime frame codec against frames made by the real realtime-js
// 2.109 Serializer (its encode() output for the kind-3 pushes and vsn 2.0.0 text frames, and
// kind-4 frames its decode() accepts), both text forms, and malformed input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "crypto/crypto.hpp"
#include "strategies/supabase/phoenix_codec.hpp"
#include "support/test_data.hpp"

using namespace trystero::strategies::supabase;
using json = nlohmann::json;
using trystero::crypto::hexEncode;
using trystero::testing::fromHex;

namespace {

// realtime-js: encode({join_ref:'6', ref:'7', topic:'realtime:root', event:'broadcast',
//   payload:{type:'broadcast', event:'join', payload:{peerId:'B2'}}})
const char* kJoinPushHex =
    "0301010d04000136377265616c74696d653a726f6f746a6f696e7b22706565724964223a224232227d";
// The same for an sdp signal: the user payload is a JSON *string*.
const char* kSdpPushHex =
    "0302020c030001313231337265616c74696d653a616263736470227b5c227065657249645c223a5c22785c222c5c"
    "226f666665725c223a7b5c22747970655c223a5c226f666665725c222c5c227364705c223a5c22763d305c227d7d"
    "22";
const char* kSdpSignal = R"({"peerId":"x","offer":{"type":"offer","sdp":"v=0"}})";
// A kind-4 frame realtime-js decodes to {topic:'realtime:abc', event:'broadcast',
//   payload:{type:'broadcast', event:'sdp', payload:'{"peerId":"x"}'}}.
const char* kSdpBroadcastHex =
    "040c0300017265616c74696d653a616263736470227b5c227065657249645c223a5c22785c227d22";

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(PhoenixCodec, TextFramesMatchRealtimeJs) {
  EXPECT_EQ(
      encodeText({"3",
                  "3",
                  "realtime:t",
                  "phx_join",
                  {{"config", {{"broadcast", {{"ack", false}, {"self", false}}}}}}}),
      R"(["3","3","realtime:t","phx_join",{"config":{"broadcast":{"ack":false,"self":false}}}])");
  EXPECT_EQ(encodeText({std::nullopt, "9", "phoenix", "heartbeat", json::object()}),
            R"([null,"9","phoenix","heartbeat",{}])");
}

TEST(PhoenixCodec, BroadcastPushMatchesRealtimeJs) {
  Message join{"6",
               "7",
               "realtime:root",
               "broadcast",
               {{"type", "broadcast"}, {"event", "join"}, {"payload", {{"peerId", "B2"}}}}};
  auto frame = encodeBroadcastPush(join);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hexEncode(*frame), kJoinPushHex);
  Message sdp{"12",
              "13",
              "realtime:abc",
              "broadcast",
              {{"type", "broadcast"}, {"event", "sdp"}, {"payload", kSdpSignal}}};
  frame = encodeBroadcastPush(sdp);
  ASSERT_TRUE(frame);
  EXPECT_EQ(hexEncode(*frame), kSdpPushHex);
  // Not a user broadcast, or a field too long for its length byte.
  EXPECT_FALSE(encodeBroadcastPush({"1", "1", "realtime:t", "phx_join", json::object()}));
  join.topic = std::string(256, 't');
  EXPECT_FALSE(encodeBroadcastPush(join));
}

TEST(PhoenixCodec, DecodesKindThree) {
  auto m = decodeBinary(fromHex(kSdpPushHex));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->joinRef, "12");
  EXPECT_EQ(m->ref, "13");
  EXPECT_EQ(m->topic, "realtime:abc");
  EXPECT_EQ(m->event, "broadcast");
  EXPECT_EQ(m->payload, (json{{"type", "broadcast"}, {"event", "sdp"}, {"payload", kSdpSignal}}));
}

TEST(PhoenixCodec, DecodesKindFour) {
  auto m = decodeBinary(fromHex(kSdpBroadcastHex));
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->joinRef);
  EXPECT_FALSE(m->ref);
  EXPECT_EQ(m->topic, "realtime:abc");
  EXPECT_EQ(m->event, "broadcast");
  EXPECT_EQ(m->payload,
            (json{{"type", "broadcast"}, {"event", "sdp"}, {"payload", R"({"peerId":"x"})"}}));
  auto encoded = encodeBroadcast("realtime:abc", "sdp", R"({"peerId":"x"})");
  ASSERT_TRUE(encoded);
  EXPECT_EQ(hexEncode(*encoded), kSdpBroadcastHex);
}

TEST(PhoenixCodec, KindFourWithMetadataAndRawPayload) {
  std::string topic = "realtime:root", event = "join", meta = R"({"id":"m1"})";
  auto frame =
      bytes(std::string{4, static_cast<char>(topic.size()), static_cast<char>(event.size()),
                        static_cast<char>(meta.size()), 1} +
            topic + event + meta + R"({"peerId":"B2"})");
  auto m = decodeBinary(frame);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload["meta"], (json{{"id", "m1"}}));
  EXPECT_EQ(m->payload["payload"], (json{{"peerId", "B2"}}));
  // encoding 0: raw bytes
  frame =
      bytes(std::string{4, static_cast<char>(topic.size()), static_cast<char>(event.size()), 0, 0} +
            topic + event + "\x01\x02");
  m = decodeBinary(frame);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->payload["payload"].is_binary());
  const std::vector<std::uint8_t>& raw = m->payload["payload"].get_binary();
  EXPECT_EQ(raw, (std::vector<std::uint8_t>{1, 2}));
}

TEST(PhoenixCodec, DecodesBothTextForms) {
  auto v2 = decodeText(
      R"(["4","4","realtime:t","phx_reply",{"status":"ok","response":{"postgres_changes":[]}}])");
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->joinRef, "4");
  EXPECT_EQ(v2->ref, "4");
  EXPECT_EQ(v2->topic, "realtime:t");
  EXPECT_EQ(v2->event, "phx_reply");
  EXPECT_EQ(v2->payload["status"], "ok");
  auto broadcast = decodeText(
      R"([null,null,"realtime:t","broadcast",{"type":"broadcast","event":"join","payload":{"peerId":"a"}}])");
  ASSERT_TRUE(broadcast);
  EXPECT_FALSE(broadcast->joinRef);
  EXPECT_EQ(broadcast->payload["payload"]["peerId"], "a");
  // vsn 1.0.0 objects (replies carry no join_ref)
  auto v1 = decodeText(
      R"({"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"9"})");
  ASSERT_TRUE(v1);
  EXPECT_FALSE(v1->joinRef);
  EXPECT_EQ(v1->ref, "9");
  EXPECT_EQ(v1->topic, "phoenix");
}

TEST(PhoenixCodec, RejectsMalformedText) {
  for (const char* text :
       {"", "nope", "[", "42", "\"s\"", "null", "[1,2,3,4]", "[1,2,3,4,5,6]",
        R"([1,"1","t","e",{}])", R"([null,null,7,"e",{}])", R"([null,null,"t",null,{}])",
        R"({"topic":"t"})", R"({"topic":"t","event":"e","ref":5})"}) {
    std::string error;
    EXPECT_FALSE(decodeText(text, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
  std::string deep(100000, '[');
  EXPECT_FALSE(decodeText(deep));
}

TEST(PhoenixCodec, RejectsMalformedBinary) {
  auto good = fromHex(kSdpBroadcastHex);
  std::vector<std::vector<std::uint8_t>> bad = {
      {},
      {9, 0, 0, 0, 1},                           // unknown kind
      {4, 1, 1, 0},                              // short header
      {4, 200, 1, 0, 1, 'x'},                    // topic longer than the frame
      {4, 1, 1, 0, 7, 't', 'e', '1'},            // unknown encoding
      {4, 1, 1, 0, 1, 't', 'e', '{'},            // payload not JSON
      {4, 1, 1, 2, 1, 't', 'e', '{', '{', '1'},  // metadata not JSON
      {3, 1, 1, 1, 1, 0},                        // kind 3 short header
      {3, 9, 1, 1, 1, 0, 1, '1'},                // kind 3 fields beyond the frame
  };
  for (std::size_t cut = 0; cut < 5 + 12 + 3; ++cut) {
    bad.emplace_back(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
  }
  for (const auto& frame : bad) {
    std::string error;
    EXPECT_FALSE(decodeBinary(frame, &error)) << hexEncode(frame);
    EXPECT_FALSE(error.empty());
  }
}

TEST(PhoenixCodec, RandomInputNeverThrows) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 64);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> frame(static_cast<std::size_t>(len(rng)));
    for (auto& b : frame) b = static_cast<std::uint8_t>(byte(rng));
    if (!frame.empty() && i % 2) frame[0] = static_cast<std::uint8_t>(3 + i % 4 / 2);
    EXPECT_NO_THROW(decodeBinary(frame));
    EXPECT_NO_THROW(decodeText(std::string(frame.begin(), frame.end())));
  }
}

}  // namespace

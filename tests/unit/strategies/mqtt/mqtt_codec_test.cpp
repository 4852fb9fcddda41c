// The MQTT 3.1.1 codec against bytes from the real mqtt.js / mqtt-packet
// (vectors/mqtt_vectors.mjs), incremental decoding across frame boundaries, and hostile input.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "crypto/crypto.hpp"
#include "strategies/mqtt/mqtt_codec.hpp"
#include "support/test_data.hpp"

using namespace trystero::strategies::mqtt;
using json = nlohmann::json;

namespace {

using trystero::crypto::hexEncode;
using trystero::testing::fromHex;
using trystero::testing::isMqttJsClientId;

const json& vectors() {
  static const json data = trystero::testing::readJsonFile(
      std::filesystem::path(__FILE__).parent_path() / "vectors" / "mqtt_vectors.json");
  return data;
}

std::string asString(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// A server vector's full bytes (large ones are stored as header + a-z pattern).
Bytes serverBytes(const json& entry) {
  if (entry.contains("hex")) return fromHex(entry["hex"].get<std::string>());
  Bytes out = fromHex(entry["headerHex"].get<std::string>());
  auto n = entry["payloadLength"].get<std::size_t>();
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>('a' + i % 26));
  return out;
}

std::string expectedPayload(const json& entry) {
  if (entry["packet"].contains("payloadHex")) {
    return asString(fromHex(entry["packet"]["payloadHex"].get<std::string>()));
  }
  if (entry.contains("payloadLength")) {
    std::string out;
    auto n = entry["payloadLength"].get<std::size_t>();
    for (std::size_t i = 0; i < n; ++i) out += static_cast<char>('a' + i % 26);
    return out;
  }
  return "";
}

PacketType typeOf(const std::string& cmd) {
  static const std::map<std::string, PacketType> types = {
      {"connack", PacketType::Connack},  {"publish", PacketType::Publish},
      {"puback", PacketType::Puback},    {"pubrec", PacketType::Pubrec},
      {"pubrel", PacketType::Pubrel},    {"pubcomp", PacketType::Pubcomp},
      {"suback", PacketType::Suback},    {"unsuback", PacketType::Unsuback},
      {"pingresp", PacketType::Pingresp}};
  return types.at(cmd);
}

void expectMatches(const Packet& got, const json& entry) {
  const auto& p = entry["packet"];
  SCOPED_TRACE(entry["name"].get<std::string>());
  EXPECT_EQ(got.type, typeOf(p["cmd"].get<std::string>()));
  if (p.contains("messageId")) {
    EXPECT_EQ(got.packetId, p["messageId"].get<int>());
  }
  if (p["cmd"] == "connack") {
    EXPECT_EQ(got.returnCode, p["returnCode"].get<int>());
    EXPECT_EQ(got.sessionPresent, p["sessionPresent"].get<bool>());
  }
  if (p["cmd"] == "suback") {
    EXPECT_EQ(got.returnCodes, p["granted"].get<std::vector<std::uint8_t>>());
  }
  if (p["cmd"] == "publish") {
    EXPECT_EQ(got.topic, p["topic"].get<std::string>());
    EXPECT_EQ(got.payload, expectedPayload(entry));
    EXPECT_EQ(got.qos, p["qos"].get<int>());
    EXPECT_EQ(got.retain, p["retain"].get<bool>());
    EXPECT_EQ(got.dup, p["dup"].get<bool>());
  }
}

// Decodes everything; fails the test on a decoder error.
std::vector<Packet> decodeAll(Decoder& decoder) {
  std::vector<Packet> out;
  while (auto p = decoder.next()) out.push_back(std::move(*p));
  EXPECT_FALSE(decoder.failed()) << decoder.error();
  return out;
}

}  // namespace

TEST(MqttCodec, VectorsComeFromTheModulesTrysteroUses) {
  EXPECT_EQ(vectors()["generator"]["trystero"], "0.22.0");
  EXPECT_EQ(vectors()["generator"]["mqtt"].get<std::string>().substr(0, 2), "5.");
  // mqtt.js defaults the native client mirrors.
  const auto& defaults = vectors()["defaults"];
  EXPECT_EQ(defaults["keepalive"], 60);
  EXPECT_EQ(defaults["protocolVersion"], 4);
  EXPECT_TRUE(isMqttJsClientId(defaults["clientIdExample"].get<std::string>(), 1, 8));
}

TEST(MqttCodec, EncodesWhatMqttJsWrites) {
  int checked = 0;
  for (const auto& entry : vectors()["client"]) {
    const auto& p = entry["packet"];
    const std::string cmd = p["cmd"];
    SCOPED_TRACE(entry["name"].get<std::string>());
    Bytes ours;
    if (cmd == "connect") {
      EXPECT_EQ(p["protocolId"], "MQTT");
      EXPECT_EQ(p["protocolVersion"], 4);
      ours = encodeConnect({p["clientId"].get<std::string>(), p["keepalive"].get<std::uint16_t>(),
                            p["clean"].get<bool>()});
    } else if (cmd == "subscribe") {
      std::vector<std::string> topics;
      for (const auto& s : p["subscriptions"]) {
        EXPECT_EQ(s["qos"], 0);
        topics.push_back(s["topic"]);
      }
      ours = encodeSubscribe(p["messageId"].get<std::uint16_t>(), topics, 0);
    } else if (cmd == "unsubscribe") {
      ours = encodeUnsubscribe(p["messageId"].get<std::uint16_t>(),
                               p["unsubscriptions"].get<std::vector<std::string>>());
    } else if (cmd == "publish") {
      EXPECT_EQ(p["qos"], 0);
      ours = encodePublish(p["topic"].get<std::string>(),
                           asString(fromHex(p["payloadHex"].get<std::string>())));
    } else if (cmd == "pingreq") {
      ours = encodePingreq();
    } else if (cmd == "disconnect") {
      ours = encodeDisconnect();
    } else {
      ADD_FAILURE() << "unexpected " << cmd;
      continue;
    }
    EXPECT_EQ(hexEncode(ours), entry["hex"].get<std::string>());
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

TEST(MqttCodec, MqttJsSessionShape) {
  // What the adapter mirrors: on each connection CONNECT first; trystero subscribes root and self
  // topics with a SUBSCRIBE each; after a reconnect mqtt.js resubscribes both in one SUBSCRIBE;
  // packet ids count up from a random start.
  const auto& client = vectors()["client"];
  const auto& topics = vectors()["topics"];
  std::vector<std::pair<int, std::string>> shape;
  for (const auto& e : client) shape.emplace_back(e["connection"].get<int>(), e["packet"]["cmd"]);
  std::vector<std::pair<int, std::string>> expected = {
      {0, "connect"},     {0, "subscribe"}, {0, "subscribe"}, {0, "publish"},
      {0, "publish"},     {1, "connect"},   {1, "subscribe"}, {1, "unsubscribe"},
      {1, "unsubscribe"}, {1, "pingreq"},   {1, "disconnect"}};
  EXPECT_EQ(shape, expected);
  EXPECT_EQ(client[6]["packet"]["subscriptions"].size(), 2u);
  EXPECT_EQ(client[6]["packet"]["subscriptions"][0]["topic"], topics["rootTopic"]);
  EXPECT_EQ(client[6]["packet"]["subscriptions"][1]["topic"], topics["selfTopic"]);
  int id = client[1]["packet"]["messageId"];
  EXPECT_EQ(client[2]["packet"]["messageId"], id + 1);
  EXPECT_EQ(client[6]["packet"]["messageId"], id + 2);
  EXPECT_EQ(asString(fromHex(client[3]["packet"]["payloadHex"].get<std::string>())),
            topics["announce"]);
}

TEST(MqttCodec, DecodesWhatBrokersSend) {
  for (const auto& entry : vectors()["server"]) {
    Decoder decoder;
    decoder.append(serverBytes(entry));
    auto packets = decodeAll(decoder);
    ASSERT_EQ(packets.size(), 1u) << entry["name"];
    expectMatches(packets[0], entry);
    EXPECT_EQ(decoder.buffered(), 0u);
  }
}

TEST(MqttCodec, ServerPacketFormsRoundTrip) {
  // PUBLISH and the ack packets have one layout in both directions.
  for (const auto& entry : vectors()["server"]) {
    const auto& p = entry["packet"];
    if (p["cmd"] == "publish" && entry.contains("hex")) {
      auto ours = encodePublish(p["topic"].get<std::string>(), expectedPayload(entry),
                                p["qos"].get<std::uint8_t>(), p.value("messageId", 0),
                                p["retain"].get<bool>(), p["dup"].get<bool>());
      EXPECT_EQ(hexEncode(ours), entry["hex"].get<std::string>()) << entry["name"];
    }
  }
  EXPECT_EQ(hexEncode(encodePuback(7)), "40020007");
  EXPECT_EQ(hexEncode(encodePubrec(0x102)), "50020102");
  EXPECT_EQ(hexEncode(encodePubcomp(65535)), "7002ffff");
}

TEST(MqttCodec, RemainingLengthBoundaries) {
  const std::vector<std::pair<std::size_t, std::string>> cases = {
      {0, "00"},         {127, "7f"},         {128, "8001"},         {16383, "ff7f"},
      {16384, "808001"}, {2097151, "ffff7f"}, {2097152, "80808001"}, {268435455, "ffffff7f"}};
  for (const auto& [n, hex] : cases) {
    Bytes out;
    appendRemainingLength(out, n);
    EXPECT_EQ(hexEncode(out), hex) << n;
  }
  Bytes out;
  EXPECT_THROW(appendRemainingLength(out, 268435456), std::length_error);
  EXPECT_THROW(encodePublish(std::string(65536, 't'), ""), std::length_error);
}

TEST(MqttCodec, PackedPacketsInOneFrame) {
  Bytes all;
  std::vector<const json*> entries;
  for (const auto& entry : vectors()["server"]) {
    auto bytes = serverBytes(entry);
    all.insert(all.end(), bytes.begin(), bytes.end());
    entries.push_back(&entry);
  }
  Decoder decoder;
  decoder.append(all);
  auto packets = decodeAll(decoder);
  ASSERT_EQ(packets.size(), entries.size());
  for (std::size_t i = 0; i < packets.size(); ++i) expectMatches(packets[i], *entries[i]);
}

TEST(MqttCodec, PacketsSplitAcrossFrames) {
  Bytes all;
  std::vector<const json*> entries;
  for (const auto& entry : vectors()["server"]) {
    if (!entry.contains("hex")) continue;  // keep the byte-by-byte run short
    auto bytes = fromHex(entry["hex"].get<std::string>());
    all.insert(all.end(), bytes.begin(), bytes.end());
    entries.push_back(&entry);
  }
  // One byte at a time: nothing comes out early, everything comes out once complete.
  {
    Decoder decoder;
    std::vector<Packet> packets;
    for (auto b : all) {
      decoder.append(std::span<const std::uint8_t>(&b, 1));
      for (auto& p : decodeAll(decoder)) packets.push_back(std::move(p));
    }
    ASSERT_EQ(packets.size(), entries.size());
    for (std::size_t i = 0; i < packets.size(); ++i) expectMatches(packets[i], *entries[i]);
    EXPECT_EQ(decoder.buffered(), 0u);
  }
  // Random frame sizes, including frames that end inside the remaining length field.
  std::mt19937 rng(1234);
  for (int round = 0; round < 200; ++round) {
    Decoder decoder;
    std::vector<Packet> packets;
    std::size_t pos = 0;
    while (pos < all.size()) {
      std::size_t n = std::min<std::size_t>(all.size() - pos, 1 + rng() % 300);
      decoder.append(std::span<const std::uint8_t>(all.data() + pos, n));
      pos += n;
      for (auto& p : decodeAll(decoder)) packets.push_back(std::move(p));
    }
    ASSERT_EQ(packets.size(), entries.size()) << round;
  }
}

TEST(MqttCodec, LargePacketInManyFrames) {
  const json* big = nullptr;
  for (const auto& entry : vectors()["server"]) {
    if (entry["name"] == "publish 1 MiB boundary") big = &entry;
  }
  ASSERT_NE(big, nullptr);
  auto bytes = serverBytes(*big);
  Decoder decoder;
  for (std::size_t pos = 0; pos < bytes.size(); pos += 16384) {
    EXPECT_FALSE(decoder.next());
    decoder.append(std::span<const std::uint8_t>(bytes.data() + pos,
                                                 std::min<std::size_t>(16384, bytes.size() - pos)));
  }
  auto packets = decodeAll(decoder);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0].payload.size(), 1048571u);
}

TEST(MqttCodec, TruncatedPacketsWaitWithoutError) {
  for (const auto& entry : vectors()["server"]) {
    if (!entry.contains("hex")) continue;
    auto bytes = fromHex(entry["hex"].get<std::string>());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      Decoder decoder;
      decoder.append(std::span<const std::uint8_t>(bytes.data(), n));
      EXPECT_FALSE(decoder.next()) << entry["name"] << " " << n;
      EXPECT_FALSE(decoder.failed()) << entry["name"] << " " << n;
      EXPECT_EQ(decoder.buffered(), n);
    }
  }
}

TEST(MqttCodec, HostileInputIsRejected) {
  for (const auto& entry : vectors()["hostile"]) {
    SCOPED_TRACE(entry["name"].get<std::string>());
    Decoder decoder;
    decoder.append(fromHex(entry["hex"].get<std::string>()));
    EXPECT_FALSE(decoder.next());
    EXPECT_TRUE(decoder.failed());
    EXPECT_EQ(decoder.error().rfind("mqtt: ", 0), 0u) << decoder.error();
    // Failed for good: valid data afterwards is ignored, and nothing stays buffered.
    decoder.append(fromHex("d000"));
    EXPECT_FALSE(decoder.next());
    EXPECT_TRUE(decoder.failed());
    EXPECT_EQ(decoder.buffered(), 0u);
    // A new connection starts clean.
    decoder.reset();
    decoder.append(fromHex("d000"));
    auto p = decoder.next();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->type, PacketType::Pingresp);
  }
}

TEST(MqttCodec, HugeLengthsFailBeforeTheBodyArrives) {
  // The header alone decides: nothing waits for (or buffers) 256 MiB.
  Decoder decoder;
  decoder.append(fromHex("30ffffff7f"));
  EXPECT_FALSE(decoder.next());
  EXPECT_TRUE(decoder.failed());
  EXPECT_NE(decoder.error().find("exceeds the limit"), std::string::npos) << decoder.error();

  // A smaller limit applies to every packet type.
  Decoder small(16);
  small.append(encodePublish("t", std::string(13, 'x')));  // remaining length 16: accepted
  ASSERT_TRUE(small.next());
  small.append(encodePublish("t", std::string(14, 'x')));  // 17: rejected
  EXPECT_FALSE(small.next());
  EXPECT_TRUE(small.failed());

  // A remaining length with a fifth byte fails on that byte.
  Decoder five;
  five.append(fromHex("30ffffffff"));
  EXPECT_FALSE(five.next());
  EXPECT_TRUE(five.failed());
}

TEST(MqttCodec, ValidPrefixThenGarbage) {
  Decoder decoder;
  Bytes data = fromHex(
      "20020000"
      "9003000100"
      "f0");
  decoder.append(data);
  auto a = decoder.next();
  auto b = decoder.next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->type, PacketType::Connack);
  EXPECT_EQ(b->type, PacketType::Suback);
  EXPECT_FALSE(decoder.next());
  EXPECT_TRUE(decoder.failed());
}

TEST(MqttCodec, RandomGarbageNeverCrashes) {
  std::mt19937 rng(99);
  int failures = 0, packets = 0;
  for (int round = 0; round < 20000; ++round) {
    Decoder decoder(4096);
    Bytes data(rng() % 64);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    // Bias towards plausible headers so the body checks get exercised too.
    if (!data.empty() && round % 2) data[0] = static_cast<std::uint8_t>((2 + rng() % 12) << 4);
    if (data.size() > 1 && round % 4 == 1) data[1] = static_cast<std::uint8_t>(data.size() - 2);
    std::size_t pos = 0;
    while (pos < data.size()) {
      std::size_t n = std::min<std::size_t>(data.size() - pos, 1 + rng() % 8);
      decoder.append(std::span<const std::uint8_t>(data.data() + pos, n));
      pos += n;
      while (auto p = decoder.next()) {
        ++packets;
        EXPECT_LE(p->topic.size() + p->payload.size(), data.size());
      }
    }
    if (decoder.failed()) ++failures;
    EXPECT_LE(decoder.buffered(), data.size());
  }
  EXPECT_GT(failures, 1000);
  EXPECT_GT(packets, 10);
}

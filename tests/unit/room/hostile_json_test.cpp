// JSON nested absurdly deep, from every place the network hands us JSON: actions and their
// metadata on a data channel, signalling messages, tracker and relay messages. It must be
// dropped and counted without a crash (copying such a value recurses once per level), and
// ordinary JSON must still get through afterwards. (The bounded parser itself:
// tests/unit/util/json_limits_test.cpp.)
#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "crypto/crypto.hpp"
#include "nostr/wire.hpp"
#include "room/chunk_codec.hpp"
#include "room/config.hpp"
#include "room/id.hpp"
#include "room/peer.hpp"
#include "room/room_core.hpp"
#include "room/signaller.hpp"
#include "strategies/local/local_strategy.hpp"
#include "strategies/torrent/torrent_wire.hpp"
#include "support/eventually.hpp"
#include "util/json_limits.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using trystero::testing::eventually;

namespace {

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

Config testConfig() {
  Config config;
  config.appId = "json_limits_app";
  config.rtcConfig = RtcConfig{};
  config.allowLoopback = true;
  return config;
}

}  // namespace

// ---- the chunk codec: metadata is validated before it is stored ---------------------------

TEST(JsonLimits, ReassemblerDropsDeepMetadataAndCountsIt) {
  room::Reassembler reassembler;
  const std::vector<std::uint8_t> data{1, 2, 3};
  auto deep = room::encodeChunks("file", 1, room::PayloadKind::kBinary, data, nested(100000));
  ASSERT_EQ(deep.size(), 2u);  // the metadata chunk, then the data
  for (const auto& chunk : deep) EXPECT_FALSE(reassembler.feed(chunk).message);
  EXPECT_EQ(reassembler.stats().deepMeta, 1u);
  EXPECT_EQ(reassembler.stats().droppedTransmissions(), 1u);
  EXPECT_EQ(reassembler.stats().discardedChunks, 1u);  // the data chunk after it
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);

  auto fine =
      room::encodeChunks("file", 2, room::PayloadKind::kBinary, data, "{\"name\":[\"a.bin\"]}");
  room::FeedResult result;
  for (const auto& chunk : fine) result = reassembler.feed(chunk);
  ASSERT_TRUE(result.message);
  ASSERT_TRUE(result.message->meta);
  EXPECT_EQ(*result.message->meta, "{\"name\":[\"a.bin\"]}");
  EXPECT_EQ(result.message->bytes, data);
  EXPECT_EQ(reassembler.stats().deepMeta, 1u);
}

// ---- the strategies' wire parsers ---------------------------------------------------------

TEST(JsonLimits, TrackerAndRelayParsersRefuseDeepJson) {
  namespace torrent = strategies::torrent;
  namespace wire = trystero::nostr::wire;
  EXPECT_FALSE(torrent::parseTrackerMessage("{\"a\":" + nested(1000000) + "}", "self"));
  auto ok = torrent::parseTrackerMessage("{\"interval\":120,\"info_hash\":\"abc\"}", "self");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->intervalSeconds, 120.0);

  EXPECT_FALSE(wire::parseRelayMessage("[\"NOTICE\"," + nested(100000) + "]"));
  auto notice = wire::parseRelayMessage("[\"NOTICE\",\"hello\"]");
  ASSERT_TRUE(notice);
  EXPECT_EQ(notice->message, "hello");
}

// ---- a room: actions from a connected peer that sends raw chunks ---------------------------

namespace {

// A room of our own with one peer whose other end the test drives chunk by chunk.
class HostileActionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& loop = loop::Loop::shared();
    const auto rtc = room::toRtcConfiguration(testConfig());
    auto open = std::make_shared<std::promise<void>>();
    loop.invoke([&] {
      core = RoomCore::create(loop, crypto::generateId(20), "json_limits_app", "deep", {}, {});
      room = core->makeRoom();
      hostile = room::Peer::create(loop, rtc, /*initiator=*/true);
      victim = room::Peer::create(loop, rtc, /*initiator=*/false);
      victim->setHandlers({[open] { open->set_value(); }, nullptr, nullptr});
      hostile->whenOffer([this](std::optional<rtc::SessionDescription> offer) {
        if (!offer) return;
        victim->signal(*offer, [this](std::optional<rtc::SessionDescription> answer) {
          if (answer) hostile->signal(*answer, [](auto) {});
        });
      });
    });
    auto opened = open->get_future();
    ASSERT_EQ(opened.wait_for(20s), std::future_status::ready);
    ASSERT_TRUE(eventually([&] { return loop.invoke([&] { return hostile->isOpen(); }); }));
    ASSERT_TRUE(loop.invoke([&] { return core->addPeer(victim, kHostileId); }));
  }
  void TearDown() override {
    if (room) room->leave().waitFor(2s);
    loop::Loop::shared().invoke([&] {
      if (hostile) hostile->destroy();
      hostile.reset();
      victim.reset();
      room.reset();
      core.reset();
    });
  }

  // What a peer that does not use nlohmann (or does not care) can put on the wire.
  void sendRaw(const std::string& type, std::uint8_t nonce, room::PayloadKind kind,
               const std::string& payload, std::optional<std::string> meta = std::nullopt) {
    loop::Loop::shared().invoke([&] {
      room::ChunkEncoder encoder(type, nonce, kind,
                                 std::vector<std::uint8_t>(payload.begin(), payload.end()),
                                 std::move(meta));
      for (std::size_t i = 0; i < encoder.chunkCount(); ++i) {
        ASSERT_TRUE(hostile->send(encoder.chunk(i)));
      }
    });
  }

  static constexpr const char* kHostileId = "hostile-peer-id-0001";
  std::shared_ptr<RoomCore> core;
  std::shared_ptr<Room> room;
  std::shared_ptr<room::Peer> hostile, victim;
};

struct Received {
  std::mutex mutex;
  std::vector<Payload> payloads;
  std::vector<Metadata> metas;
  std::promise<void> gotLast;
  void add(const Payload& payload, const Metadata& meta) {
    std::lock_guard lock(mutex);
    payloads.push_back(payload);  // copies the value, as the crashing program did
    metas.push_back(meta);
  }
};

}  // namespace

TEST_F(HostileActionTest, DeepActionJsonAndMetadataAreDroppedCountedAndLaterMessagesArrive) {
  auto received = std::make_shared<Received>();
  auto [sendDeep, getDeep, deepProgress] = room->makeAction("deep");
  getDeep([received](const Payload& payload, const std::string&, const Metadata& meta) {
    received->add(payload, meta);
    if (payload.isJson() && payload.json().contains("last")) received->gotLast.set_value();
  });
  // A million levels (2 MB, 123 chunks), then deep metadata on a binary payload.
  sendRaw("deep", 0, room::PayloadKind::kJson, nested(1000000));
  sendRaw("deep", 1, room::PayloadKind::kBinary, "bytes", nested(5000));
  sendRaw("deep", 2, room::PayloadKind::kJson, nested(util::kMaxJsonDepth + 1));
  // Then ordinary traffic, which must still get through (the channel is ordered).
  sendRaw("deep", 3, room::PayloadKind::kBinary, "bytes", "{\"name\":\"x\"}");
  sendRaw("deep", 4, room::PayloadKind::kJson, "{\"last\":" + nested(10) + "}");

  auto last = received->gotLast.get_future();
  ASSERT_EQ(last.wait_for(30s), std::future_status::ready);
  auto stats = room->stats();
  EXPECT_EQ(stats.droppedDeepJson, 3u);
  EXPECT_EQ(stats.droppedTransmissions, 3u);
  std::lock_guard lock(received->mutex);
  ASSERT_EQ(received->payloads.size(), 2u);
  EXPECT_EQ(received->payloads[0].bytes(), (Bytes{'b', 'y', 't', 'e', 's'}));
  EXPECT_EQ(received->metas[0], nlohmann::json({{"name", "x"}}));
  EXPECT_EQ(received->payloads[1].json()["last"], nlohmann::json::parse(nested(10)));
}

// ---- signalling: a relay delivering deep JSON on the room's topic --------------------------

TEST(JsonLimitsSignalling, DeepSignalIsDroppedCountedAndHonestPeersStillMeet) {
  auto& loop = loop::Loop::shared();
  auto bus = std::make_shared<strategies::LocalBus>(loop);
  const auto config = testConfig();
  std::vector<std::shared_ptr<room::Signaller>> signallers;
  std::vector<std::shared_ptr<Room>> rooms;
  auto joinNew = [&] {
    const std::string id = crypto::generateId(20);
    return loop.invoke([&] {
      room::Timing timing;
      timing.offerPoolSize = 2;
      signallers.push_back(std::make_shared<room::Signaller>(
          loop, std::make_unique<strategies::LocalStrategy>(bus, id), id,
          room::toRtcConfiguration(config), timing));
      rooms.push_back(signallers.back()->join(config, "deep-signals", {}));
      return rooms.back();
    });
  };
  auto victim = joinNew();
  const auto topic = crypto::topicHash("Trystero@" + config.appId + "@deep-signals");
  for (int i = 0; i < 5; ++i) {
    loop.invoke([&] { bus->publish(topic, "{\"peerId\":" + nested(100000) + "}"); });
  }
  ASSERT_TRUE(eventually([&] { return victim->stats().droppedSignals >= 5; }));

  auto met = std::make_shared<std::promise<void>>();
  victim->onPeerJoin([met, once = std::make_shared<std::once_flag>()](const std::string&) {
    std::call_once(*once, [&] { met->set_value(); });
  });
  joinNew();
  EXPECT_EQ(met->get_future().wait_for(30s), std::future_status::ready);

  for (auto& r : rooms) r->leave().waitFor(2s);
  rooms.clear();
  loop.invoke([&] { signallers.clear(); });
}

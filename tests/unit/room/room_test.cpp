// Rooms end to end over the in-process strategy: real peer connections on loopback, several
// identities in one process.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "room/config.hpp"
#include "room/id.hpp"
#include "room/signaller.hpp"
#include "strategies/local/local_strategy.hpp"

using namespace trystero;
using namespace std::chrono_literals;

namespace {

Config testConfig(std::string password = "") {
  Config config;
  config.appId = "san_narciso_3d";
  config.password = std::move(password);
  config.rtcConfig = RtcConfig{};  // no public STUN in tests
  config.allowLoopback = true;
  return config;
}

struct Identity {
  std::shared_ptr<room::Signaller> signaller;
  std::string id;
};

Identity makeIdentity(const std::shared_ptr<strategies::LocalBus>& bus, const Config& config) {
  auto& loop = loop::Loop::shared();
  Identity identity;
  identity.id = room::generateId(20);
  loop.invoke([&] {
    room::Timing timing;
    timing.offerPoolSize = 2;
    identity.signaller = std::make_shared<room::Signaller>(
        loop, std::make_unique<strategies::LocalStrategy>(bus, identity.id), identity.id,
        room::toRtcConfiguration(config), timing);
  });
  return identity;
}

std::shared_ptr<Room> join(Identity& identity, const Config& config, const std::string& roomId,
                           JoinErrorHandler onError = {}) {
  return loop::Loop::shared().invoke(
      [&] { return identity.signaller->join(config, roomId, std::move(onError)); });
}

// Waits until f() holds, polling; false on timeout.
template <typename F>
bool eventually(F f, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

struct Joined {
  std::mutex mutex;
  std::vector<std::string> ids;
  void add(const std::string& id) {
    std::lock_guard lock(mutex);
    ids.push_back(id);
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return ids.size();
  }
};

class RoomTest : public ::testing::Test {
 protected:
  void SetUp() override { bus = std::make_shared<strategies::LocalBus>(loop::Loop::shared()); }
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop::Loop::shared().invoke([&] { identities.clear(); });
  }
  std::shared_ptr<Room> joinNew(const Config& config = testConfig(),
                                const std::string& roomId = "yoyodyne") {
    identities.push_back(makeIdentity(bus, config));
    rooms.push_back(join(identities.back(), config, roomId));
    return rooms.back();
  }

  std::shared_ptr<strategies::LocalBus> bus;
  std::vector<Identity> identities;
  std::vector<std::shared_ptr<Room>> rooms;
};

}  // namespace

TEST_F(RoomTest, TwoPeersFindEachOther) {
  Joined aJoined, bJoined;
  auto a = joinNew();
  a->onPeerJoin([&](const std::string& id) { aJoined.add(id); });
  auto b = joinNew();
  b->onPeerJoin([&](const std::string& id) { bJoined.add(id); });
  ASSERT_TRUE(eventually([&] { return aJoined.size() == 1 && bJoined.size() == 1; }));
  EXPECT_EQ(aJoined.ids[0], identities[1].id);
  EXPECT_EQ(bJoined.ids[0], identities[0].id);
  EXPECT_EQ(a->getPeers(), std::vector<std::string>{identities[1].id});
  // Joining the same room again gives the same room.
  EXPECT_EQ(join(identities[0], testConfig(), "yoyodyne"), a);
}

TEST_F(RoomTest, ActionsCarryEveryPayloadKind) {
  auto a = joinNew();
  auto b = joinNew();
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  auto [sendDrink, getDrink, onDrinkProgress] = a->makeAction("drink");
  auto bDrink = b->makeAction("drink");
  std::mutex mutex;
  std::vector<std::pair<Payload, Metadata>> received;
  bDrink.receive([&](const Payload& data, const std::string& peerId, const Metadata& meta) {
    EXPECT_EQ(peerId, identities[0].id);
    std::lock_guard lock(mutex);
    received.emplace_back(data, meta);
  });
  std::vector<Payload> sent = {Payload("negroni"),
                               Payload(""),
                               Payload(42),
                               Payload(1.5),
                               Payload(nlohmann::json{{"drink", "negroni"}, {"n", {1, 2}}}),
                               Payload(true),
                               Payload(nullptr),
                               Payload(nlohmann::json::array({"a", 1}))};
  for (auto& p : sent) sendDrink(p).get();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return received.size() == sent.size();
  }));
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(received[i].first, sent[i]) << i;
    EXPECT_FALSE(received[i].second);
  }
}

TEST_F(RoomTest, BinaryWithMetadataAndProgress) {
  auto a = joinNew();
  auto b = joinNew();
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  auto [sendPic, getPic, onPicProgress] = a->makeAction("pic");
  auto bPic = b->makeAction("pic");
  Bytes bytes(1000000);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7);
  nlohmann::json meta = {{"name", "x.pdf"}, {"size", bytes.size()}};
  std::promise<std::pair<Payload, Metadata>> got;
  std::vector<double> receiverProgress, senderProgress;
  Metadata progressMeta;
  bPic.progress([&](double p, const std::string&, const Metadata& m) {
    receiverProgress.push_back(p);
    progressMeta = m;
  });
  bPic.receive([&](const Payload& data, const std::string&, const Metadata& m) {
    got.set_value({data, m});
  });
  sendPic(bytes, std::nullopt, meta, [&](double p, const std::string& peerId) {
    EXPECT_EQ(peerId, identities[1].id);
    senderProgress.push_back(p);
  }).get();
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(20s), std::future_status::ready);
  auto [payload, receivedMeta] = future.get();
  EXPECT_EQ(payload.bytes(), bytes);
  EXPECT_EQ(receivedMeta, meta);
  EXPECT_EQ(progressMeta, meta);
  EXPECT_EQ(senderProgress.size(), 63u);
  EXPECT_EQ(receiverProgress.size(), 63u);
  EXPECT_DOUBLE_EQ(senderProgress.back(), 1.0);
  EXPECT_DOUBLE_EQ(receiverProgress.back(), 1.0);
}

TEST_F(RoomTest, TargetsPingAndLeave) {
  auto a = joinNew();
  auto b = joinNew();
  auto c = joinNew();
  ASSERT_TRUE(eventually([&] {
    return a->getPeers().size() == 2 && b->getPeers().size() == 2 && c->getPeers().size() == 2;
  }));
  std::atomic<int> bGot{0}, cGot{0};
  auto [send, get, progress] = a->makeAction("msg");
  b->makeAction("msg").receive(
      [&](const Payload&, const std::string&, const Metadata&) { bGot++; });
  c->makeAction("msg").receive(
      [&](const Payload&, const std::string&, const Metadata&) { cGot++; });
  send("to b", identities[1].id).get();
  send("to both", std::vector<std::string>{identities[1].id, identities[2].id}).get();
  send("to all").get();
  ASSERT_TRUE(eventually([&] { return bGot == 3 && cGot == 2; }));

  double rtt = a->ping(identities[1].id).get();
  EXPECT_GE(rtt, 0.0);
  EXPECT_LT(rtt, 5000.0);
  EXPECT_GE(b->ping(identities[0].id).get(), 0.0);

  std::promise<std::string> left;
  std::atomic<bool> leftSet{false};
  b->onPeerLeave([&](const std::string& id) {
    if (!leftSet.exchange(true)) left.set_value(id);
  });
  c->leave().get();
  auto leftFuture = left.get_future();
  ASSERT_EQ(leftFuture.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(leftFuture.get(), identities[2].id);
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1; }));
  EXPECT_THROW(a->ping(identities[2].id).get(), std::runtime_error);
  b->onPeerLeave(nullptr);  // the handler refers to this frame; TearDown leaves later
}

TEST_F(RoomTest, WrongPasswordFiresJoinErrorAndNobodyJoins) {
  std::promise<JoinError> error;
  std::atomic<bool> errorSet{false};
  identities.push_back(makeIdentity(bus, testConfig("right")));
  rooms.push_back(join(identities.back(), testConfig("right"), "yoyodyne"));
  identities.push_back(makeIdentity(bus, testConfig("wrong")));
  rooms.push_back(join(identities.back(), testConfig("wrong"), "yoyodyne", [&](const JoinError& e) {
    if (!errorSet.exchange(true)) error.set_value(e);
  }));
  auto future = error.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto e = future.get();
  EXPECT_EQ(e.error.rfind("incorrect password (wrong) when decrypting ", 0), 0u) << e.error;
  EXPECT_EQ(e.appId, "san_narciso_3d");
  EXPECT_EQ(e.roomId, "yoyodyne");
  EXPECT_EQ(e.peerId, identities[0].id);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(rooms[0]->getPeers().empty());
  EXPECT_TRUE(rooms[1]->getPeers().empty());
}

TEST_F(RoomTest, PendingSendFailsWhenPeerVanishes) {
  auto a = joinNew();
  auto b = joinNew();
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  auto [send, get, progress] = a->makeAction("big");
  b->makeAction("big");
  auto future = send(Bytes(64u << 20, 1));
  b->leave();
  // Either it all went out before the leave landed, or it fails: it never hangs.
  ASSERT_TRUE(future.waitFor(20s));
}

TEST(RoomApi, RejectsBadArguments) {
  auto bus = std::make_shared<strategies::LocalBus>(loop::Loop::shared());
  auto identity = makeIdentity(bus, testConfig());
  Config noApp = testConfig();
  noApp.appId = "";
  EXPECT_THROW(join(identity, noApp, "room"), std::invalid_argument);
  EXPECT_THROW(join(identity, testConfig(), ""), std::invalid_argument);
  auto room = join(identity, testConfig(), "room");
  EXPECT_THROW(room->makeAction("thirteen_byte"), std::invalid_argument);
  EXPECT_THROW(room->makeAction(""), std::invalid_argument);
  auto action = room->makeAction("ok");
  EXPECT_THROW(action.send("text", {}, nlohmann::json{{"a", 1}}), std::invalid_argument);
  EXPECT_THROW(action.send(Bytes{1}, {}, nlohmann::json(3)), std::invalid_argument);
  EXPECT_NO_THROW(action.send(Bytes{1}, {}, nlohmann::json{{"a", 1}}).get());
  room->leave().get();
  loop::Loop::shared().invoke([&] { identity.signaller.reset(); });
}

TEST(RoomApi, WaitingInsideACallbackThrowsInsteadOfDeadlocking) {
  auto& loop = loop::Loop::shared();
  Promise<int> never;
  auto future = never.future();
  bool threw = loop.invoke([&] {
    try {
      future.get();
    } catch (const std::logic_error&) {
      return true;
    }
    return false;
  });
  EXPECT_TRUE(threw);
}

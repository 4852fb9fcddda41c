// Rooms end to end over the in-process strategy: real peer connections on loopback, several
// identities in one process.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "room/config.hpp"
#include "room/id.hpp"
#include "room/room_core.hpp"
#include "room/signaller.hpp"
#include "strategies/local/local_strategy.hpp"
#include "support/eventually.hpp"
#include "support/room_helpers.hpp"

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

// Several independent in-process relays (LocalStrategy is one): relay i of every identity is
// buses[i], so two identities meet on each and make one connection per relay, as trystero does
// with several relays.
class MultiRelayStrategy : public room::Strategy {
 public:
  MultiRelayStrategy(const std::vector<std::shared_ptr<strategies::LocalBus>>& buses,
                     const std::string& selfId) {
    for (const auto& bus : buses) {
      relays_.push_back(std::make_unique<strategies::LocalStrategy>(bus, selfId));
    }
  }
  std::size_t relayCount() const override { return relays_.size(); }
  void whenReady(std::size_t relay, std::function<void()> f) override {
    relays_[relay]->whenReady(0, std::move(f));
  }
  void subscribe(std::size_t relay, const std::string& rootTopic, const std::string& selfTopic,
                 MessageHandler handler) override {
    relays_[relay]->subscribe(0, rootTopic, selfTopic, std::move(handler));
  }
  void unsubscribe(std::size_t relay, const std::string& rootTopic,
                   const std::string& selfTopic) override {
    relays_[relay]->unsubscribe(0, rootTopic, selfTopic);
  }
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& rootTopic,
                                                    const std::string& selfTopic) override {
    return relays_[relay]->announce(0, rootTopic, selfTopic);
  }
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override {
    relays_[relay]->signal(0, topic, message);
  }

 private:
  std::vector<std::unique_ptr<strategies::LocalStrategy>> relays_;
};

Identity makeIdentity(const std::shared_ptr<strategies::LocalBus>& bus, const Config& config) {
  auto& loop = loop::Loop::shared();
  Identity identity;
  identity.id = crypto::generateId(20);
  loop.invoke([&] {
    room::Timing timing;
    timing.offerPoolSize = 2;
    identity.signaller = std::make_shared<room::Signaller>(
        loop, std::make_unique<strategies::LocalStrategy>(bus, identity.id), identity.id,
        room::toRtcConfiguration(config), timing);
  });
  return identity;
}

Identity makeMultiRelayIdentity(const std::vector<std::shared_ptr<strategies::LocalBus>>& buses,
                                const Config& config, room::Timing timing) {
  auto& loop = loop::Loop::shared();
  Identity identity;
  identity.id = crypto::generateId(20);
  loop.invoke([&] {
    identity.signaller = std::make_shared<room::Signaller>(
        loop, std::make_unique<MultiRelayStrategy>(buses, identity.id), identity.id,
        room::toRtcConfiguration(config), timing);
  });
  return identity;
}

std::shared_ptr<Room> join(Identity& identity, const Config& config, const std::string& roomId,
                           JoinErrorHandler onError = {}) {
  return loop::Loop::shared().invoke(
      [&] { return identity.signaller->join(config, roomId, std::move(onError)); });
}

using trystero::testing::eventually;
using trystero::testing::listenForMedia;
using trystero::testing::MediaInbox;

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
  std::shared_ptr<RoomCore> core(std::size_t i) {
    return loop::Loop::shared().invoke(
        [&] { return identities[i].signaller->core("san_narciso_3d", "yoyodyne"); });
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

// A resolved send only means the data left the room's queues; leave() right after it must not
// cut that data off in flight (room.js closes 99 ms after the leave message regardless).
TEST_F(RoomTest, LeaveRightAfterASendDeliversIt) {
  auto a = joinNew();
  auto b = joinNew();
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  auto [sendBlob, getBlob, onBlobProgress] = a->makeAction("blob");
  auto bBlob = b->makeAction("blob");
  Bytes bytes(16 * 1024 * 1024);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 13 + 1);
  std::promise<Bytes> got;
  bBlob.receive([&](const Payload& data, const std::string&, const Metadata&) {
    got.set_value(data.bytes());
  });
  sendBlob(bytes).get();
  auto left = a->leave();
  // Stall the network thread past the 99 ms, so that the close is due before the data in flight
  // has been processed (as on a slow link).
  loop::Loop::shared().post([] { std::this_thread::sleep_for(300ms); });
  left.get();
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(future.get() == bytes);
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

// --- Standby connections (room_core.hpp): two relays, one connection per relay and peer ---

namespace {

// Joins and leaves one room saw, by peer id.
struct PeerEvents {
  std::mutex mutex;
  std::vector<std::string> joins, leaves;
  void watch(const std::shared_ptr<Room>& room) {
    room->onPeerJoin([this](const std::string& id) {
      std::lock_guard lock(mutex);
      joins.push_back(id);
    });
    room->onPeerLeave([this](const std::string& id) {
      std::lock_guard lock(mutex);
      leaves.push_back(id);
    });
  }
  std::size_t joinCount() {
    std::lock_guard lock(mutex);
    return joins.size();
  }
  std::size_t leaveCount() {
    std::lock_guard lock(mutex);
    return leaves.size();
  }
};

MediaFrame pattern(std::size_t size, std::uint8_t first, std::uint32_t timestamp) {
  MediaFrame frame;
  frame.data.resize(size);
  for (std::size_t i = 0; i < size; ++i) frame.data[i] = static_cast<std::uint8_t>(i * 13 + first);
  frame.data[0] = first;
  frame.rtpTimestamp = timestamp;
  frame.keyframe = (first & 1) == 0;
  return frame;
}

// Frames on each of our video tracks (told apart by their first byte) until b has `want` of
// each: frames pushed before a section is negotiated go nowhere.
// Frames received before index `since` do not count.
bool flowOnEach(MediaInbox& inbox, const std::vector<std::shared_ptr<LocalTrack>>& tracks,
                std::size_t want, std::uint32_t& clock, std::size_t since = 0) {
  return eventually(
      [&] {
        clock += 3000;
        std::map<std::uint8_t, std::size_t> got;
        for (std::size_t i = 0; i < tracks.size(); ++i) {
          tracks[i]->sendFrame(pattern(600, static_cast<std::uint8_t>(0x10 * (i + 1)), clock));
          got[static_cast<std::uint8_t>(0x10 * (i + 1))] = 0;
        }
        std::lock_guard lock(inbox.mutex);
        const auto& frames = inbox.frames["video"];
        for (std::size_t i = since; i < frames.size(); ++i) {
          if (got.count(frames[i].data[0])) ++got[frames[i].data[0]];
        }
        return std::all_of(got.begin(), got.end(), [&](const auto& g) { return g.second >= want; });
      },
      15s);
}
::testing::AssertionResult settles(const Future<void>& future, bool resolved,
                                   std::chrono::milliseconds within) {
  if (!future.waitFor(within)) return ::testing::AssertionFailure() << "it did not settle";
  try {
    future.get();
    if (resolved) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "it resolved";
  } catch (const std::exception& e) {
    if (!resolved) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "it failed: " << e.what();
  }
}
::testing::AssertionResult resolves(const Future<void>& future,
                                    std::chrono::milliseconds within = 20s) {
  return settles(future, true, within);
}
::testing::AssertionResult fails(const Future<void>& future,
                                 std::chrono::milliseconds within = 20s) {
  return settles(future, false, within);
}

// Standby timing; the open of connections through relay `delayedRelay` is handled `delay` late,
// which makes this side keep the other relay's connection first.
room::Timing standbyTiming(std::size_t delayedRelay, std::chrono::milliseconds delay,
                           std::chrono::milliseconds grace, bool keepStandbys = true) {
  room::Timing timing;
  timing.offerPoolSize = 2;
  timing.standbyGrace = grace;
  timing.keepStandbys = keepStandbys;
  timing.connectDelayForTest = [delayedRelay, delay](std::size_t relay) {
    return relay == delayedRelay ? delay : std::chrono::milliseconds(0);
  };
  return timing;
}

class StandbyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      buses.push_back(std::make_shared<strategies::LocalBus>(loop::Loop::shared()));
    }
  }
  void TearDown() override {
    std::vector<Future<void>> left;
    for (auto& room : rooms) {
      room->onPeerJoin(nullptr);
      room->onPeerLeave(nullptr);
      room->onPeerTrack(nullptr);
      room->onPeerStream(nullptr);
      left.push_back(room->leave());
    }
    // A leave drains for up to 2 s; the inboxes its tracks' ends write to go after it.
    for (auto& future : left) EXPECT_TRUE(future.waitFor(10s)) << "a room did not leave";
    rooms.clear();
    loop::Loop::shared().invoke([&] { identities.clear(); });
  }
  std::shared_ptr<Room> joinNew(const room::Timing& timing) {
    identities.push_back(makeMultiRelayIdentity(buses, testConfig(), timing));
    rooms.push_back(join(identities.back(), testConfig(), "yoyodyne"));
    events[rooms.size() - 1].watch(rooms.back());
    return rooms.back();
  }
  // a (rooms[0]) and b (rooms[1]), each recording the other's media in inbox[0] / inbox[1].
  void joinListening(const room::Timing& aTiming, const room::Timing& bTiming) {
    listenForMedia(*joinNew(aTiming), inbox[0]);
    listenForMedia(*joinNew(bTiming), inbox[1]);
  }
  bool bothHoldTwoConnections(std::chrono::milliseconds within = 30s) {
    return eventually([&] { return connections(0, 1) == 2 && connections(1, 0) == 2; }, within);
  }
  std::shared_ptr<RoomCore> core(std::size_t i) {
    return loop::Loop::shared().invoke(
        [&] { return identities[i].signaller->core("san_narciso_3d", "yoyodyne"); });
  }
  // Connections identity i holds to identity j.
  std::size_t connections(std::size_t i, std::size_t j) {
    auto c = core(i);
    if (!c) return 0;
    return loop::Loop::shared().invoke([&] { return c->connectionCount(identities[j].id); });
  }
  // A message each way, and a ping each way.
  void exchange(const std::shared_ptr<Room>& a, const std::shared_ptr<Room>& b) {
    std::mutex mutex;
    std::vector<std::string> got;
    auto record = [&](const Payload& data, const std::string& peerId, const Metadata&) {
      std::lock_guard lock(mutex);
      got.push_back(data.text() + " from " + (peerId == identities[0].id ? "a" : "b"));
    };
    auto aHello = a->makeAction("hello");
    auto bHello = b->makeAction("hello");
    aHello.receive(record);
    bHello.receive(record);
    aHello.send("hi", identities[1].id).get();
    bHello.send("hey", identities[0].id).get();
    ASSERT_TRUE(eventually([&] {
      std::lock_guard lock(mutex);
      return got.size() == 2;
    }));
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"hey from b", "hi from a"}));
    EXPECT_GE(a->ping(identities[1].id).get(), 0.0);
    EXPECT_GE(b->ping(identities[0].id).get(), 0.0);
    aHello.receive(nullptr);
    bHello.receive(nullptr);
  }

  // Before the rooms: they outlive the rooms (TearDown leaves), whose handlers write to them.
  PeerEvents events[2];
  std::shared_ptr<MediaInbox> inbox[2] = {std::make_shared<MediaInbox>(),
                                          std::make_shared<MediaInbox>()};
  std::vector<std::shared_ptr<strategies::LocalBus>> buses;
  std::vector<Identity> identities;
  std::vector<std::shared_ptr<Room>> rooms;
};

}  // namespace

// a keeps relay 0's connection first, b relay 1's: each holds the other's pick as a standby
// (trystero would destroy it and both would lose each other), then they converge on one
// connection without either seeing the other leave.
TEST_F(StandbyTest, FirstPicksDifferAndNobodyLeaves) {
  auto a = joinNew(standbyTiming(1, 1000ms, 2000ms));
  auto b = joinNew(standbyTiming(0, 1000ms, 2000ms));
  ASSERT_TRUE(eventually([&] { return events[0].joinCount() == 1 && events[1].joinCount() == 1; }));
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 2 && connections(1, 0) == 2; }, 5s));
  // The smaller selfId ends its standby after the grace period (the larger's primary, which
  // then promotes its own standby); nobody holds two connections after that.
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 1 && connections(1, 0) == 1; }, 10s));
  exchange(a, b);
  // Past the larger side's fallback (3 x grace) nothing else happens.
  loop::Loop::shared().advanceClock(3 * 2000ms);
  EXPECT_EQ(connections(0, 1), 1u);
  EXPECT_EQ(connections(1, 0), 1u);
  exchange(a, b);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
  EXPECT_EQ(events[0].joinCount(), 1u);
  EXPECT_EQ(events[1].joinCount(), 1u);
}

// b behaves as trystero@0.22.0 (no standbys) and keeps relay 1's connection, destroying relay
// 0's, which a picked first: a's standby takes over silently, and what a sent on its first pick
// (which b discarded unread, as trystero does) is sent again on the new one.
TEST_F(StandbyTest, JsLikeRemoteDestroysOurPrimaryAndTheStandbyTakesOver) {
  auto a = joinNew(standbyTiming(1, 200ms, 3000ms));
  auto aCore = core(0);
  // a greets b as soon as it joins, on whichever connection it keeps first (relay 0's).
  auto firstPick = std::make_shared<std::atomic<const room::Peer*>>(nullptr);
  auto aEarly = a->makeAction("early");
  a->onPeerJoin([&, aCore, firstPick, send = aEarly.send](const std::string& id) {
    {
      std::lock_guard lock(events[0].mutex);
      events[0].joins.push_back(id);
    }
    firstPick->store(aCore->primaryForTest(id));  // onPeerJoin runs on the loop thread
    send("early", id);
  });
  auto b = joinNew(standbyTiming(0, 500ms, 3000ms, /*keepStandbys=*/false));
  std::atomic<int> early{0};
  auto bEarly = b->makeAction("early");
  bEarly.receive([&](const Payload& data, const std::string& id, const Metadata&) {
    EXPECT_EQ(data.text(), "early");
    EXPECT_EQ(id, identities[0].id);
    early++;
  });
  ASSERT_TRUE(eventually([&] { return events[0].joinCount() == 1 && events[1].joinCount() == 1; }));
  // b's late open of relay 0's connection made it destroy that one: a holds relay 1's only.
  std::string bId = identities[1].id;
  ASSERT_TRUE(eventually(
      [&] {
        auto primary = loop::Loop::shared().invoke([&] { return aCore->primaryForTest(bId); });
        return primary && primary != firstPick->load() && connections(0, 1) == 1 &&
               connections(1, 0) == 1;
      },
      10s));
  exchange(a, b);
  EXPECT_EQ(early, 1);
  EXPECT_EQ(connections(0, 1), 1u);
  EXPECT_EQ(connections(1, 0), 1u);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
  EXPECT_EQ(events[0].joinCount(), 1u);
  EXPECT_EQ(events[1].joinCount(), 1u);
  bEarly.receive(nullptr);  // it refers to this frame; TearDown leaves later
}

// The primary dies while a large message is half sent on it: the standby takes over on both
// sides and the message arrives once, whole (it starts over on the new connection). What was
// sent before, once the primary was no longer young, is not sent again.
TEST_F(StandbyTest, PromotionRestartsAHalfSentMessage) {
  auto a = joinNew(standbyTiming(1, 300ms, 9000ms));  // young for 3 s, standbys end after 9 s
  auto b = joinNew(standbyTiming(1, 300ms, 9000ms));
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 2 && connections(1, 0) == 2; }));
  auto [send, get, progress] = a->makeAction("big");
  auto bBig = b->makeAction("big");
  std::atomic<int> small{0};
  bBig.receive([&](const Payload&, const std::string&, const Metadata&) { small++; });
  send("small").get();
  // "small" went out on a young primary; the big one goes once it is no longer young (a third
  // of the grace), well before the standbys end.
  auto aCore = core(0);
  std::string bId = identities[1].id;
  loop::Loop::shared().advanceClock(3s);
  Bytes bytes(8u << 20);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 31 + 7);
  std::mutex mutex;
  std::vector<Bytes> received;
  bBig.receive([&](const Payload& data, const std::string&, const Metadata&) {
    if (data.kind() != Payload::Kind::Binary) {
      small++;
      return;
    }
    std::lock_guard lock(mutex);
    received.push_back(data.bytes());
  });
  bool dropped = false;
  double lastProgress = 0;
  auto future = send(bytes, bId, std::nullopt, [&](double p, const std::string&) {
    lastProgress = p;
    if (!dropped && p >= 0.3) {
      dropped = true;
      loop::Loop::shared().post([aCore, bId] { aCore->dropPrimaryForTest(bId); });
    }
  });
  ASSERT_TRUE(future.waitFor(30s));
  EXPECT_NO_THROW(future.get());
  EXPECT_TRUE(dropped);
  EXPECT_DOUBLE_EQ(lastProgress, 1.0);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return !received.empty();
  }));
  EXPECT_EQ(connections(0, 1), 1u);
  ASSERT_TRUE(eventually([&] { return connections(1, 0) == 1; }));
  // Messages on the one connection left, each way: a second copy of the big one (or of
  // "small") would have arrived before them.
  exchange(a, b);
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0] == bytes);
  }
  EXPECT_EQ(small, 1);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
  bBig.receive(nullptr);

  // Leaving ends the standbys as well: b sees a leave once and holds nothing of it.
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 1; }));
  a->leave().get();
  ASSERT_TRUE(eventually([&] { return events[1].leaveCount() == 1; }, 5s));
  EXPECT_EQ(connections(1, 0), 0u);
  std::this_thread::sleep_for(300ms);
  // No connection still on its way when a left passes for a joining again.
  EXPECT_EQ(connections(1, 0), 0u);
  EXPECT_EQ(events[1].joinCount(), 1u);
  EXPECT_EQ(events[1].leaveCount(), 1u);
}

// Both keep the same connection first: each holds the other relay's as a standby, and both
// standbys end (the smaller side's after the grace period, closing the larger's too).
TEST_F(StandbyTest, SamePicksDropTheStandbys) {
  auto a = joinNew(standbyTiming(1, 300ms, 1000ms));
  auto b = joinNew(standbyTiming(1, 300ms, 1000ms));
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 2 && connections(1, 0) == 2; }));
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 1 && connections(1, 0) == 1; }, 3s));
  exchange(a, b);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
}

// Messages stream both ways while the two sides pick different connections and the standbys
// end (gracefully: what is in flight on a connection being ended still arrives): every send
// whose future resolved arrives exactly once, and nobody sees the other leave.
// (It caught the SCTP channel closing on the peer's reset before the peer had confirmed ours:
// the connection was then torn down with our last messages unacknowledged.)
TEST_F(StandbyTest, MessagesInFlightWhileStandbysEndAllArriveOnce) {
  auto a = joinNew(standbyTiming(1, 400ms, 800ms));
  auto b = joinNew(standbyTiming(0, 400ms, 800ms));
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 2 && connections(1, 0) == 2; }));
  struct Inbox {
    std::mutex mutex;
    std::map<int, int> seen;  // message index -> deliveries
  };
  auto inboxes = std::make_shared<std::array<Inbox, 2>>();
  std::vector<Action> actions{a->makeAction("stream"), b->makeAction("stream")};
  for (int side = 0; side < 2; ++side) {
    actions[side].receive(
        [inboxes, side](const Payload& data, const std::string&, const Metadata&) {
          auto& inbox = (*inboxes)[side];
          std::lock_guard lock(inbox.mutex);
          ++inbox.seen[data.json().at("i").get<int>()];
        });
  }
  constexpr int kMessages = 300;
  std::vector<Future<void>> sent[2];
  std::string padding(16 * 1024, 'x');
  for (int i = 0; i < kMessages; ++i) {
    for (int side = 0; side < 2; ++side) {
      sent[side].push_back(
          actions[side].send(nlohmann::json{{"i", i}, {"pad", padding}}, identities[1 - side].id));
    }
    std::this_thread::sleep_for(10ms);  // pacing: the stream spans the standbys' end
  }
  for (int side = 0; side < 2; ++side) {
    int resolved = 0;
    for (auto& future : sent[side]) {
      ASSERT_TRUE(future.waitFor(30s));
      try {
        future.get();
        ++resolved;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "a send failed while both stayed: " << e.what();
      }
    }
    auto& inbox = (*inboxes)[1 - side];
    EXPECT_TRUE(eventually([&] {
      std::lock_guard lock(inbox.mutex);
      return static_cast<int>(inbox.seen.size()) >= resolved;
    })) << "side "
        << side << ": " << resolved << " resolved";
    std::lock_guard lock(inbox.mutex);
    std::string wrong;
    for (int i = 0; i < kMessages; ++i) {
      if (inbox.seen[i] != 1)
        wrong += " " + std::to_string(i) + "x" + std::to_string(inbox.seen[i]);
    }
    EXPECT_EQ(wrong, "") << "side " << side << ": messages delivered other than once";
  }
  EXPECT_EQ(connections(0, 1), 1u);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
  for (auto& action : actions) action.receive(nullptr);
}

// Two native peers add streams toward each other at the same moment (their offers cross on the
// data channel): each gets onPeerTrack for both tracks and onPeerStream with the metadata on the
// first call only, as the JS fires them, then the other's frames whole and in order. The receiver
// asks for a keyframe when it starts. A removed track stops; the other keeps going.
TEST_F(RoomTest, NativePeersStreamToEachOtherThroughCrossingOffers) {
  auto aHeld = std::make_shared<MediaInbox>(), bHeld = std::make_shared<MediaInbox>();
  MediaInbox &aInbox = *aHeld, &bInbox = *bHeld;
  auto a = joinNew();
  auto b = joinNew();
  listenForMedia(*a, aHeld);
  listenForMedia(*b, bHeld);
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  struct Sender {
    std::shared_ptr<LocalTrack> video = LocalTrack::create("video", "VP8");
    std::shared_ptr<LocalTrack> audio = LocalTrack::create("audio", "opus");
    std::atomic<int> keyframeRequests{0};
  };
  Sender fromA, fromB;
  // The rooms go before the inboxes and senders their handlers write to, however the test ends.
  auto leaveFirst = std::shared_ptr<void>(nullptr, [&](void*) {
    for (auto& room : rooms) room->leave().waitFor(5s);
  });
  for (auto* s : {&fromA, &fromB}) {
    s->video->onKeyframeRequest([s](const std::string&) { s->keyframeRequests++; });
  }
  // In one network-thread task, so that both offers are made before either arrives.
  loop::Loop::shared().invoke([&] {
    a->addStream({"stream-a", {fromA.video, fromA.audio}}, identities[1].id,
                 nlohmann::json{{"from", "a"}});
    b->addStream({"stream-b", {fromB.video, fromB.audio}}, identities[0].id, nlohmann::json("b"));
  });
  ASSERT_TRUE(eventually([&] { return aInbox.trackCount() == 2 && bInbox.trackCount() == 2; }));
  ASSERT_TRUE(eventually([&] { return fromA.keyframeRequests > 0 && fromB.keyframeRequests > 0; }));
  for (auto [inbox, stream, meta] : {std::tuple{&bInbox, "stream-a", nlohmann::json{{"from", "a"}}},
                                     std::tuple{&aInbox, "stream-b", nlohmann::json("b")}}) {
    std::lock_guard lock(inbox->mutex);
    ASSERT_EQ(inbox->streams.size(), 2u);
    EXPECT_EQ(inbox->streams[0], std::make_pair(std::string(stream), Metadata(meta)));
    EXPECT_EQ(inbox->streams[1], std::make_pair(std::string(stream), Metadata()));
  }

  // 30 pictures (a keyframe, then deltas of 2,500 bytes) and 30 Opus packets each way, ten at a
  // time, each batch waiting for the last to arrive.
  for (int batch = 0; batch < 3; ++batch) {
    for (int i = batch * 10; i < batch * 10 + 10; ++i) {
      for (auto* s : {&fromA, &fromB}) {
        s->video->sendFrame(pattern(2500, i == 0 ? 0x10 : 0x11, i * 3000));
        s->audio->sendFrame(pattern(100, 0x78, i * 960));
      }
    }
    const std::size_t frames = (batch + 1) * 10;
    ASSERT_TRUE(eventually(
        [&] {
          return aInbox.frameCount("video") == frames && bInbox.frameCount("video") == frames &&
                 aInbox.frameCount("audio") == frames && bInbox.frameCount("audio") == frames;
        },
        10s))
        << aInbox.frameCount("video") << " " << bInbox.frameCount("video");
  }
  {
    std::lock_guard lock(bInbox.mutex);
    for (int i = 0; i < 30; ++i) {
      const auto& frame = bInbox.frames["video"][i];
      EXPECT_EQ(frame.data, pattern(2500, i == 0 ? 0x10 : 0x11, 0).data) << i;
      EXPECT_EQ(frame.keyframe, i == 0) << i;
      EXPECT_EQ(frame.rtpTimestamp - bInbox.frames["video"][0].rtpTimestamp, 3000u * i);
    }
  }
  EXPECT_EQ(fromA.video->framesSent(), 30u);

  // a stops its video: frames pushed afterwards go nowhere; its audio carries on.
  a->removeTrack(fromA.video);
  ASSERT_TRUE(eventually([&] {
    fromA.video->sendFrame(pattern(2500, 0x11, 0));
    fromA.audio->sendFrame(pattern(100, 0x78, 0));
    return bInbox.frameCount("audio") > 40;
  }));
  EXPECT_EQ(fromA.video->framesSent(), 30u);
  // b's video track from a ended; its audio and everything a receives did not.
  ASSERT_TRUE(eventually([&] { return bInbox.endedKinds() == std::vector<std::string>{"video"}; }))
      << bInbox.endedKinds().size();
  EXPECT_TRUE(aInbox.endedKinds().empty());
}

// replaceTrack as the JS does it (RTCRtpSender.replaceTrack): the second track's frames go out on
// the first one's section, with no new onPeerTrack on the receiver, timestamps carried on from
// the first track's, and a keyframe request to the second track; the first one reaches nobody.
TEST_F(RoomTest, ReplaceTrackSendsTheNewTracksFramesOnTheSameSection) {
  auto held = std::make_shared<MediaInbox>();
  MediaInbox& inbox = *held;
  auto a = joinNew();
  auto b = joinNew();
  listenForMedia(*b, held);
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  auto first = LocalTrack::create("video", "VP8");
  auto second = LocalTrack::create("video", "VP8");
  std::atomic<int> firstKeyframes{0}, secondKeyframes{0};
  first->onKeyframeRequest([&](const std::string&) { firstKeyframes++; });
  second->onKeyframeRequest([&](const std::string&) { secondKeyframes++; });
  auto leaveFirst = std::shared_ptr<void>(nullptr, [&](void*) {
    for (auto& room : rooms) room->leave().waitFor(5s);
  });
  a->addStream({"camera", {first}});
  ASSERT_TRUE(eventually([&] { return inbox.trackCount() == 1 && firstKeyframes > 0; }));
  for (int i = 0; i < 10; ++i) first->sendFrame(pattern(1500, i == 0 ? 0x10 : 0x11, i * 3000));
  ASSERT_TRUE(eventually([&] { return inbox.frameCount("video") == 10; }));

  EXPECT_THROW(a->replaceTrack(first, LocalTrack::create("audio", "opus")), std::invalid_argument);
  EXPECT_THROW(a->replaceTrack(first, LocalTrack::create("video", "H264")), std::invalid_argument);
  ASSERT_NO_THROW(a->replaceTrack(first, second, {}, nlohmann::json("screen")).get());
  ASSERT_TRUE(eventually([&] { return secondKeyframes > 0; }));
  // The new source's clock starts far from the old one's.
  for (int i = 0; i < 10; ++i) {
    first->sendFrame(pattern(1500, 0x11, 0));
    second->sendFrame(pattern(1800, i == 0 ? 0x20 : 0x21, 7'000'000 + i * 3000));
  }
  ASSERT_TRUE(eventually([&] { return inbox.frameCount("video") == 20; }))
      << inbox.frameCount("video");
  inbox.mutex.lock();
  EXPECT_EQ(inbox.tracks.size(), 1u);
  const auto& frames = inbox.frames["video"];
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(frames[10 + i].data, pattern(1800, i == 0 ? 0x20 : 0x21, 0).data) << i;
  }
  const std::uint32_t gap = frames[10].rtpTimestamp - frames[9].rtpTimestamp;
  EXPECT_GT(gap, 0u);
  EXPECT_LT(gap, 90000u * 30) << "the timeline carries on";
  EXPECT_EQ(frames[11].rtpTimestamp - frames[10].rtpTimestamp, 3000u);
  EXPECT_EQ(first->framesSent(), 10u);
  EXPECT_EQ(second->framesSent(), 10u);
  EXPECT_TRUE(inbox.ended.empty());
  EXPECT_FALSE(inbox.held[0]->ended());
  inbox.mutex.unlock();
  // The sender leaves: the track ends, and a handler set afterwards runs at once.
  a->leave().get();
  ASSERT_TRUE(eventually([&] { return inbox.endedKinds().size() == 1; }));
  EXPECT_TRUE(inbox.held[0]->ended());
  bool ranAtOnce = false;
  inbox.held[0]->onEnded([&] { ranAtOnce = true; });
  EXPECT_TRUE(ranAtOnce);
}

// Streams both ways, then the primary dies: the standby takes over on both sides, each side's
// tracks from the other end with the old connection and come again on the new one, announced
// with their metadata as before, and frames flow on them. Nobody sees the other leave.
TEST_F(StandbyTest, StreamsGoOnOnThePromotedStandby) {
  joinListening(standbyTiming(1, 300ms, 9000ms), standbyTiming(1, 300ms, 9000ms));
  auto a = rooms[0], b = rooms[1];
  MediaInbox& aInbox = *inbox[0];
  MediaInbox& bInbox = *inbox[1];
  ASSERT_TRUE(bothHoldTwoConnections());
  std::string aId = identities[0].id, bId = identities[1].id;
  auto aVideo = LocalTrack::create("video", "VP8");
  auto aAudio = LocalTrack::create("audio", "opus");
  auto bAudio = LocalTrack::create("audio", "opus");
  a->addStream({"from-a", {aVideo, aAudio}}, bId, nlohmann::json{{"from", "a"}});
  b->addTrack(bAudio, {"from-b", {}}, aId, nlohmann::json("b's track"));
  ASSERT_TRUE(eventually([&] { return bInbox.trackCount() == 2 && aInbox.trackCount() == 1; }));

  // Frames go until `want` of each kind have arrived (frames pushed before a section is
  // negotiated go nowhere).
  std::uint32_t clock = 0;
  auto flowUntil = [&](std::size_t want) {
    return eventually(
        [&] {
          clock += 3000;
          aVideo->sendFrame(pattern(1200, 0x10, clock));
          aAudio->sendFrame(pattern(80, 0x78, clock));
          bAudio->sendFrame(pattern(90, 0x70, clock));
          return bInbox.frameCount("video") >= want && bInbox.frameCount("audio") >= want &&
                 aInbox.frameCount("audio") >= want;
        },
        15s);
  };
  ASSERT_TRUE(flowUntil(3));

  auto aCore = core(0);
  loop::Loop::shared().post([aCore, bId] { aCore->dropPrimaryForTest(bId); });
  ASSERT_TRUE(eventually([&] { return bInbox.trackCount() == 4 && aInbox.trackCount() == 2; }, 15s))
      << bInbox.trackCount() << " " << aInbox.trackCount();
  auto sorted = [](std::vector<std::string> kinds) {
    std::sort(kinds.begin(), kinds.end());
    return kinds;
  };
  ASSERT_TRUE(eventually([&] { return bInbox.endedKinds().size() == 2; }));
  EXPECT_EQ(sorted(bInbox.endedKinds()), (std::vector<std::string>{"audio", "video"}));
  EXPECT_EQ(aInbox.endedKinds(), std::vector<std::string>{"audio"});
  const auto before = std::max(bInbox.frameCount("video"), aInbox.frameCount("audio"));
  ASSERT_TRUE(flowUntil(before + 5));
  {
    std::lock_guard lock(bInbox.mutex);
    EXPECT_EQ(bInbox.streams.size(), 4u);
    EXPECT_EQ(bInbox.streams[2],
              std::make_pair(std::string("from-a"), Metadata(nlohmann::json{{"from", "a"}})));
    EXPECT_EQ(bInbox.tracks[2].second, Metadata());
    EXPECT_FALSE(bInbox.held[2]->ended());
    EXPECT_FALSE(bInbox.held[3]->ended());
    EXPECT_EQ(bInbox.frames["video"].back().data, pattern(1200, 0x10, 0).data);
  }
  {
    std::lock_guard lock(aInbox.mutex);
    EXPECT_EQ(aInbox.tracks[1].second, Metadata(nlohmann::json("b's track")));
    EXPECT_EQ(aInbox.frames["audio"].back().data, pattern(90, 0x70, 0).data);
  }
  EXPECT_EQ(connections(0, 1), 1u);
  exchange(a, b);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
}

// Both add a stream while each still sends on a different connection (each one's offer arrives
// on what the other holds as a standby): the offers wait there, and when the two converge on
// one connection both streams arrive, with their metadata, and carry frames.
TEST_F(StandbyTest, StreamsAddedWhileThePicksDifferArriveOnceTheyConverge) {
  joinListening(standbyTiming(1, 1000ms, 2000ms), standbyTiming(0, 1000ms, 2000ms));
  auto a = rooms[0], b = rooms[1];
  MediaInbox& aInbox = *inbox[0];
  MediaInbox& bInbox = *inbox[1];
  ASSERT_TRUE(bothHoldTwoConnections(5s));
  auto aVideo = LocalTrack::create("video", "VP8");
  auto bVideo = LocalTrack::create("video", "VP8");
  a->addStream({"from-a", {aVideo}}, identities[1].id, nlohmann::json("a"));
  b->addStream({"from-b", {bVideo}}, identities[0].id, nlohmann::json("b"));
  std::uint32_t clock = 0;
  ASSERT_TRUE(eventually(
      [&] {
        clock += 3000;
        aVideo->sendFrame(pattern(700, 0x10, clock));
        bVideo->sendFrame(pattern(900, 0x20, clock));
        return aInbox.frameCount("video") >= 5 && bInbox.frameCount("video") >= 5;
      },
      20s))
      << aInbox.frameCount("video") << " " << bInbox.frameCount("video");
  for (auto [inbox, stream, meta] :
       {std::tuple{&aInbox, "from-b", "b"}, std::tuple{&bInbox, "from-a", "a"}}) {
    std::lock_guard lock(inbox->mutex);
    ASSERT_FALSE(inbox->streams.empty());
    EXPECT_EQ(inbox->streams.front(),
              std::make_pair(std::string(stream), Metadata(nlohmann::json(meta))));
    EXPECT_FALSE(inbox->held.back()->ended());
  }
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 1 && connections(1, 0) == 1; }, 10s));
  exchange(a, b);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
}

// b sends two streams while its primary is what a holds as a standby (their picks differ): each
// stream's metadata comes before its offer on that connection, so a keeps each with its section,
// and whichever connection the two keep, each stream reaches a with its own metadata.
TEST_F(StandbyTest, StreamsSentOnAStandbyKeepTheirOwnMetadata) {
  joinListening(standbyTiming(1, 1000ms, 2000ms), standbyTiming(0, 1000ms, 2000ms));
  auto a = rooms[0], b = rooms[1];
  MediaInbox& aInbox = *inbox[0];
  ASSERT_TRUE(bothHoldTwoConnections(5s));
  std::vector<std::shared_ptr<LocalTrack>> tracks = {LocalTrack::create("video", "VP8"),
                                                     LocalTrack::create("video", "VP8")};
  const auto aId = identities[0].id;
  ASSERT_TRUE(resolves(b->addStream({"first", {tracks[0]}}, aId, nlohmann::json("1"))));
  ASSERT_TRUE(resolves(b->addStream({"second", {tracks[1]}}, aId, nlohmann::json("2"))));
  ASSERT_TRUE(eventually([&] { return connections(0, 1) == 1 && connections(1, 0) == 1; }, 15s));
  std::uint32_t clock = 0;
  ASSERT_TRUE(flowOnEach(aInbox, tracks, 3, clock));
  const std::map<std::string, Metadata> own = {{"first", Metadata(nlohmann::json("1"))},
                                               {"second", Metadata(nlohmann::json("2"))}};
  std::lock_guard lock(aInbox.mutex);
  std::set<std::string> seen;
  for (const auto& [stream, meta] : aInbox.streams) {
    ASSERT_TRUE(own.count(stream)) << stream;
    // The first time a stream arrives it has its metadata; if it arrives again (the connection
    // it came on ended), with its own or none.
    if (seen.insert(stream).second || meta) {
      EXPECT_EQ(meta, own.at(stream)) << stream;
    }
  }
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
}

// A peer keeps one pending metadata slot per kind, so streams added one after the other go one
// offer at a time, each after its metadata, the tracks of a stream in the order given; when the
// primary dies they go again on the promoted standby the same way, in the order they were added,
// each with its own metadata.
TEST_F(StandbyTest, SeveralStreamsGoAgainEachWithItsOwnMetadata) {
  joinListening(standbyTiming(1, 300ms, 9000ms), standbyTiming(1, 300ms, 9000ms));
  auto a = rooms[0];
  MediaInbox& bInbox = *inbox[1];
  ASSERT_TRUE(bothHoldTwoConnections());
  std::string bId = identities[1].id;
  std::vector<std::shared_ptr<LocalTrack>> tracks;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    tracks.push_back(LocalTrack::create("video", "VP8"));
    ids.push_back(tracks.back()->id());
  }
  std::vector<Future<void>> added;
  added.push_back(
      a->addStream({"one", {tracks[0], tracks[1], tracks[2]}}, bId, nlohmann::json("1")));
  added.push_back(a->addStream({"two", {tracks[3]}}, bId, nlohmann::json{{"n", 2}}));
  added.push_back(a->addTrack(tracks[4], {"three", {}}, bId, nlohmann::json("3")));
  ASSERT_TRUE(eventually([&] { return bInbox.trackCount() == 5; }, 15s)) << bInbox.trackCount();
  for (auto& future : added) ASSERT_TRUE(resolves(future));
  std::uint32_t clock = 0;
  ASSERT_TRUE(flowOnEach(bInbox, tracks, 2, clock));

  auto aCore = core(0);
  loop::Loop::shared().post([aCore, bId] { aCore->dropPrimaryForTest(bId); });
  ASSERT_TRUE(eventually([&] { return bInbox.trackCount() == 10; }, 20s)) << bInbox.trackCount();
  std::size_t since = 0;
  {
    std::lock_guard lock(bInbox.mutex);
    since = bInbox.frames["video"].size();
  }
  // Each track's frames flow on its new section.
  ASSERT_TRUE(flowOnEach(bInbox, tracks, 3, clock, since));
  std::lock_guard lock(bInbox.mutex);
  ASSERT_EQ(bInbox.streams.size(), 10u);
  ASSERT_EQ(bInbox.tracks.size(), 10u);
  for (std::size_t round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    const auto* streams = &bInbox.streams[round * 5];
    const auto* trackMetas = &bInbox.tracks[round * 5];
    EXPECT_EQ(std::vector<std::string>(bInbox.trackIds.begin() + round * 5,
                                       bInbox.trackIds.begin() + round * 5 + 5),
              ids);
    EXPECT_EQ(streams[0], std::make_pair(std::string("one"), Metadata(nlohmann::json("1"))));
    EXPECT_EQ(streams[1], std::make_pair(std::string("one"), Metadata()));
    EXPECT_EQ(streams[2], std::make_pair(std::string("one"), Metadata()));
    EXPECT_EQ(streams[3], std::make_pair(std::string("two"), Metadata(nlohmann::json{{"n", 2}})));
    EXPECT_EQ(streams[4], std::make_pair(std::string("three"), Metadata()));
    for (int i = 0; i < 4; ++i) EXPECT_EQ(trackMetas[i].second, Metadata()) << i;
    EXPECT_EQ(trackMetas[4].second, Metadata(nlohmann::json("3")));
  }
  EXPECT_EQ(events[1].leaveCount(), 0u);
}

// The primary dies while a stream's metadata still waits behind a bulk message: the stream's
// future completes once that metadata went on the promoted standby, and a stream added from that
// future's continuation goes there too, after it. The peer gets each stream once, with its own
// metadata, and frames on both.
TEST_F(StandbyTest, MediaAddedAsThePrimaryDiesGoesOnThePromotedStandby) {
  joinListening(standbyTiming(1, 300ms, 9000ms), standbyTiming(1, 300ms, 9000ms));
  auto a = rooms[0], b = rooms[1];
  MediaInbox& bInbox = *inbox[1];
  ASSERT_TRUE(bothHoldTwoConnections());
  exchange(a, b);  // each side's primary is heard: sends go out at once
  std::string bId = identities[1].id;
  std::vector<std::shared_ptr<LocalTrack>> tracks = {LocalTrack::create("video", "VP8"),
                                                     LocalTrack::create("video", "VP8")};
  struct Shared {
    std::promise<Future<void>> secondAdded;
    std::atomic<bool> secondSet{false};
    std::atomic<int> bulkGot{0};
  };
  auto shared = std::make_shared<Shared>();
  auto bulk = a->makeAction("bulk");
  auto bBulk = b->makeAction("bulk");
  bBulk.receive(
      [shared](const Payload&, const std::string&, const Metadata&) { ++shared->bulkGot; });
  auto aCore = core(0);
  Future<void> firstAdded, bulkSent;
  bool waitedForTheSwitch = false;
  loop::Loop::shared().invoke([&] {
    bulkSent = bulk.send(std::vector<std::uint8_t>(4 << 20, 7), bId);
    firstAdded = a->addStream({"one", {tracks[0]}}, bId, nlohmann::json("1"));
    firstAdded.then([shared, a, bId, track = tracks[1]](const Future<void>&) {
      if (shared->secondSet.exchange(true)) return;
      shared->secondAdded.set_value(a->addStream({"two", {track}}, bId, nlohmann::json("2")));
    });
    aCore->dropPrimaryForTest(bId);
    waitedForTheSwitch = !firstAdded.ready();  // its metadata cannot have been sent yet
  });
  EXPECT_TRUE(waitedForTheSwitch);
  ASSERT_TRUE(resolves(firstAdded));
  auto secondAdded = shared->secondAdded.get_future();
  ASSERT_EQ(secondAdded.wait_for(20s), std::future_status::ready);
  ASSERT_TRUE(resolves(secondAdded.get()));
  ASSERT_TRUE(resolves(bulkSent));
  ASSERT_TRUE(eventually([&] { return bInbox.trackCount() == 2 && shared->bulkGot == 1; }, 15s))
      << bInbox.trackCount();
  std::uint32_t clock = 0;
  ASSERT_TRUE(flowOnEach(bInbox, tracks, 3, clock));
  EXPECT_EQ(bInbox.trackCount(), 2u);
  std::lock_guard lock(bInbox.mutex);
  ASSERT_EQ(bInbox.streams.size(), 2u);
  EXPECT_EQ(bInbox.streams[0], std::make_pair(std::string("one"), Metadata(nlohmann::json("1"))));
  EXPECT_EQ(bInbox.streams[1], std::make_pair(std::string("two"), Metadata(nlohmann::json("2"))));
  EXPECT_EQ(events[1].leaveCount(), 0u);
}

// a's first pick is a connection b does not read yet; b uses the other one, so a switches to it
// as soon as b speaks there. What a sent from onPeerJoin waited, and goes out in the switch: a
// message, whose future's continuation adds a stream (user code in the middle of the switch,
// held until it is complete), and a stream before it. b gets the message once and each stream
// once, with its own metadata, and frames on both.
TEST_F(StandbyTest, MediaAddedWhileThePeerSwitchesUsWaitsForTheSwitch) {
  struct Shared {
    std::promise<std::pair<Future<void>, Future<void>>> added;  // first stream, second stream
    std::atomic<bool> joined{false};
    std::atomic<int> hellos{0};
  };
  auto shared = std::make_shared<Shared>();
  std::vector<std::shared_ptr<LocalTrack>> tracks = {LocalTrack::create("video", "VP8"),
                                                     LocalTrack::create("video", "VP8")};
  auto a = joinNew(standbyTiming(1, 300ms, 9000ms));
  auto hello = a->makeAction("hello");
  a->onPeerJoin([this, shared, tracks, send = hello.send,
                 weakA = std::weak_ptr<Room>(a)](const std::string& id) {
    {
      std::lock_guard lock(events[0].mutex);
      events[0].joins.push_back(id);
    }
    auto room = weakA.lock();
    if (!room || shared->joined.exchange(true)) return;  // once (a join again fails the test)
    auto first = room->addStream({"one", {tracks[0]}}, id, nlohmann::json("1"));
    send("hello", id).then([shared, first, weakA, id, track = tracks[1]](const Future<void>&) {
      auto room = weakA.lock();
      if (!room) return;
      shared->added.set_value({first, room->addStream({"two", {track}}, id, nlohmann::json("2"))});
    });
  });
  auto b = joinNew(standbyTiming(0, 1500ms, 9000ms));
  listenForMedia(*b, inbox[1]);
  MediaInbox& bInbox = *inbox[1];
  auto bHello = b->makeAction("hello");
  bHello.receive(
      [shared](const Payload&, const std::string&, const Metadata&) { ++shared->hellos; });
  auto added = shared->added.get_future();
  ASSERT_EQ(added.wait_for(20s), std::future_status::ready);
  auto [first, second] = added.get();
  ASSERT_TRUE(resolves(first));
  ASSERT_TRUE(resolves(second));
  std::uint32_t clock = 0;
  ASSERT_TRUE(flowOnEach(bInbox, tracks, 3, clock));
  EXPECT_EQ(bInbox.trackCount(), 2u);
  EXPECT_EQ(shared->hellos, 1);
  {
    std::lock_guard lock(bInbox.mutex);
    ASSERT_EQ(bInbox.streams.size(), 2u);
    EXPECT_EQ(bInbox.streams[0], std::make_pair(std::string("one"), Metadata(nlohmann::json("1"))));
    EXPECT_EQ(bInbox.streams[1], std::make_pair(std::string("two"), Metadata(nlohmann::json("2"))));
  }
  exchange(a, b);
  EXPECT_EQ(events[0].leaveCount(), 0u);
  EXPECT_EQ(events[1].leaveCount(), 0u);
}

// The primary dies while another connection to the peer is still on its way (its open is handled
// late here): a stream added meanwhile waits for that connection and goes on it, with its
// metadata, once it is there; its future completes only then.
TEST_F(StandbyTest, MediaAddedWhileTheNextConnectionIsOnItsWayGoesOnIt) {
  joinListening(standbyTiming(1, 2000ms, 9000ms), standbyTiming(1, 0ms, 9000ms));
  auto a = rooms[0];
  MediaInbox& bInbox = *inbox[1];
  ASSERT_TRUE(eventually([&] { return events[0].joinCount() == 1 && events[1].joinCount() == 1; }));
  std::string bId = identities[1].id;
  auto track = LocalTrack::create("video", "VP8");
  auto aCore = core(0);
  Future<void> added;
  std::size_t before = 0, after = 0;
  bool addedAtOnce = true;
  loop::Loop::shared().invoke([&] {
    before = aCore->connectionCount(bId);  // the primary only: the next one is still coming
    aCore->dropPrimaryForTest(bId);
    after = aCore->connectionCount(bId);  // b is kept while its next connection comes
    added = a->addStream({"late", {track}}, bId, nlohmann::json("late"));
    addedAtOnce = added.ready();
  });
  ASSERT_EQ(before, 1u);
  ASSERT_EQ(after, 1u) << "no connection to b was on its way";
  EXPECT_FALSE(addedAtOnce) << "its metadata cannot have been sent";
  ASSERT_TRUE(resolves(added));
  std::uint32_t clock = 0;
  ASSERT_TRUE(flowOnEach(bInbox, {track}, 3, clock));
  EXPECT_EQ(bInbox.trackCount(), 1u);
  std::lock_guard lock(bInbox.mutex);
  ASSERT_EQ(bInbox.streams.size(), 1u);
  EXPECT_EQ(bInbox.streams[0],
            std::make_pair(std::string("late"), Metadata(nlohmann::json("late"))));
  EXPECT_EQ(events[0].leaveCount(), 0u);
}

// A stream removed while its metadata still waits to go out (a's primary is not heard yet in
// onPeerJoin): the metadata is not sent, so it cannot pair with the next stream, and its future
// fails.
TEST_F(RoomTest, MetadataOfMediaRemovedBeforeItWentOutIsNotSent) {
  auto bHeld = std::make_shared<MediaInbox>();
  MediaInbox& bInbox = *bHeld;
  auto goneAdded = std::make_shared<std::promise<Future<void>>>();
  auto joined = std::make_shared<std::atomic<bool>>(false);
  auto gone = LocalTrack::create("video", "VP8");
  auto kept = LocalTrack::create("video", "VP8");
  auto leaveFirst = std::shared_ptr<void>(nullptr, [&](void*) {
    for (auto& room : rooms) room->leave().waitFor(5s);
  });
  auto a = joinNew();
  a->onPeerJoin(
      [goneAdded, joined, gone, kept, weakA = std::weak_ptr<Room>(a)](const std::string& id) {
        auto room = weakA.lock();
        if (!room || joined->exchange(true)) return;  // once (a join again fails the test)
        auto future = room->addStream({"gone", {gone}}, id, nlohmann::json("gone"));
        room->removeStream({"gone", {gone}}, id);
        room->addStream({"kept", {kept}}, id);
        goneAdded->set_value(future);
      });
  auto b = joinNew();
  listenForMedia(*b, bHeld);
  auto goneFuture = goneAdded->get_future();
  ASSERT_EQ(goneFuture.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(fails(goneFuture.get()));
  std::uint32_t clock = 0;
  ASSERT_TRUE(flowOnEach(bInbox, {kept}, 3, clock));
  EXPECT_EQ(bInbox.trackCount(), 1u);
  std::lock_guard lock(bInbox.mutex);
  ASSERT_EQ(bInbox.streams.size(), 1u);
  EXPECT_EQ(bInbox.streams[0], std::make_pair(std::string("kept"), Metadata()));
}

// A track added again to a peer it already goes to: no new section, so its metadata is not sent
// (it would pair with the next stream) and the call fails, as the JS's addTrack throws.
TEST_F(RoomTest, AddingMediaThatAlreadyGoesToThePeerFails) {
  auto bHeld = std::make_shared<MediaInbox>();
  MediaInbox& bInbox = *bHeld;
  auto leaveFirst = std::shared_ptr<void>(nullptr, [&](void*) {
    for (auto& room : rooms) room->leave().waitFor(5s);
  });
  auto a = joinNew();
  auto b = joinNew();
  listenForMedia(*b, bHeld);
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
  const auto bId = identities[1].id;
  auto video = LocalTrack::create("video", "VP8");
  auto other = LocalTrack::create("video", "VP8");
  ASSERT_TRUE(resolves(a->addStream({"one", {video}}, bId, nlohmann::json("1"))));
  EXPECT_TRUE(fails(a->addStream({"again", {video}}, bId, nlohmann::json("again"))));
  ASSERT_TRUE(resolves(a->addStream({"other", {other}}, bId)));
  std::uint32_t clock = 0;
  ASSERT_TRUE(flowOnEach(bInbox, {video, other}, 3, clock));
  EXPECT_EQ(bInbox.trackCount(), 2u);
  std::lock_guard lock(bInbox.mutex);
  ASSERT_EQ(bInbox.streams.size(), 2u);
  EXPECT_EQ(bInbox.streams[0], std::make_pair(std::string("one"), Metadata(nlohmann::json("1"))));
  EXPECT_EQ(bInbox.streams[1], std::make_pair(std::string("other"), Metadata()));
}

namespace {

// Video frames that are not keyframes (VP8: bit 0 of the first byte set), told apart by bytes
// 1 and 2; `size` spreads one over several packets.
MediaFrame deltaFrame(std::size_t size, std::uint16_t index, std::uint32_t timestamp) {
  MediaFrame frame = pattern(size, 0x31, timestamp);
  frame.data[1] = static_cast<std::uint8_t>(index >> 8);
  frame.data[2] = static_cast<std::uint8_t>(index);
  return frame;
}

// f(connection) on the loop thread, with the connection core keeps to peerId now (null if none):
// looked up each time, never held.
template <typename F>
auto onConnection(const std::shared_ptr<RoomCore>& core, const std::string& peerId, F f) {
  return loop::Loop::shared().invoke([&] {
    const auto* primary = core->primaryForTest(peerId);
    return f(primary ? primary->connection() : nullptr);
  });
}
bool hasConnection(rtc::PeerConnection* connection) { return connection != nullptr; }
rtc::PeerConnection::Stats statsOf(rtc::PeerConnection* connection) {
  return connection ? connection->stats() : rtc::PeerConnection::Stats{};
}

}  // namespace

// a sends b one VP8 track, which flows before each test; `received` is b's track of it. What the
// handlers and hooks write to is shared, so it outlives the rooms (TearDown leaves).
class VideoLossTest : public RoomTest {
 protected:
  void TearDown() override {
    // Released here, while the rooms still hold them: a core goes on the network thread.
    aCore.reset();
    bCore.reset();
    received.reset();
    RoomTest::TearDown();
  }
  void startVideo() {
    auto a = joinNew();
    auto b = joinNew();
    listenForMedia(*b, bInbox);
    ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }));
    aId = identities[0].id;
    bId = identities[1].id;
    video->onKeyframeRequest([requests = keyframeRequests](const std::string&) { ++*requests; });
    ASSERT_TRUE(resolves(a->addStream({"cam", {video}}, bId)));
    ASSERT_TRUE(flowOnEach(*bInbox, {video}, 3, clock));
    aCore = core(0);
    bCore = core(1);
    ASSERT_TRUE(onConnection(aCore, bId, hasConnection) && onConnection(bCore, aId, hasConnection));
    std::lock_guard lock(bInbox->mutex);
    received = bInbox->held.at(0);
  }
  // Delta frames 0 to count - 1 of `size` bytes, then one more, each sent once b has the one
  // before the last (a frame whose last packet went missing completes only once the next packet
  // shows the gap); then every one of them must have arrived whole and in order.
  void sendInLockstep(std::uint16_t count, std::size_t size) {
    const std::size_t since = bInbox->frameCount("video");
    for (std::uint16_t i = 0; i <= count; ++i) {
      clock += 3000;
      video->sendFrame(deltaFrame(size, i, clock));
      if (i > 0) {
        ASSERT_TRUE(eventually([&] { return bInbox->frameCount("video") >= since + i; }, 10s))
            << "frame " << i - 1 << " did not arrive";
      }
    }
    std::lock_guard lock(bInbox->mutex);
    const auto& frames = bInbox->frames["video"];
    ASSERT_GE(frames.size(), since + count);
    for (std::uint16_t i = 0; i < count; ++i) {
      EXPECT_EQ(frames[since + i].data, deltaFrame(size, i, 0).data) << "frame " << i;
    }
  }

  std::shared_ptr<MediaInbox> bInbox = std::make_shared<MediaInbox>();
  std::shared_ptr<LocalTrack> video = LocalTrack::create("video", "VP8");
  std::shared_ptr<std::atomic<int>> keyframeRequests = std::make_shared<std::atomic<int>>(0);
  std::uint32_t clock = 0;
  std::string aId, bId;
  std::shared_ptr<RoomCore> aCore, bCore;
  std::shared_ptr<RemoteTrack> received;
};

// Packets lost on the way (the sender drops some the first time): the receiver asks for them as
// soon as the next packet shows the gap, the sender sends them again from what it holds, and
// every frame arrives whole and in order, none counted lost.
TEST_F(VideoLossTest, LostVideoPacketsAreAskedForAndEveryFrameArrives) {
  ASSERT_NO_FATAL_FAILURE(startVideo());
  const auto lostBefore = received->framesLost();
  // One packet in five is not sent the first time: 3 packets a frame, so a frame in two or so
  // loses one, the first, middle or last.
  auto dropped = std::make_shared<std::atomic<int>>(0);
  onConnection(aCore, bId, [&](rtc::PeerConnection* connection) {
    if (connection)
      connection->dropOutgoingRtpForTest([dropped](const std::string&, std::uint16_t sequence) {
        if (sequence % 5 != 0) return false;
        ++*dropped;
        return true;
      });
  });
  ASSERT_NO_FATAL_FAILURE(sendInLockstep(60, 2500));
  EXPECT_GE(*dropped, 30);
  EXPECT_EQ(received->framesLost(), lostBefore);
  auto aStats = onConnection(aCore, bId, statsOf);
  auto bStats = onConnection(bCore, aId, statsOf);
  EXPECT_GE(bStats.rtpRequested, static_cast<std::uint64_t>(*dropped - 1));
  EXPECT_GE(aStats.rtpRetransmitted, static_cast<std::uint64_t>(*dropped - 1));
}

// Packets lost on the way in, and lost again when resent: the receiver asks for them again
// (on a timer: here nothing else arrives until the frame waiting for them is complete), and
// every frame still arrives whole and in order.
TEST_F(VideoLossTest, VideoPacketsLostAgainWhenResentAreAskedForAgain) {
  ASSERT_NO_FATAL_FAILURE(startVideo());
  const auto lostBefore = received->framesLost();
  const auto requestedBefore = onConnection(bCore, aId, statsOf).rtpRequested;
  // One packet in five arrives only the third time it is sent.
  auto lostTwice = std::make_shared<std::atomic<int>>(0);
  onConnection(bCore, aId, [&](rtc::PeerConnection* connection) {
    auto seen = std::make_shared<std::map<std::uint16_t, int>>();  // loop thread only
    if (connection)
      connection->dropIncomingRtpForTest(
          [seen, lostTwice](const std::string& kind, std::uint16_t sequence) {
            if (kind != "video" || sequence % 5 != 0) return false;
            const int arrivals = ++(*seen)[sequence];
            if (arrivals == 2) ++*lostTwice;
            return arrivals <= 2;
          });
  });
  ASSERT_NO_FATAL_FAILURE(sendInLockstep(30, 2500));
  EXPECT_GE(*lostTwice, 15);
  EXPECT_EQ(received->framesLost(), lostBefore);
  auto requested = onConnection(bCore, aId, statsOf).rtpRequested - requestedBefore;
  EXPECT_GE(requested, static_cast<std::uint64_t>(2 * (*lostTwice - 1)));
}

// A packet that never comes, however often it is asked for, while the sender then pauses: after
// the last request the receiver stops waiting for it (no later packet has to push it out), hands
// on the frames behind it and asks for a keyframe.
TEST_F(VideoLossTest, APacketNeverResentIsGivenUpOnAndAKeyframeAskedFor) {
  ASSERT_NO_FATAL_FAILURE(startVideo());
  ASSERT_TRUE(eventually([&] { return *keyframeRequests > 0; }));  // the one at the start
  const int requestsBefore = *keyframeRequests;
  const auto lostBefore = received->framesLost();
  const auto requestedBefore = onConnection(bCore, aId, statsOf).rtpRequested;
  // The next video packet to arrive never does, resent or not.
  auto lost = std::make_shared<std::optional<std::uint16_t>>();  // loop thread only
  onConnection(bCore, aId, [&](rtc::PeerConnection* connection) {
    if (connection) {
      connection->dropIncomingRtpForTest([lost](const std::string& kind, std::uint16_t sequence) {
        if (kind != "video") return false;
        if (!*lost) *lost = sequence;
        return sequence == **lost;
      });
    }
  });
  const std::size_t since = bInbox->frameCount("video");
  for (std::uint16_t i = 0; i < 3; ++i) {  // one packet each; then nothing
    clock += 3000;
    video->sendFrame(deltaFrame(600, i, clock));
  }
  ASSERT_TRUE(eventually([&] { return *keyframeRequests > requestsBefore; }, 10s))
      << received->framesLost() << " frames lost";
  ASSERT_TRUE(eventually([&] { return bInbox->frameCount("video") >= since + 2; }, 10s));
  {
    std::lock_guard lock(bInbox->mutex);
    const auto& frames = bInbox->frames["video"];
    ASSERT_EQ(frames.size(), since + 2);
    EXPECT_EQ(frames[since].data, deltaFrame(600, 1, 0).data);
    EXPECT_EQ(frames[since + 1].data, deltaFrame(600, 2, 0).data);
  }
  EXPECT_EQ(received->framesLost(), lostBefore + 1);
  EXPECT_EQ(onConnection(bCore, aId, statsOf).rtpRequested - requestedBefore, 3u);
}

// A burst too long to ask for packet by packet: the frames in it are lost for good, and the
// receiver asks the sender for a keyframe (the sender's onKeyframeRequest), as a browser does.
TEST_F(VideoLossTest, AVideoFrameLostForGoodMakesTheReceiverAskForAKeyframe) {
  ASSERT_NO_FATAL_FAILURE(startVideo());
  // The request each receiver makes as the track starts, before counting.
  ASSERT_TRUE(eventually([&] { return *keyframeRequests > 0; }));
  const int requestsBefore = *keyframeRequests;
  auto toDrop = std::make_shared<std::atomic<int>>(100);  // 100 packets in a row
  onConnection(aCore, bId, [&](rtc::PeerConnection* connection) {
    if (connection)
      connection->dropOutgoingRtpForTest(
          [toDrop](const std::string&, std::uint16_t) { return toDrop->fetch_sub(1) > 0; });
  });
  std::uint16_t index = 0;
  ASSERT_TRUE(eventually(
      [&] {
        for (int i = 0; i < 10; ++i) {
          clock += 3000;
          video->sendFrame(deltaFrame(2500, index++, clock));  // three packets each
        }
        return *keyframeRequests > requestsBefore;
      },
      15s))
      << received->framesLost() << " frames lost";
  EXPECT_GT(received->framesLost(), 0u);
}

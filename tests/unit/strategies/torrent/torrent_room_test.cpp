// BitTorrent end to end: rooms meet through the npm bittorrent-tracker server (tests/interop/
// relays/tracker.mjs, WebSocket only) on loopback, with real peer connections. Skipped when
// node or tests/interop/node_modules is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <sstream>

#include "net/relay_socket.hpp"
#include "room/config.hpp"
#include "room/id.hpp"
#include "room/signaller.hpp"
#include "strategies/torrent/torrent_strategy.hpp"
#include "support/eventually.hpp"
#include "support/room_helpers.hpp"
#include "trystero/torrent.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using strategies::torrent::TorrentStrategy;

namespace {

using trystero::testing::Identity;
using trystero::testing::Inbox;
using trystero::testing::join;

// Why the tracker cannot run here, or empty.
std::string trackerUnavailable() {
  return trystero::testing::nodeUnavailable({"bittorrent-tracker"});
}

// Stopped when destroyed: stdin closed, then killed by its PID.
class Tracker : public trystero::testing::NodeServer {
 public:
  Tracker() : NodeServer("tracker", "tracker.mjs") {}
};

using trystero::testing::eventually;

Config testConfig(const std::string& trackerUrl, std::string password = "") {
  return trystero::testing::testConfig("trystero-cpp-torrent-test", {trackerUrl},
                                       std::move(password));
}

Identity makeIdentity(const Config& config) {
  return trystero::testing::makeIdentity(config, [&](loop::Loop& loop, const std::string& id) {
    return std::make_unique<TorrentStrategy>(loop, config.relayUrls, id);
  });
}

class TorrentRoomTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    unavailable = trackerUnavailable();
    if (unavailable.empty()) tracker = std::make_unique<Tracker>();
  }
  static void TearDownTestSuite() { tracker.reset(); }
  void SetUp() override {
    if (!unavailable.empty()) GTEST_SKIP() << unavailable;
  }
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop::Loop::shared().invoke([&] { identities.clear(); });
  }
  std::shared_ptr<Room> joinNew(const Config& config, const std::string& roomId,
                                JoinErrorHandler onError = {}) {
    identities.push_back(makeIdentity(config));
    rooms.push_back(join(identities.back(), config, roomId, std::move(onError)));
    return rooms.back();
  }

  static inline std::string unavailable;
  static inline std::unique_ptr<Tracker> tracker;
  std::vector<Identity> identities;
  std::vector<std::shared_ptr<Room>> rooms;
};

}  // namespace

TEST_F(TorrentRoomTest, TwoIdentitiesMeetAndExchangeAnAction) {
  auto config = testConfig(tracker->url());
  auto a = joinNew(config, "chrysanthemum");
  auto b = joinNew(config, "chrysanthemum");
  ASSERT_TRUE(eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }))
      << "a: " << a->getPeers().size() << " b: " << b->getPeers().size();
  EXPECT_EQ(a->getPeers(), std::vector<std::string>{identities[1].id});
  EXPECT_EQ(b->getPeers(), std::vector<std::string>{identities[0].id});

  Inbox atA, atB;
  auto [sendA, getA, progressA] = a->makeAction("chat");
  auto [sendB, getB, progressB] = b->makeAction("chat");
  getA(
      [&](const Payload& p, const std::string& from, const Metadata&) { atA.add(from, p.text()); });
  getB(
      [&](const Payload& p, const std::string& from, const Metadata&) { atB.add(from, p.text()); });
  sendA("over the tracker").get();
  sendB("and back").get();
  ASSERT_TRUE(eventually([&] { return atA.size() == 1 && atB.size() == 1; }, 10s));
  EXPECT_EQ(atB.copy()[0], std::make_pair(identities[0].id, std::string("over the tracker")));
  EXPECT_EQ(atA.copy()[0], std::make_pair(identities[1].id, std::string("and back")));
  EXPECT_GE(a->ping(identities[1].id).get(), 0.0);
  trystero::testing::expectMediaBothWays(*a, identities[0].id, *b, identities[1].id);

  auto sockets = loop::Loop::shared().invoke(
      [&] { return identities[0].signaller->strategy().relaySockets(); });
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].state, RelaySocketInfo::State::Open);
  EXPECT_GE(sockets[0].messagesOut, 1u);
}

TEST_F(TorrentRoomTest, WrongPasswordFiresJoinError) {
  std::promise<JoinError> error;
  std::atomic<bool> errorSet{false};
  auto onError = [&](const JoinError& e) {
    if (!errorSet.exchange(true)) error.set_value(e);
  };
  auto a = joinNew(testConfig(tracker->url(), "right"), "lot49", onError);
  auto b = joinNew(testConfig(tracker->url(), "wrong"), "lot49", onError);
  auto future = error.get_future();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  auto e = future.get();
  EXPECT_EQ(e.error.rfind("incorrect password (", 0), 0u) << e.error;
  EXPECT_EQ(e.roomId, "lot49");
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(a->getPeers().empty());
  EXPECT_TRUE(b->getPeers().empty());
  a->onPeerJoin(nullptr);
}

TEST_F(TorrentRoomTest, PublicJoinRoomMeetsAnotherIdentity) {
  auto config = testConfig(tracker->url());
  auto other = joinNew(config, "tristero");
  auto room = torrent::joinRoom(config, "tristero");
  ASSERT_TRUE(room);
  rooms.push_back(room);
  EXPECT_EQ(torrent::joinRoom(config, "tristero"), room);
  ASSERT_TRUE(eventually([&] { return room->getPeers().size() == 1; }));
  EXPECT_EQ(room->getPeers(), std::vector<std::string>{identities[0].id});
  ASSERT_TRUE(eventually([&] { return other->getPeers() == std::vector<std::string>{selfId()}; }));
  auto sockets = torrent::getRelaySockets();
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].url, tracker->url());
  EXPECT_EQ(sockets[0].state, RelaySocketInfo::State::Open);
  EXPECT_THROW(torrent::joinRoom(Config{}, "x"), std::invalid_argument);
}

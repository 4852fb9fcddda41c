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
#include "support/child_process.hpp"
#include "trystero/torrent.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using strategies::torrent::TorrentStrategy;
using trystero::testing::ChildProcess;

namespace {

const std::filesystem::path kInterop =
    std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "interop";

std::string findNode() {
  if (const char* env = std::getenv("NODE"); env && access(env, X_OK) == 0) return env;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/usr/local/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = std::filesystem::path(dir) / "node";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

// Why the tracker cannot run here, or empty.
std::string trackerUnavailable() {
  if (findNode().empty()) return "node not found";
  if (!std::filesystem::exists(kInterop / "node_modules" / "bittorrent-tracker" / "package.json")) {
    return "tests/interop/node_modules/bittorrent-tracker missing";
  }
  return {};
}

class Tracker {
 public:
  Tracker() : process_({findNode(), (kInterop / "relays" / "tracker.mjs").string()}) {
    auto line = process_.readLine(15s);
    if (!line || line->rfind("listening ", 0) != 0) {
      throw std::runtime_error("tracker did not start: " + line.value_or("(nothing)"));
    }
    port_ = std::stoi(line->substr(10));
  }
  ~Tracker() { process_.finish(3s); }  // closes its stdin, then kills it by PID
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

 private:
  ChildProcess process_;
  int port_ = 0;
};

template <typename F>
bool eventually(F f, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

Config testConfig(const std::string& trackerUrl, std::string password = "") {
  Config config;
  config.appId = "trystero-cpp-torrent-test";
  config.password = std::move(password);
  config.relayUrls = {trackerUrl};
  config.rtcConfig = RtcConfig{};  // no public STUN in tests
  config.allowLoopback = true;
  return config;
}

struct Identity {
  std::shared_ptr<room::Signaller> signaller;
  std::string id;
};

Identity makeIdentity(const Config& config) {
  auto& loop = loop::Loop::shared();
  Identity identity;
  identity.id = room::generateId(20);
  loop.invoke([&] {
    room::Timing timing;
    timing.offerPoolSize = 2;
    identity.signaller = std::make_shared<room::Signaller>(
        loop, std::make_unique<TorrentStrategy>(loop, config.relayUrls, identity.id), identity.id,
        room::toRtcConfiguration(config), timing);
  });
  return identity;
}

std::shared_ptr<Room> join(Identity& identity, const Config& config, const std::string& roomId,
                           JoinErrorHandler onError = {}) {
  return loop::Loop::shared().invoke(
      [&] { return identity.signaller->join(config, roomId, std::move(onError)); });
}

struct Inbox {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> items;  // (peer id, text)
  void add(std::string a, std::string b) {
    std::lock_guard lock(mutex);
    items.emplace_back(std::move(a), std::move(b));
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return items.size();
  }
  std::vector<std::pair<std::string, std::string>> copy() {
    std::lock_guard lock(mutex);
    return items;
  }
};

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

// The MQTT strategy against a real broker: Debian's mosquitto on loopback (a plain listener it
// insists on plus a WebSocket listener), several identities in one process. Skipped when
// /usr/sbin/mosquitto is not installed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "net/relay_socket.hpp"
#include "room/config.hpp"
#include "room/id.hpp"
#include "room/registry.hpp"
#include "room/signaller.hpp"
#include "strategies/mqtt/mqtt_strategy.hpp"
#include "support/room_helpers.hpp"
#include "support/test_data.hpp"
#include "support/ws_test_server.hpp"
#include "trystero/mqtt.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using strategies::mqtt::MqttStrategy;

namespace {

using trystero::testing::eventually;
using trystero::testing::isMqttJsClientId;

constexpr const char* kMosquitto = "/usr/sbin/mosquitto";

unsigned freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("no free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool accepting(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// mosquitto with a temporary config: plain MQTT and MQTT over WebSocket on 127.0.0.1 only.
class Mosquitto {
 public:
  Mosquitto() {
    char pattern[] = "/tmp/trystero-mqtt-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    // mosquitto started as root drops to user mosquitto, which must be able to read the
    // config: make the directory world-readable, and ask it to stay root anyway.
    std::filesystem::permissions(
        dir_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                  std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                  std::filesystem::perms::others_exec);
    plainPort_ = freePort();
    wsPort_ = freePort();
    while (wsPort_ == plainPort_) wsPort_ = freePort();
    std::ofstream conf(dir_ + "/mosquitto.conf");
    conf << "per_listener_settings false\n"
         << "allow_anonymous true\n"
         << "persistence false\n"
         << "user root\n"
         << "log_dest stderr\n"
         << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
         << "listener " << plainPort_ << " 127.0.0.1\n"
         << "socket_domain ipv4\n"
         << "listener " << wsPort_ << " 127.0.0.1\n"
         << "socket_domain ipv4\n"
         << "protocol websockets\n";
  }
  ~Mosquitto() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  bool start() {
    // Through sh only to send mosquitto's stderr to the log: exec keeps the PID.
    process_ = std::make_unique<trystero::testing::ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 std::string("exec ") + kMosquitto + " -c '" + dir_ +
                                     "/mosquitto.conf' 2>>'" + dir_ + "/mosquitto.log'"});
    return eventually([&] { return accepting(wsPort_) && accepting(plainPort_); }, 10s);
  }
  void stop() {
    if (!process_) return;
    if (process_->pid() > 0) kill(process_->pid(), SIGTERM);
    process_->finish(5s);
    process_.reset();
  }

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(wsPort_); }
  std::string log() const {
    std::ifstream in(dir_ + "/mosquitto.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string dir_;
  unsigned plainPort_ = 0, wsPort_ = 0;
  std::unique_ptr<trystero::testing::ChildProcess> process_;
};

Config testConfig(const std::string& url) {
  return trystero::testing::testConfig("trystero-cpp-mqtt-test", {url});
}

struct Identity : trystero::testing::Identity {
  MqttStrategy* strategy = nullptr;  // owned by the signaller
};

class MqttRoomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kMosquitto, X_OK) != 0) GTEST_SKIP() << kMosquitto << " is not installed";
    // Fast reconnects for the restart test (the default backoff starts at 3.3 s).
    net::RelaySocket::setRetryDelays(200ms, 1s);
    broker = std::make_unique<Mosquitto>();
    ASSERT_TRUE(broker->start()) << broker->log();
  }
  void TearDown() override {
    for (auto& room : rooms) room->leave().waitFor(2s);
    rooms.clear();
    loop::Loop::shared().invoke([&] { identities.clear(); });
    if (HasFailure() && broker) std::cerr << "mosquitto log:\n" << broker->log();
    broker.reset();
    net::RelaySocket::resetRetryDelays();
  }

  Identity& addIdentity(MqttStrategy::Options options = {}) {
    Identity identity;
    static_cast<trystero::testing::Identity&>(identity) = trystero::testing::makeIdentity(
        testConfig(broker->url()), [&](loop::Loop& loop, const std::string& id) {
          auto strategy =
              std::make_unique<MqttStrategy>(loop, std::vector{broker->url()}, id, options);
          identity.strategy = strategy.get();
          return strategy;
        });
    identities.push_back(std::move(identity));
    return identities.back();
  }

  std::shared_ptr<Room> join(Identity& identity, const std::string& roomId = "lobby") {
    auto config = testConfig(broker->url());
    rooms.push_back(
        loop::Loop::shared().invoke([&] { return identity.signaller->join(config, roomId, {}); }));
    return rooms.back();
  }

  template <typename F>
  auto onLoop(F f) {
    return loop::Loop::shared().invoke(f);
  }

  std::unique_ptr<Mosquitto> broker;
  std::deque<Identity> identities;  // references stay valid as it grows
  std::vector<std::shared_ptr<Room>> rooms;
};

}  // namespace

TEST_F(MqttRoomTest, TwoIdentitiesJoinAndExchangeAnAction) {
  auto& a = addIdentity();
  auto& b = addIdentity();
  auto roomA = join(a);
  auto roomB = join(b);
  ASSERT_TRUE(eventually([&] {
    return roomA->getPeers() == std::vector{identities[1].id} &&
           roomB->getPeers() == std::vector{identities[0].id};
  })) << "peers: "
      << roomA->getPeers().size() << " " << roomB->getPeers().size();

  std::promise<std::pair<Payload, std::string>> got;
  std::atomic<bool> gotSet{false};
  roomB->makeAction("greet").receive(
      [&](const Payload& data, const std::string& peerId, const Metadata&) {
        if (!gotSet.exchange(true)) got.set_value({data, peerId});
      });
  roomA->makeAction("greet").send(nlohmann::json{{"hello", "from a"}}).get();
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto [payload, from] = future.get();
  EXPECT_EQ(payload, Payload(nlohmann::json{{"hello", "from a"}}));
  EXPECT_EQ(from, identities[0].id);

  onLoop([&] {
    for (auto* s : {identities[0].strategy, identities[1].strategy}) {
      EXPECT_TRUE(isMqttJsClientId(s->clientId(0), 8, 8)) << s->clientId(0);
      EXPECT_TRUE(s->sessionUp(0));
      EXPECT_EQ(s->subscribedTopics(0).size(), 2u);
      auto stats = s->relayStats(0);
      EXPECT_EQ(stats.sessions, 1u);
      EXPECT_EQ(stats.connectionsDropped, 0u) << stats.lastError;
      EXPECT_GE(stats.subscribesOut, 2u);
      EXPECT_GE(stats.publishesOut, 2u);  // an announce and an offer or answer at least
      EXPECT_GE(stats.publishesDelivered, 1u);
      auto sockets = s->relaySockets();
      ASSERT_EQ(sockets.size(), 1u);
      EXPECT_EQ(sockets[0].url, broker->url());
      EXPECT_EQ(sockets[0].state, RelaySocketInfo::State::Open);
      EXPECT_EQ(sockets[0].opens, 1u);
      EXPECT_GE(sockets[0].messagesOut, 4u);
    }
    EXPECT_NE(identities[0].strategy->clientId(0), identities[1].strategy->clientId(0));
  });

  trystero::testing::expectMediaBothWays(*roomA, identities[0].id, *roomB, identities[1].id);

  // Leaving unsubscribes both topics.
  roomA->leave().get();
  EXPECT_TRUE(onLoop([&] { return identities[0].strategy->subscribedTopics(0).empty(); }));
}

TEST_F(MqttRoomTest, BrokerRestartResubscribesAndAThirdIdentityIsFound) {
  auto& a = addIdentity();
  auto& b = addIdentity();
  auto roomA = join(a);
  auto roomB = join(b);
  ASSERT_TRUE(eventually([&] { return roomA->getPeers().size() == 1; }));

  broker->stop();
  ASSERT_TRUE(eventually([&] {
    return onLoop([&] {
      return !identities[0].strategy->sessionUp(0) && !identities[1].strategy->sessionUp(0);
    });
  }));
  EXPECT_EQ(onLoop([&] { return identities[0].strategy->relaySockets()[0].state; }),
            RelaySocketInfo::State::Waiting);
  ASSERT_TRUE(broker->start()) << broker->log();
  ASSERT_TRUE(eventually([&] {
    return onLoop([&] {
      return identities[0].strategy->relayStats(0).sessions == 2 &&
             identities[1].strategy->relayStats(0).sessions == 2;
    });
  })) << "no new session after the broker came back";

  // The restarted broker knows nothing: only the resubscription lets a and b hear the newcomer
  // (its announce on the root topic, its offers on their self topics).
  auto& c = addIdentity();
  auto roomC = join(c);
  ASSERT_TRUE(eventually([&] {
    return roomC->getPeers().size() == 2 && roomA->getPeers().size() == 2 &&
           roomB->getPeers().size() == 2;
  })) << "c sees "
      << roomC->getPeers().size() << ", a sees " << roomA->getPeers().size();

  auto [send, get, progress] = roomC->makeAction("after");
  std::atomic<int> received{0};
  roomA->makeAction("after").receive(
      [&](const Payload&, const std::string&, const Metadata&) { received++; });
  send("restarted").get();
  EXPECT_TRUE(eventually([&] { return received == 1; }, 10s));
  onLoop([&] {
    auto stats = identities[0].strategy->relayStats(0);
    EXPECT_EQ(stats.connectionsDropped, 0u) << stats.lastError;
    EXPECT_GE(identities[0].strategy->relaySockets()[0].reconnects, 1u);
  });
}

TEST_F(MqttRoomTest, TopicsDeliverOnlyWhileSubscribed) {
  auto& loop = loop::Loop::shared();
  std::unique_ptr<MqttStrategy> alice, bob;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> got;
  onLoop([&] {
    alice = std::make_unique<MqttStrategy>(loop, std::vector{broker->url()}, "alice");
    bob = std::make_unique<MqttStrategy>(loop, std::vector{broker->url()}, "bob");
  });
  std::promise<void> ready;
  onLoop([&] {
    alice->whenReady(0, [&] {
      alice->subscribe(0, "root-topic", "alice-topic",
                       [&](const std::string& topic, const std::string& text) {
                         std::lock_guard lock(mutex);
                         got.emplace_back(topic, text);
                       });
      ready.set_value();
    });
  });
  ASSERT_EQ(ready.get_future().wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(eventually([&] { return onLoop([&] { return bob->sessionUp(0); }); }));
  auto count = [&] {
    std::lock_guard lock(mutex);
    return got.size();
  };
  // The SUBACK may still be on its way: publish until the subscription is live.
  ASSERT_TRUE(eventually([&] {
    onLoop([&] { bob->signal(0, "alice-topic", "{\"x\":\"\xC3\xA9\"}"); });
    return eventually([&] { return count() > 0; }, 200ms);
  }));
  onLoop([&] { bob->announce(0, "root-topic", "ignored"); });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return std::any_of(got.begin(), got.end(), [](auto& m) { return m.first == "root-topic"; });
  }));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(got[0], std::make_pair(std::string("alice-topic"), std::string("{\"x\":\"é\"}")));
    EXPECT_EQ(got.back(),
              std::make_pair(std::string("root-topic"), std::string("{\"peerId\":\"bob\"}")));
  }
  // Topics nobody here subscribed to are not delivered; after unsubscribing nothing is.
  onLoop([&] {
    alice->unsubscribe(0, "root-topic", "alice-topic");
    bob->signal(0, "other-topic", "{}");
  });
  std::this_thread::sleep_for(300ms);
  auto before = count();
  onLoop([&] {
    bob->signal(0, "alice-topic", "{}");
    bob->announce(0, "root-topic", "");
  });
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(count(), before);
  onLoop([&] {
    EXPECT_TRUE(alice->subscribedTopics(0).empty());
    alice.reset();
    bob.reset();
  });
}

TEST_F(MqttRoomTest, KeepAlivePings) {
  auto& loop = loop::Loop::shared();
  std::unique_ptr<MqttStrategy> s;
  MqttStrategy::Options options;
  options.keepAlive = 1s;
  onLoop(
      [&] { s = std::make_unique<MqttStrategy>(loop, std::vector{broker->url()}, "x", options); });
  EXPECT_TRUE(eventually(
      [&] {
        return onLoop([&] {
          auto stats = s->relayStats(0);
          return stats.pingsOut >= 2 && stats.pongsIn >= 2;
        });
      },
      8s));
  onLoop([&] {
    EXPECT_TRUE(s->sessionUp(0));
    EXPECT_EQ(s->relayStats(0).sessions, 1u);
    EXPECT_EQ(s->relayStats(0).connectionsDropped, 0u) << s->relayStats(0).lastError;
    s.reset();
  });
}

// A "broker" that is a WebSocket echo server: it sends our CONNECT back, which no broker may do.
// The adapter drops the connection and the relay socket keeps retrying; nothing crashes.
TEST(MqttStrategyHostile, ProtocolViolationDropsTheConnection) {
  auto& loop = loop::Loop::shared();
  net::RelaySocket::setRetryDelays(100ms, 200ms);
  net::testing::TestServer::Options serverOptions;
  serverOptions.protocols = {"mqtt"};
  net::testing::TestServer server(loop, serverOptions);
  std::unique_ptr<MqttStrategy> s;
  bool readyRan = false;
  loop.invoke([&] {
    s = std::make_unique<MqttStrategy>(loop, std::vector{server.url()}, "x");
    s->whenReady(0, [&] { readyRan = true; });
    s->subscribe(0, "a", "b", [](const std::string&, const std::string&) {});
    s->signal(0, "a", "dropped while no session");
  });
  EXPECT_TRUE(eventually(
      [&] { return loop.invoke([&] { return s->relayStats(0).connectionsDropped >= 3; }); }, 10s));
  loop.invoke([&] {
    auto stats = s->relayStats(0);
    EXPECT_NE(stats.lastError.find("unexpected CONNECT"), std::string::npos) << stats.lastError;
    EXPECT_EQ(stats.sessions, 0u);
    EXPECT_EQ(stats.publishesDropped, 1u);
    EXPECT_FALSE(readyRan);
    EXPECT_NE(s->relaySockets()[0].state, RelaySocketInfo::State::Open);
    s.reset();
  });
  net::RelaySocket::resetRetryDelays();
}

TEST(MqttApi, DefaultsMatchTrystero) {
  EXPECT_EQ(mqtt::defaultRelayUrls(),
            (std::vector<std::string>{"wss://test.mosquitto.org:8081/mqtt",
                                      "wss://broker.emqx.io:8084/mqtt",
                                      "wss://broker.hivemq.com:8884/mqtt"}));
  EXPECT_EQ(strategies::mqtt::kDefaultRedundancy, 4u);
  // Not shuffled by appId: every appId gets the list in order.
  Config config;
  config.appId = "anything";
  EXPECT_EQ(room::selectRelays(config, mqtt::defaultRelayUrls(), 4, false),
            mqtt::defaultRelayUrls());
  config.relayRedundancy = 2;
  EXPECT_EQ(room::selectRelays(config, mqtt::defaultRelayUrls(), 4, false).size(), 2u);
  EXPECT_TRUE(mqtt::getRelaySockets().empty());
  Config bad;
  EXPECT_THROW(mqtt::joinRoom(bad, "room"), std::invalid_argument);
}

// The WebTorrent tracker adapter: messages byte for byte against what trystero@0.22.0's
// torrent.js produced (vectors/torrent_vectors.json, made by torrent_vectors.mjs), and the
// adapter against a scripted in-process tracker: announces, intervals, offer/answer routing,
// reconnects and hostile tracker input.
#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "crypto/crypto.hpp"
#include "loop/loop.hpp"
#include "net/relay_socket.hpp"
#include "room/id.hpp"
#include "room/registry.hpp"
#include "strategies/torrent/torrent_strategy.hpp"
#include "strategies/torrent/torrent_wire.hpp"
#include "support/eventually.hpp"
#include "trystero/torrent.hpp"

using namespace trystero;
using namespace trystero::strategies::torrent;
using namespace std::chrono_literals;
using nlohmann::json;
using Kind = TrackerMessage::Kind;

namespace {

const json& vectors() {
  static const json v = [] {
    auto path = std::filesystem::path(__FILE__).parent_path() / "vectors" / "torrent_vectors.json";
    std::ifstream in(path);
    return json::parse(in);
  }();
  return v;
}

crypto::SignalKey::Iv ivOf(const std::string& sealed) {
  crypto::SignalKey::Iv iv{};
  std::size_t pos = 0;
  for (auto& byte : iv) {
    auto end = sealed.find_first_of(",$", pos);
    byte = static_cast<std::uint8_t>(std::stoi(sealed.substr(pos, end - pos)));
    pos = end + 1;
  }
  return iv;
}

crypto::SignalKey vectorKey() {
  const auto& v = vectors();
  return crypto::SignalKey(v["password"].get<std::string>(), v["appId"].get<std::string>(),
                           v["roomId"].get<std::string>());
}

// {"type","sdp"} in the JS order, as the engine hands offers/answers to the adapter.
std::string sealedSignal(const char* type, const std::string& sealed) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["type"] = type;
  out["sdp"] = sealed;
  return out.dump();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Wire format against torrent.js

TEST(TorrentWire, InfoHashIsTheFirst20CharsOfTheHashOfTheRootTopic) {
  for (const auto& t : vectors()["topics"]) {
    auto rootTopic = crypto::topicHash(t["plain"].get<std::string>());
    EXPECT_EQ(rootTopic, t["rootTopic"]);
    EXPECT_EQ(infoHash(rootTopic), t["infoHash"]) << t["plain"];
    EXPECT_EQ(infoHash(rootTopic).size(), 20u);
  }
  EXPECT_EQ(infoHash(vectors()["rootTopic"].get<std::string>()), vectors()["infoHash"]);
}

TEST(TorrentWire, AnnounceMatchesTorrentJs) {
  const auto& v = vectors();
  auto key = vectorKey();
  std::vector<OutgoingOffer> offers;
  for (const auto& o : v["offers"]) {
    auto sealed = o["sealed"].get<std::string>();
    // Same plaintext and IV give the same ciphertext: our sealing is the JS one.
    ASSERT_EQ(key.seal(o["plain"].get<std::string>(), ivOf(sealed)), sealed);
    offers.push_back({o["offer_id"].get<std::string>(), sealedSignal("offer", sealed)});
  }
  EXPECT_EQ(offers.size(), kOfferPoolSize);
  EXPECT_EQ(
      announceMessage(v["infoHash"].get<std::string>(), v["selfId"].get<std::string>(), offers),
      v["announce"].get<std::string>());
  // The JS ids are genId(20) over trystero's alphabet.
  for (const auto& o : offers) {
    EXPECT_EQ(o.offerId.size(), kHashLimit);
    EXPECT_EQ(o.offerId.find_first_not_of(crypto::kIdAlphabet), std::string::npos);
  }
}

TEST(TorrentWire, AnswerToARelayedOfferMatchesTorrentJs) {
  const auto& v = vectors();
  auto key = vectorKey();
  auto selfId = v["selfId"].get<std::string>();
  auto parsed = parseTrackerMessage(v["relayedOffer"].get<std::string>(), selfId);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->kind, Kind::Offer);
  EXPECT_EQ(parsed->offerId, "Aa1Bb2Cc3Dd4Ee5Ff6Gg");
  EXPECT_EQ(parsed->peerId, "Zz9Yy8Xx7Ww6Vv5Uu4Tt");
  EXPECT_EQ(parsed->infoHash, v["infoHash"]);
  auto signal = json::parse(parsed->signal);
  EXPECT_EQ(signal["peerId"], "Zz9Yy8Xx7Ww6Vv5Uu4Tt");
  EXPECT_EQ(signal["offer"]["type"], "offer");
  EXPECT_EQ(key.open(signal["offer"]["sdp"].get<std::string>()), v["remoteOfferPlain"]);

  // What the engine hands back: {peerId, answer}; only the answer goes to the tracker.
  auto jsAnswer = json::parse(v["answer"].get<std::string>());
  auto sealed = jsAnswer["answer"]["sdp"].get<std::string>();
  ASSERT_EQ(key.seal(v["answerPlain"].get<std::string>(), ivOf(sealed)), sealed);
  std::string engineSignal =
      R"({"peerId":")" + selfId + R"(","answer":)" + sealedSignal("answer", sealed) + "}";
  auto answer = answerMessage(v["infoHash"].get<std::string>(), selfId, engineSignal,
                              parsed->offerId, parsed->peerId);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, v["answer"].get<std::string>());
  EXPECT_FALSE(answerMessage("h", selfId, R"({"peerId":"x"})", "o", "p"));
  EXPECT_FALSE(answerMessage("h", selfId, "not json", "o", "p"));
}

TEST(TorrentWire, RelayedAnswerNamesOurOffer) {
  const auto& v = vectors();
  auto parsed = parseTrackerMessage(v["relayedAnswer"].get<std::string>(), "whoever");
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->kind, Kind::Answer);
  auto index = v["answeredIndex"].get<std::size_t>();
  EXPECT_EQ(parsed->offerId, v["offers"][index]["offer_id"]);
  // torrent.js gave it to the peer connection that made that offer.
  EXPECT_EQ(v["answeredPeerConnections"], json::array({index}));
  auto signal = json::parse(parsed->signal);
  EXPECT_EQ(signal["peerId"], "Qq1Rr2Ss3Tt4Uu5Vv6Ww");
  EXPECT_EQ(signal["answer"]["type"], "answer");
}

TEST(TorrentWire, TrackerResponsesAndComplaints) {
  const auto& v = vectors();
  auto response = parseTrackerMessage(v["announceResponse"].get<std::string>(), "me");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->kind, Kind::None);
  EXPECT_EQ(response->infoHash, v["infoHash"]);
  EXPECT_EQ(response->intervalSeconds, 120.0);

  auto failure =
      parseTrackerMessage(R"({"failure reason":"invalid info_hash","interval":300})", "me");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->failure, "invalid info_hash");
  EXPECT_FALSE(failure->intervalSeconds);  // torrent.js stops at a failure
  EXPECT_EQ(v["warnings"][0], "Trystero: torrent tracker failure from " +
                                  v["socketUrl"].get<std::string>() + " - invalid info_hash");

  auto warning = parseTrackerMessage(
      R"({"action":"announce","warning message":"slow down","info_hash":"x","interval":60})", "me");
  ASSERT_TRUE(warning);
  EXPECT_EQ(warning->warning, "slow down");
  EXPECT_EQ(warning->intervalSeconds, 60.0);
  EXPECT_EQ(warning->kind, Kind::None);

  // Falsy complaints are no complaints (JS truthiness).
  auto empty = parseTrackerMessage(R"({"failure reason":"","warning message":0})", "me");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->failure);
  EXPECT_FALSE(empty->warning);
  // Non-string complaints are shown as JSON.
  EXPECT_EQ(parseTrackerMessage(R"({"failure reason":{"a":1}})", "me")->failure, R"({"a":1})");
}

TEST(TorrentWire, AnnounceIntervalIsOnlyRaisedAndCapped) {
  auto base = kDefaultAnnounceInterval;
  EXPECT_EQ(base, 33333ms);
  EXPECT_EQ(nextAnnounceInterval(base, 120), 120000ms);  // bittorrent-tracker's ws default
  EXPECT_EQ(nextAnnounceInterval(base, 600), 120333ms);  // capped
  EXPECT_EQ(nextAnnounceInterval(base, 1e300), 120333ms);
  EXPECT_EQ(nextAnnounceInterval(base, 30), base);  // never lowered
  EXPECT_EQ(nextAnnounceInterval(base, 33.333), base);
  EXPECT_EQ(nextAnnounceInterval(base, 40.5), 40500ms);
  EXPECT_EQ(nextAnnounceInterval(120000ms, 60), 120000ms);
}

TEST(TorrentWire, HostileInputIsRejected) {
  const std::string self = "SELF0000000000000000";
  for (const char* text : {"", "nope", "[1,2]", "\"announce\"", "42", "null", "{", "{\"a\":}"}) {
    EXPECT_FALSE(parseTrackerMessage(text, self)) << text;
  }
  auto kind = [&](const std::string& text) {
    auto parsed = parseTrackerMessage(text, self);
    return parsed ? parsed->kind : Kind::Invalid;
  };
  const std::string offer = R"("offer":{"type":"offer","sdp":"1$x"})";
  const std::string ok =
      R"({"action":"announce","info_hash":"h",)" + offer + R"(,"offer_id":"o","peer_id":"p"})";
  EXPECT_EQ(kind(ok), Kind::Offer);
  // Unknown actions.
  EXPECT_EQ(
      kind(R"({"action":"scrape","info_hash":"h",)" + offer + R"(,"offer_id":"o","peer_id":"p"})"),
      Kind::Invalid);
  EXPECT_EQ(kind(R"({"action":7,"info_hash":"h"})"), Kind::Invalid);
  // Wrong types and missing fields.
  EXPECT_EQ(kind(R"({"info_hash":5,)" + offer + R"(,"offer_id":"o","peer_id":"p"})"),
            Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h",)" + offer + R"(,"offer_id":1,"peer_id":"p"})"),
            Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h",)" + offer + R"(,"peer_id":"p"})"), Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h",)" + offer + R"(,"offer_id":"o"})"), Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h",)" + offer + R"(,"offer_id":"o","peer_id":""})"),
            Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h",)" + offer + R"(,"offer_id":")" + std::string(300, 'o') +
                 R"(","peer_id":"p"})"),
            Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h","offer":"sdp","offer_id":"o","peer_id":"p"})"), Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h","offer":{"type":"offer"},"offer_id":"o","peer_id":"p"})"),
            Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h","answer":{"sdp":7},"offer_id":"o","peer_id":"p"})"),
            Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h","answer":[1],"offer_id":"o","peer_id":"p"})"), Kind::Invalid);
  // Addressed to someone else.
  EXPECT_EQ(kind(R"({"info_hash":"h",)" + offer +
                 R"(,"offer_id":"o","peer_id":"p","to_peer_id":"OTHER"})"),
            Kind::Invalid);
  EXPECT_EQ(
      kind(R"({"info_hash":"h",)" + offer + R"(,"offer_id":"o","peer_id":"p","to_peer_id":3})"),
      Kind::Invalid);
  EXPECT_EQ(kind(R"({"info_hash":"h",)" + offer +
                 R"(,"offer_id":"o","peer_id":"p","to_peer_id":")" + self + R"("})"),
            Kind::Offer);
  // Falsy offers are no offers; odd intervals are ignored.
  EXPECT_EQ(kind(R"({"info_hash":"h","offer":null,"answer":false,"offer_id":"o"})"), Kind::None);
  for (const char* interval : {"\"120\"", "-5", "0", "null", "[120]", "true"}) {
    auto parsed =
        parseTrackerMessage(std::string(R"({"info_hash":"h","interval":)") + interval + "}", self);
    ASSERT_TRUE(parsed);
    EXPECT_FALSE(parsed->intervalSeconds) << interval;
  }
}

TEST(TorrentApi, DefaultTrackers) {
  EXPECT_EQ(torrent::defaultRelayUrls(),
            (std::vector<std::string>{
                "wss://tracker.webtorrent.dev", "wss://tracker.openwebtorrent.com",
                "wss://tracker.btorrent.xyz", "wss://tracker.files.fm:7073/announce"}));
  Config config;
  config.appId = "any";
  // Redundancy 3, in order, not shuffled by appId.
  auto relays = room::selectRelays(config, torrent::defaultRelayUrls(), kDefaultRedundancy, false);
  EXPECT_EQ(relays, (std::vector<std::string>(torrent::defaultRelayUrls().begin(),
                                              torrent::defaultRelayUrls().begin() + 3)));
  EXPECT_TRUE(torrent::getRelaySockets().empty());
}

// ---------------------------------------------------------------------------------------------
// The adapter against a scripted tracker

namespace {

using trystero::testing::eventually;

// A WebSocket endpoint on 127.0.0.1 that records what clients send and sends what the test
// says, on the shared loop.
class ScriptedTracker {
 public:
  explicit ScriptedTracker(loop::Loop& loop) : loop_(loop) {
    loop_.invoke([this] {
      server_ = soup_server_new(nullptr, nullptr);
      soup_server_add_websocket_handler(server_, "/announce", nullptr, nullptr,
                                        &ScriptedTracker::onWebsocket, this, nullptr);
      GError* error = nullptr;
      if (!soup_server_listen_local(server_, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error)) {
        ADD_FAILURE() << error->message;
        g_clear_error(&error);
        return;
      }
      GSList* uris = soup_server_get_uris(server_);
      port_ = g_uri_get_port(static_cast<GUri*>(uris->data));
      g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
    });
  }
  ~ScriptedTracker() {
    loop_.invoke([this] {
      soup_server_disconnect(server_);
      for (auto* conn : conns_) release(conn, this);
      conns_.clear();
      g_clear_object(&server_);
    });
  }

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/announce"; }
  std::vector<std::string> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::size_t count() const { return received().size(); }
  int connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }
  void send(const std::string& text) {
    loop_.invoke([&] {
      for (auto* conn : conns_) {
        if (soup_websocket_connection_get_state(conn) == SOUP_WEBSOCKET_STATE_OPEN) {
          soup_websocket_connection_send_text(conn, text.c_str());
        }
      }
    });
  }
  void sendBinary(const std::string& bytes) {
    loop_.invoke([&] {
      for (auto* conn : conns_) {
        soup_websocket_connection_send_binary(conn, bytes.data(), bytes.size());
      }
    });
  }
  void closeAll() {
    loop_.invoke([&] {
      for (auto* conn : conns_) soup_websocket_connection_close(conn, 1001, nullptr);
    });
  }

 private:
  // Disconnects by the data our handlers were connected with (a null data pointer would
  // match only handlers connected with null data), so no handler can run once we are gone.
  static void release(SoupWebsocketConnection* conn, ScriptedTracker* self) {
    g_signal_handlers_disconnect_matched(conn, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, self);
    g_object_unref(conn);
  }
  static void onWebsocket(SoupServer*, SoupServerMessage*, const char*,
                          SoupWebsocketConnection* conn, gpointer data) {
    auto* self = static_cast<ScriptedTracker*>(data);
    self->conns_.push_back(SOUP_WEBSOCKET_CONNECTION(g_object_ref(conn)));
    g_signal_connect(conn, "message", G_CALLBACK(&ScriptedTracker::onMessage), self);
    g_signal_connect(conn, "closed", G_CALLBACK(&ScriptedTracker::onClosed), self);
    std::lock_guard lock(self->mutex_);
    self->connections_++;
  }
  static void onMessage(SoupWebsocketConnection*, gint type, GBytes* message, gpointer data) {
    auto* self = static_cast<ScriptedTracker*>(data);
    if (type != SOUP_WEBSOCKET_DATA_TEXT) return;
    gsize size = 0;
    const char* bytes = static_cast<const char*>(g_bytes_get_data(message, &size));
    std::lock_guard lock(self->mutex_);
    self->received_.emplace_back(bytes ? bytes : "", size);
  }
  static void onClosed(SoupWebsocketConnection* conn, gpointer data) {
    auto* self = static_cast<ScriptedTracker*>(data);
    std::erase(self->conns_, conn);
    release(conn, self);
  }

  loop::Loop& loop_;
  SoupServer* server_ = nullptr;
  int port_ = 0;
  std::vector<SoupWebsocketConnection*> conns_;  // loop thread
  mutable std::mutex mutex_;
  std::vector<std::string> received_;
  int connections_ = 0;
};

// Collects g_message output (tracker failures and warnings).
struct MessageLog {
  static std::mutex mutex;
  static std::vector<std::string> lines;
  static void handler(const gchar*, GLogLevelFlags, const gchar* message, gpointer) {
    std::lock_guard lock(mutex);
    lines.emplace_back(message);
  }
  static bool contains(const std::string& text) {
    std::lock_guard lock(mutex);
    for (const auto& line : lines) {
      if (line == text) return true;
    }
    return false;
  }
};
std::mutex MessageLog::mutex;
std::vector<std::string> MessageLog::lines;

class TorrentStrategyTest : public ::testing::Test {
 protected:
  static constexpr const char* kSelf = "SELF0000000000000000";

  void SetUp() override {
    static bool logged = [] {
      g_log_set_handler("trystero", G_LOG_LEVEL_MESSAGE, &MessageLog::handler, nullptr);
      return true;
    }();
    (void)logged;
    net::RelaySocket::setRetryDelays(50ms, 200ms);
    tracker = std::make_unique<ScriptedTracker>(loop);
    rootTopic = crypto::topicHash("Trystero@app@room");
    hash = infoHash(rootTopic);
    loop.invoke([&] {
      strategy = std::make_unique<TorrentStrategy>(loop, std::vector{tracker->url()}, kSelf);
    });
  }
  void TearDown() override {
    loop.invoke([&] { strategy.reset(); });
    tracker.reset();
    net::RelaySocket::resetRetryDelays();
  }

  // Subscribes the room; getOffers yields `offersPerAnnounce` fake offers with fresh handles.
  void subscribe(std::size_t offersPerAnnounce = kOfferPoolSize) {
    loop.invoke([&] {
      strategy->whenReady(0, [this, offersPerAnnounce] {
        strategy->subscribeWithOffers(
            0, rootTopic, "selfTopic",
            [this](room::Strategy::Delivery d) {
              std::lock_guard lock(mutex);
              deliveries.push_back(std::move(d));
            },
            [this, offersPerAnnounce](std::size_t n, auto done) {
              std::vector<room::Strategy::OfferedPeer> offers;
              {
                std::lock_guard lock(mutex);
                requested.push_back(n);
                for (std::size_t i = 0; i < offersPerAnnounce; ++i) {
                  auto handle = ++nextHandle;
                  offers.push_back(
                      {handle, sealedSignal("offer", "sealed-" + std::to_string(handle))});
                }
              }
              done(std::move(offers));
            });
      });
    });
  }
  std::vector<room::Strategy::Delivery> delivered() {
    std::lock_guard lock(mutex);
    return deliveries;
  }
  std::size_t deliveredCount() { return delivered().size(); }
  // The offer ids (and our handles, in order) of announce number i.
  std::vector<std::string> announcedIds(std::size_t i) {
    auto message = json::parse(tracker->received().at(i));
    std::vector<std::string> ids;
    for (const auto& offer : message["offers"]) ids.push_back(offer["offer_id"]);
    return ids;
  }
  std::string trackerMessage(const std::string& body) {
    return R"({"action":"announce","info_hash":")" + hash + "\"," + body + "}";
  }
  // Lets the loop run everything already posted.
  void drain() {
    std::this_thread::sleep_for(50ms);
    loop.invoke([] {});
  }

  loop::Loop& loop = loop::Loop::shared();
  std::unique_ptr<ScriptedTracker> tracker;
  std::unique_ptr<TorrentStrategy> strategy;
  std::string rootTopic, hash;
  std::mutex mutex;
  std::vector<room::Strategy::Delivery> deliveries;
  std::vector<std::size_t> requested;
  std::uint64_t nextHandle = 0;
};

}  // namespace

TEST_F(TorrentStrategyTest, AnnouncesOffersAndKeepsTheTrackersInterval) {
  subscribe();
  ASSERT_TRUE(eventually([&] { return tracker->count() == 1; }));
  auto text = tracker->received()[0];
  auto message = json::parse(text);
  EXPECT_EQ(
      text.rfind(R"({"action":"announce","info_hash":")" + hash +
                     R"(","peer_id":"SELF0000000000000000","numwant":10,"offers":[{"offer_id":")",
                 0),
      0u)
      << text;
  ASSERT_EQ(message["offers"].size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    const auto& offer = message["offers"][i];
    EXPECT_EQ(offer["offer_id"].get<std::string>().size(), 20u);
    EXPECT_EQ(offer["offer"],
              json::parse(sealedSignal("offer", "sealed-" + std::to_string(i + 1))));
  }
  EXPECT_EQ(requested, std::vector<std::size_t>{10});
  auto interval = [&] { return loop.invoke([&] { return strategy->announce(0, rootTopic, ""); }); };
  EXPECT_EQ(interval(), 33333ms);

  tracker->send(trackerMessage(R"("interval":120,"complete":0,"incomplete":1)"));
  ASSERT_TRUE(eventually([&] { return interval() == 120000ms; }));
  tracker->send(trackerMessage(R"("interval":600)"));
  ASSERT_TRUE(eventually([&] { return interval() == 120333ms; }));
  tracker->send(trackerMessage(R"("interval":10)"));
  drain();
  EXPECT_EQ(interval(), 120333ms);
  EXPECT_EQ(tracker->count(), 1u);  // responses do not trigger announces
  EXPECT_EQ(deliveredCount(), 0u);
  EXPECT_EQ(loop.invoke([&] { return strategy->announce(0, "other", ""); }), std::nullopt);
}

TEST_F(TorrentStrategyTest, RelayedOffersAreAnsweredThroughTheTracker) {
  subscribe();
  ASSERT_TRUE(eventually([&] { return tracker->count() == 1; }));
  std::string offer = R"("offer":{"type":"offer","sdp":"their-sealed-offer"})";
  tracker->send(trackerMessage(
      offer + R"(,"offer_id":"OFFER_ID_FROM_THEM_1","peer_id":"THEM0000000000000000")"));
  ASSERT_TRUE(eventually([&] { return deliveredCount() == 1; }));
  auto d = delivered()[0];
  EXPECT_EQ(d.topic, rootTopic);
  EXPECT_EQ(
      json::parse(d.message),
      json::parse(
          R"({"peerId":"THEM0000000000000000","offer":{"type":"offer","sdp":"their-sealed-offer"}})"));
  EXPECT_EQ(d.offerHandle, 0u);
  ASSERT_TRUE(d.reply);
  loop.invoke([&] {
    d.reply("ignored-topic",
            R"({"peerId":"SELF0000000000000000","answer":{"type":"answer","sdp":"my-answer"}})");
  });
  ASSERT_TRUE(eventually([&] { return tracker->count() == 2; }));
  EXPECT_EQ(
      tracker->received()[1],
      R"({"action":"announce","info_hash":")" + hash +
          R"(","peer_id":"SELF0000000000000000","answer":{"type":"answer","sdp":"my-answer"},"offer_id":"OFFER_ID_FROM_THEM_1","to_peer_id":"THEM0000000000000000"})");

  // The same offer again (torrent.js handledOffers) is ignored.
  tracker->send(trackerMessage(
      offer + R"(,"offer_id":"OFFER_ID_FROM_THEM_1","peer_id":"THEM0000000000000000")"));
  drain();
  EXPECT_EQ(deliveredCount(), 1u);
}

TEST_F(TorrentStrategyTest, AnswersGoToTheOfferingPeerOnce) {
  subscribe();
  ASSERT_TRUE(eventually([&] { return tracker->count() == 1; }));
  auto ids = announcedIds(0);
  std::string answer =
      R"("answer":{"type":"answer","sdp":"their-answer"},"peer_id":"THEM0000000000000000")";
  tracker->send(trackerMessage(answer + R"(,"offer_id":")" + ids[3] + "\""));
  ASSERT_TRUE(eventually([&] { return deliveredCount() == 1; }));
  auto d = delivered()[0];
  EXPECT_EQ(d.offerHandle, 4u);  // handles 1..10 in announce order
  EXPECT_FALSE(d.reply);
  EXPECT_EQ(json::parse(d.message)["answer"]["sdp"], "their-answer");
  EXPECT_EQ(json::parse(d.message)["peerId"], "THEM0000000000000000");

  // A second answer for that offer, forged ids, other rooms, other recipients: dropped.
  tracker->send(trackerMessage(answer + R"(,"offer_id":")" + ids[3] + "\""));
  tracker->send(trackerMessage(answer + R"(,"offer_id":"NEVER_MADE_THIS_ID_0")"));
  tracker->send(R"({"action":"announce","info_hash":"01234567890123456789",)" + answer +
                R"(,"offer_id":")" + ids[4] + "\"}");
  tracker->send(trackerMessage(answer + R"(,"offer_id":")" + ids[5] +
                               R"(","to_peer_id":"ANOTHER0000000000000")"));
  drain();
  EXPECT_EQ(deliveredCount(), 1u);
  // Untouched offers still work.
  tracker->send(trackerMessage(answer + R"(,"offer_id":")" + ids[5] + "\""));
  ASSERT_TRUE(eventually([&] { return deliveredCount() == 2; }));
  EXPECT_EQ(delivered()[1].offerHandle, 6u);
}

TEST_F(TorrentStrategyTest, HostileTrackerInputIsDropped) {
  subscribe();
  ASSERT_TRUE(eventually([&] { return tracker->count() == 1; }));
  auto ids = announcedIds(0);
  for (
      const std::string& text : std::vector<std::string>{
          "",
          "garbage",
          "[]",
          "null",
          R"({"action":"announce")",
          trackerMessage(R"("offer":"plain text","offer_id":"X","peer_id":"Y")"),
          trackerMessage(R"("offer":{"type":"offer"},"offer_id":"X","peer_id":"Y")"),
          trackerMessage(R"("offer":{"sdp":"s"},"offer_id":7,"peer_id":"Y")"),
          trackerMessage(R"("offer":{"sdp":"s"},"offer_id":"X","peer_id":["Y"])"),
          trackerMessage(R"("answer":{"sdp":1},"offer_id":")" + ids[0] + R"(","peer_id":"Y")"),
          R"({"action":"scrape","info_hash":")" + hash +
              R"(","offer":{"sdp":"s"},"offer_id":"X","peer_id":"Y"})",
          R"({"action":"announce","info_hash":5,"offer":{"sdp":"s"},"offer_id":"X","peer_id":"Y"})",
          trackerMessage(R"("interval":"999")"),
          trackerMessage(R"("interval":-1)"),
          std::string(kMaxTrackerMessageBytes + 1, ' '),
      }) {
    tracker->send(text);
  }
  tracker->sendBinary(trackerMessage(R"("offer":{"sdp":"s"},"offer_id":"B","peer_id":"Y")"));
  drain();
  EXPECT_EQ(deliveredCount(), 0u);
  EXPECT_EQ(loop.invoke([&] { return strategy->announce(0, rootTopic, ""); }), 33333ms);
  // The socket survived all of it.
  tracker->send(
      trackerMessage(R"("answer":{"sdp":"a"},"offer_id":")" + ids[0] + R"(","peer_id":"Y")"));
  ASSERT_TRUE(eventually([&] { return deliveredCount() == 1; }));
  EXPECT_EQ(tracker->connections(), 1);
}

TEST_F(TorrentStrategyTest, FailuresAndWarningsAreReportedWithTheTrackerUrl) {
  subscribe();
  ASSERT_TRUE(eventually([&] { return tracker->count() == 1; }));
  auto ids = announcedIds(0);
  // A failure stops processing: the answer in it is not delivered.
  tracker->send(
      trackerMessage(R"("failure reason":"torrent not allowed","answer":{"sdp":"a"},"offer_id":")" +
                     ids[0] + R"(","peer_id":"Y")"));
  ASSERT_TRUE(eventually([&] {
    return MessageLog::contains("trystero: torrent tracker failure from " + tracker->url() +
                                " - torrent not allowed");
  }));
  // A warning does not.
  tracker->send(
      trackerMessage(R"("warning message":"slow down","answer":{"sdp":"a"},"offer_id":")" + ids[0] +
                     R"(","peer_id":"Y")"));
  ASSERT_TRUE(eventually([&] {
    return MessageLog::contains("trystero: torrent tracker warning from " + tracker->url() +
                                " - slow down");
  }));
  ASSERT_TRUE(eventually([&] { return deliveredCount() == 1; }));
  EXPECT_EQ(delivered()[0].offerHandle, 1u);
}

TEST_F(TorrentStrategyTest, ReannouncesAfterAReconnectAndNotAfterLeaving) {
  subscribe();
  ASSERT_TRUE(eventually([&] { return tracker->count() == 1; }));
  tracker->closeAll();
  ASSERT_TRUE(eventually([&] { return tracker->count() == 2; }));
  EXPECT_EQ(tracker->connections(), 2);
  auto again = json::parse(tracker->received()[1]);
  EXPECT_EQ(again["info_hash"], hash);
  EXPECT_EQ(again["offers"].size(), 10u);
  // Answers to the previous announce's offers still count.
  auto ids = announcedIds(0);
  tracker->send(
      trackerMessage(R"("answer":{"sdp":"a"},"peer_id":"Y","offer_id":")" + ids[0] + "\""));
  ASSERT_TRUE(eventually([&] { return deliveredCount() == 1; }));

  auto sockets = loop.invoke([&] { return strategy->relaySockets(); });
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].url, tracker->url());
  EXPECT_EQ(sockets[0].state, RelaySocketInfo::State::Open);
  EXPECT_EQ(sockets[0].opens, 2u);
  EXPECT_EQ(sockets[0].messagesOut, 2u);

  // Leaving sends nothing (torrent.js has no "stopped" event) and stops announcing.
  loop.invoke([&] { strategy->unsubscribe(0, rootTopic, "selfTopic"); });
  tracker->send(
      trackerMessage(R"("answer":{"sdp":"a"},"peer_id":"Y","offer_id":")" + ids[1] + "\""));
  tracker->closeAll();
  ASSERT_TRUE(eventually([&] { return tracker->connections() == 3; }));
  drain();
  EXPECT_EQ(tracker->count(), 2u);
  EXPECT_EQ(deliveredCount(), 1u);
  // signal() has nowhere to go on a tracker.
  loop.invoke([&] { strategy->signal(0, "topic", R"({"peerId":"x"})"); });
  drain();
  EXPECT_EQ(tracker->count(), 2u);
}

TEST_F(TorrentStrategyTest, PlainSubscribeAnnouncesWithoutOffers) {
  loop.invoke([&] {
    strategy->whenReady(0, [this] {
      strategy->subscribe(0, rootTopic, "selfTopic", [](const std::string&, const std::string&) {});
    });
  });
  ASSERT_TRUE(eventually([&] { return tracker->count() == 1; }));
  EXPECT_EQ(tracker->received()[0],
            R"({"action":"announce","info_hash":")" + hash +
                R"(","peer_id":"SELF0000000000000000","numwant":10,"offers":[]})");
}

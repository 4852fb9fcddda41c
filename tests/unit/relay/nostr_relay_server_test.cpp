// trystero::nostr::RelayServer: NIP-01 over WebSocket (the library's client, and a raw socket
// for what a well-behaved client never sends: fragments, a reader that never reads), limits,
// lifecycle, and two rooms meeting through it.
#include "trystero/relay_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.hpp"
#include "loop/loop.hpp"
#include "net/websocket.hpp"
#include "net/websocket_guard.hpp"
#include "nostr/wire.hpp"
#include "relay/nostr_filter.hpp"
#include "room/config.hpp"
#include "room/id.hpp"
#include "room/signaller.hpp"
#include "strategies/nostr/nostr_strategy.hpp"
#include "support/eventually.hpp"
#include "trystero/nostr.hpp"

using namespace std::chrono_literals;
using trystero::loop::Loop;
using trystero::nostr::RelayServer;
using trystero::nostr::RelayServerOptions;
using json = nlohmann::json;
namespace wire = trystero::nostr::wire;

namespace {

using trystero::testing::eventually;

std::string hex(const std::uint8_t* data, std::size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

const wire::KeyPair& key() {
  static auto k = wire::KeyPair::generate();
  return *k;
}

wire::Event makeEvent(std::int64_t kind, std::vector<std::vector<std::string>> tags,
                      std::string content, std::int64_t createdAt = wire::nowSeconds(),
                      const wire::KeyPair& signer = key()) {
  wire::Event e;
  e.pubkey = signer.publicKeyHex();
  e.createdAt = createdAt;
  e.kind = kind;
  e.tags = std::move(tags);
  e.content = std::move(content);
  auto digest = trystero::crypto::sha256(wire::serializeForId(e));
  e.id = hex(digest.data(), digest.size());
  auto sig = signer.sign(digest);
  e.sig = hex(sig.data(), sig.size());
  return e;
}

std::string eventMessage(const wire::Event& e) {
  return "[\"EVENT\"," + wire::serializeEvent(e) + "]";
}

// A WebSocket client (the library's) that records what the relay sends.
class Client {
 public:
  explicit Client(const std::string& url) {
    trystero::net::WebSocket::Callbacks cb;
    cb.onOpen = [this] {
      std::lock_guard lock(mutex_);
      open_ = true;
    };
    cb.onMessage = [this](std::string_view data, bool) {
      std::lock_guard lock(mutex_);
      messages_.push_back(json::parse(data, nullptr, false));
    };
    cb.onClose = [this](int code, const std::string&) {
      std::lock_guard lock(mutex_);
      closeCode_ = code;
    };
    socket_ = trystero::net::WebSocket::connect(Loop::shared(), url, {}, std::move(cb));
  }
  ~Client() {
    Loop::shared().invoke([&] { socket_.reset(); });
  }

  bool waitOpen() {
    return eventually([&] {
      std::lock_guard lock(mutex_);
      return open_;
    });
  }
  void send(const std::string& text) {
    Loop::shared().invoke([&] { socket_->sendText(text); });
  }
  void sendBinary(const std::string& data) {
    Loop::shared().invoke([&] {
      socket_->sendBinary(
          std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
    });
  }
  // The next message not returned yet (in arrival order), or a null json on timeout.
  json next(std::chrono::milliseconds timeout = 5s) {
    json out;
    eventually(
        [&] {
          std::lock_guard lock(mutex_);
          if (messages_.empty()) return false;
          out = std::move(messages_.front());
          messages_.pop_front();
          return true;
        },
        timeout);
    return out;
  }
  // Nothing arrives within a while.
  bool quiet(std::chrono::milliseconds wait = 300ms) {
    std::this_thread::sleep_for(wait);
    std::lock_guard lock(mutex_);
    return messages_.empty();
  }
  std::optional<int> closeCode() {
    std::lock_guard lock(mutex_);
    return closeCode_;
  }
  bool waitClosed(std::chrono::milliseconds timeout = 5s) {
    return eventually([&] { return closeCode().has_value(); }, timeout);
  }
  // REQ and its EOSE.
  void subscribe(const std::string& subId, const json& filter) {
    send(json::array({"REQ", subId, filter}).dump());
    auto eose = next();
    ASSERT_EQ(eose, json::array({"EOSE", subId})) << subId;
  }
  // EVENT and its OK; returns the OK.
  json publish(const wire::Event& e) {
    send(eventMessage(e));
    return next();
  }

 private:
  std::mutex mutex_;
  bool open_ = false;
  std::deque<json> messages_;
  std::optional<int> closeCode_;
  std::shared_ptr<trystero::net::WebSocket> socket_;
};

json eventJson(const wire::Event& e) { return json::parse(wire::serializeEvent(e)); }

// A blocking TCP client speaking WebSocket by hand.
class RawClient {
 public:
  struct Frame {
    bool fin = false;
    int opcode = -1;
    std::string payload;
  };

  explicit RawClient(std::uint16_t port, int receiveBuffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receiveBuffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    }
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool sendAll(std::string_view data) {
    while (!data.empty()) {
      auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The HTTP request; returns the response head.
  std::string request(const std::string& head) {
    if (!connected_ || !sendAll(head)) return {};
    std::string response;
    char c;
    while (response.find("\r\n\r\n") == std::string::npos && ::recv(fd_, &c, 1, 0) == 1) {
      response += c;
    }
    return response;
  }

  bool handshake() {
    auto head = request(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    return head.rfind("HTTP/1.1 101", 0) == 0;
  }

  bool sendFrame(int opcode, bool fin, std::string_view payload) {
    std::string frame;
    frame += static_cast<char>((fin ? 0x80 : 0) | opcode);
    const std::size_t n = payload.size();
    if (n < 126) {
      frame += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
      frame += static_cast<char>(0x80 | 126);
      frame += static_cast<char>(n >> 8);
      frame += static_cast<char>(n & 0xFF);
    } else {
      frame += static_cast<char>(0x80 | 127);
      for (int i = 7; i >= 0; --i) frame += static_cast<char>((n >> (8 * i)) & 0xFF);
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(mask, 4);
    for (std::size_t i = 0; i < n; ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    return sendAll(frame);
  }

  std::optional<Frame> readFrame() {
    std::uint8_t head[2];
    if (!readExactly(head, 2)) return std::nullopt;
    Frame f;
    f.fin = head[0] & 0x80;
    f.opcode = head[0] & 0x0F;
    std::uint64_t n = head[1] & 0x7F;
    if (n == 126 || n == 127) {
      std::uint8_t ext[8];
      const int k = n == 126 ? 2 : 8;
      if (!readExactly(ext, k)) return std::nullopt;
      n = 0;
      for (int i = 0; i < k; ++i) n = n << 8 | ext[i];
    }
    f.payload.resize(n);
    if (n && !readExactly(reinterpret_cast<std::uint8_t*>(f.payload.data()), n)) {
      return std::nullopt;
    }
    return f;
  }

  // Frames until a close frame (returns its code) or the end of the stream (nullopt).
  std::optional<int> readUntilClose() {
    while (auto f = readFrame()) {
      if (f->opcode == 8) {
        if (f->payload.size() < 2) return 1005;
        return (static_cast<std::uint8_t>(f->payload[0]) << 8) |
               static_cast<std::uint8_t>(f->payload[1]);
      }
    }
    return std::nullopt;
  }

  int fd() const { return fd_; }

 private:
  bool readExactly(std::uint8_t* out, std::size_t n) {
    while (n > 0) {
      auto got = ::recv(fd_, out, n, 0);
      if (got <= 0) return false;
      out += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
};

class RelayServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Sanitizer hygiene: OpenSSL's DRBGs are first instantiated on the main thread.
    (void)wire::processKeyPair();
    (void)key();
  }
  void start(RelayServerOptions options = {}) {
    options.log = [this](const std::string& line) {
      std::lock_guard lock(logMutex);
      logLines.push_back(line);
    };
    server = std::make_unique<RelayServer>(std::move(options));
  }
  std::unique_ptr<Client> client() {
    auto c = std::make_unique<Client>(server->url());
    EXPECT_TRUE(c->waitOpen());
    return c;
  }
  void TearDown() override {
    server.reset();
    if (HasFailure()) {
      std::lock_guard lock(logMutex);
      for (const auto& line : logLines) std::cerr << "[relay] " << line << "\n";
    }
  }

  std::unique_ptr<RelayServer> server;
  std::mutex logMutex;
  std::vector<std::string> logLines;
};

}  // namespace

// ---- lifecycle -------------------------------------------------------------------------------

TEST_F(RelayServerTest, ListensOnAFreePortAndReportsIt) {
  start();
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->url(), "ws://127.0.0.1:" + std::to_string(server->port()));
  auto c = client();
  EXPECT_TRUE(eventually([&] { return server->stats().connections == 1; }));
  EXPECT_EQ(server->stats().connectionsAccepted, 1u);
}

TEST_F(RelayServerTest, ThrowsWhenItCannotListen) {
  start();
  RelayServerOptions taken;
  taken.port = server->port();
  try {
    RelayServer second(taken);
    FAIL() << "listening twice on one port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(server->port())), std::string::npos)
        << e.what();
  }
  RelayServerOptions badHost;
  badHost.host = "not an address";
  EXPECT_THROW(RelayServer{badHost}, std::runtime_error);
}

TEST_F(RelayServerTest, DestructorClosesConnectionsFromAnyThread) {
  start();
  auto a = client();
  auto b = client();
  server.reset();  // test thread
  ASSERT_TRUE(a->waitClosed());
  ASSERT_TRUE(b->waitClosed());
  EXPECT_EQ(*a->closeCode(), 1001);

  // Created and destroyed on the loop thread (inside a callback, as it were), and on another.
  auto onLoop = Loop::shared().invoke([] { return std::make_unique<RelayServer>(); });
  const std::string url = onLoop->url();
  Client c(url);
  ASSERT_TRUE(c.waitOpen());
  Loop::shared().invoke([&] { onLoop.reset(); });
  EXPECT_TRUE(c.waitClosed());
  std::thread([] {
    RelayServer s;
    Client d(s.url());
    EXPECT_TRUE(d.waitOpen());
  }).join();
}

TEST_F(RelayServerTest, ServesRelayInformationOverPlainHttp) {
  start();
  RawClient raw(server->port());
  auto head =
      raw.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/nostr+json\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("application/nostr+json"), std::string::npos) << head;
}

// ---- NIP-01 ----------------------------------------------------------------------------------

TEST_F(RelayServerTest, ForwardsAValidEventToMatchingSubscriptionsOnly) {
  start();
  auto a = client(), b = client(), publisher = client();
  a->subscribe("sub-a", {{"kinds", {20001}}, {"#x", {"topic-1"}}});
  b->subscribe("sub-b", {{"kinds", {20001}}, {"#x", {"topic-2"}}});

  auto e1 = makeEvent(20001, {{"x", "topic-1"}}, "hello \"a\" \u2028 \xF0\x9F\x8E\x89");
  EXPECT_EQ(publisher->publish(e1), json::array({"OK", e1.id, true, ""}));
  EXPECT_EQ(a->next(), json::array({"EVENT", "sub-a", eventJson(e1)}));

  auto e2 = makeEvent(20001, {{"x", "topic-2"}}, "for b");
  EXPECT_EQ(publisher->publish(e2), json::array({"OK", e2.id, true, ""}));
  // b's first message is e2: e1 never went to it.
  EXPECT_EQ(b->next(), json::array({"EVENT", "sub-b", eventJson(e2)}));
  EXPECT_TRUE(a->quiet());
  EXPECT_TRUE(publisher->quiet(50ms));  // no subscription of its own

  auto stats = server->stats();
  EXPECT_EQ(stats.eventsAccepted, 2u);
  EXPECT_EQ(stats.deliveries, 2u);
  EXPECT_EQ(stats.subscriptions, 2u);
}

TEST_F(RelayServerTest, RejectsBadIdsAndSignatures) {
  start();
  auto sub = client(), publisher = client();
  sub->subscribe("s", {{"kinds", {20002}}});

  auto tampered = makeEvent(20002, {}, "original");
  tampered.content = "changed";
  EXPECT_EQ(publisher->publish(tampered),
            json::array({"OK", tampered.id, false, "invalid: event id does not match"}));

  auto other = makeEvent(20002, {}, "other");
  auto badSig = makeEvent(20002, {}, "mine");
  badSig.sig = other.sig;
  EXPECT_EQ(publisher->publish(badSig),
            json::array({"OK", badSig.id, false, "invalid: bad signature"}));

  // A valid signature by another key than the pubkey named.
  auto stranger = wire::KeyPair::generate();
  auto forged = makeEvent(20002, {}, "forged", wire::nowSeconds(), *stranger);
  forged.pubkey = key().publicKeyHex();
  forged.id = wire::computeEventId(forged);
  EXPECT_EQ(publisher->publish(forged)[2], false);

  publisher->send(R"(["EVENT",{"id":"abc","pubkey":"x","content":"","sig":"","kind":1}])");
  EXPECT_EQ(publisher->next(), json::array({"OK", "abc", false, "invalid: bad id field"}));
  publisher->send(R"(["EVENT","not an event"])");
  EXPECT_EQ(publisher->next(), json::array({"OK", "", false, "invalid: not an object"}));
  auto noKind = json::parse(wire::serializeEvent(makeEvent(20002, {}, "")));
  noKind.erase("kind");
  publisher->send(json::array({"EVENT", noKind}).dump());
  EXPECT_EQ(publisher->next()[3], "invalid: bad kind");

  EXPECT_TRUE(sub->quiet());
  EXPECT_EQ(server->stats().eventsRejected, 6u);
  EXPECT_EQ(server->stats().eventsAccepted, 0u);
}

TEST_F(RelayServerTest, EventIdsMatchWhatJavaScriptHashes) {
  // Contents whose JSON escaping differs between serializers: the relay must hash exactly
  // JSON.stringify's output (and forward the event so that clients recompute the same id).
  start();
  auto sub = client(), publisher = client();
  sub->subscribe("s", {{"kinds", {20003}}});
  const std::vector<std::string> contents = {
      "",
      "quotes \" \\ /",
      "line\nbreak\r\ttab\b\f",
      std::string("nul \x00 \x01 \x1f \x7f", 11),
      "\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x8E\x89 \u2028\u2029\uFEFF",
      std::string(20000, 'x')};
  for (const auto& content : contents) {
    auto e = makeEvent(20003, {{"x", content}, {"e", "", "extra"}}, content);
    ASSERT_EQ(publisher->publish(e), json::array({"OK", e.id, true, ""}));
    auto got = sub->next();
    ASSERT_EQ(got[2]["content"], content);
    auto back = wire::eventFromJson(got[2]);
    ASSERT_TRUE(back);
    EXPECT_TRUE(wire::verifyEvent(*back));
  }
  // Escapes a client may choose (\u0041, \/) are decoded before hashing, as JSON.parse does.
  auto e = makeEvent(20003, {}, "A/");
  auto text = eventMessage(e);
  auto at = text.find("\"content\":\"A/\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 14, "\"content\":\"\\u0041\\/\"");
  publisher->send(text);
  EXPECT_EQ(publisher->next(), json::array({"OK", e.id, true, ""}));
  EXPECT_EQ(sub->next()[2]["content"], "A/");
}

TEST_F(RelayServerTest, RelaysEveryKindUnlessEphemeralOnly) {
  start();
  auto c = client();
  auto regular = makeEvent(1, {}, "a note");
  EXPECT_EQ(c->publish(regular), json::array({"OK", regular.id, true, ""}));
  server.reset();
  RelayServerOptions o;
  o.ephemeralOnly = true;
  start(o);
  auto d = client();
  auto ok = d->publish(regular);
  EXPECT_EQ(ok[2], false);
  EXPECT_EQ(ok[3].get<std::string>().rfind("blocked: ", 0), 0u) << ok;
  auto ephemeral = makeEvent(29999, {}, "signal");
  EXPECT_EQ(d->publish(ephemeral), json::array({"OK", ephemeral.id, true, ""}));
}

TEST_F(RelayServerTest, ReqEoseCloseAndReplace) {
  start();
  auto sub = client(), publisher = client();
  sub->subscribe("s", {{"kinds", {20004}}});
  auto e1 = makeEvent(20004, {}, "one");
  publisher->publish(e1);
  EXPECT_EQ(sub->next()[2]["id"], e1.id);

  // Replaced: the same id, another kind.
  sub->subscribe("s", {{"kinds", {20005}}});
  EXPECT_EQ(server->stats().subscriptions, 1u);
  publisher->publish(makeEvent(20004, {}, "old kind"));
  auto e2 = makeEvent(20005, {}, "new kind");
  publisher->publish(e2);
  EXPECT_EQ(sub->next(), json::array({"EVENT", "s", eventJson(e2)}));

  sub->send(R"(["CLOSE","s"])");
  sub->send(R"(["CLOSE","never opened"])");
  EXPECT_TRUE(eventually([&] { return server->stats().subscriptions == 0; }));
  publisher->publish(makeEvent(20005, {}, "after close"));
  EXPECT_TRUE(sub->quiet());

  // Several filters: OR.
  sub->send(json::array({"REQ", "two", {{"kinds", {1}}}, {{"kinds", {20006}}}}).dump());
  EXPECT_EQ(sub->next(), json::array({"EOSE", "two"}));
  auto e3 = makeEvent(20006, {}, "second filter");
  publisher->publish(e3);
  EXPECT_EQ(sub->next()[2]["id"], e3.id);
}

TEST_F(RelayServerTest, FiltersByKindTagAuthorIdAndTime) {
  start();
  auto sub = client(), publisher = client();
  auto target = makeEvent(20010, {{"x", "t"}, {"p", "someone"}}, "target", 1000);
  sub->subscribe("kind", {{"kinds", {20010}}});
  sub->subscribe("tag", {{"#x", {"t", "u"}}});
  sub->subscribe("two-tags", {{"#x", {"t"}}, {"#p", {"nobody"}}});
  sub->subscribe("author", {{"authors", {key().publicKeyHex()}}, {"kinds", {20010}}});
  sub->subscribe("id", {{"ids", {target.id}}});
  sub->subscribe("since", {{"since", 1001}});
  sub->subscribe("until", {{"until", 1000}, {"limit", 5}});
  sub->subscribe("other-kind", {{"kinds", {20011}}});
  publisher->publish(target);
  std::set<std::string> got;
  for (int i = 0; i < 5; ++i) {
    auto m = sub->next();
    ASSERT_EQ(m[0], "EVENT");
    got.insert(m[1].get<std::string>());
  }
  EXPECT_EQ(got, (std::set<std::string>{"kind", "tag", "author", "id", "until"}));
  EXPECT_TRUE(sub->quiet());
}

TEST(NostrFilter, ParsesStrictlyAndMatches) {
  std::string why;
  auto e = makeEvent(20000, {{"x", "a", "more"}, {"y"}}, "", 50);
  auto match = [&](const json& f) {
    auto filter = trystero::relay::filterFromJson(f, &why);
    EXPECT_TRUE(filter) << f.dump() << ": " << why;
    return filter && filter->matches(e);
  };
  EXPECT_TRUE(match(json::object()));
  EXPECT_TRUE(match({{"#x", {"b", "a"}}}));
  EXPECT_FALSE(match({{"#x", {"more"}}}));
  EXPECT_FALSE(match({{"#y", {""}}}));  // a one-element tag has no value
  EXPECT_FALSE(match({{"kinds", json::array()}}));
  EXPECT_TRUE(match({{"since", 50}, {"until", 50}}));
  EXPECT_FALSE(match({{"since", 51}}));
  for (const json& bad : std::vector<json>{json::array(),
                                           {{"kinds", {"1"}}},
                                           {{"kinds", {-1}}},
                                           {{"ids", {"ABC"}}},
                                           {{"authors", "x"}},
                                           {{"#xy", {"a"}}},
                                           {{"#1", {"a"}}},
                                           {{"since", 1.5}},
                                           {{"search", "x"}}}) {
    EXPECT_FALSE(trystero::relay::filterFromJson(bad, &why)) << bad.dump();
  }
  EXPECT_EQ(trystero::relay::utf16Length("a\xC3\xA9\xF0\x9F\x8E\x89"), 4u);
}

TEST_F(RelayServerTest, MalformedMessagesGetNotices) {
  start();
  auto c = client();
  auto noticeOf = [&](const std::string& text) {
    c->send(text);
    auto m = c->next();
    EXPECT_EQ(m.size(), 2u) << text << " -> " << m.dump();
    EXPECT_EQ(m[0], "NOTICE") << text;
    return m[1].is_string() ? m[1].get<std::string>() : std::string();
  };
  EXPECT_EQ(noticeOf("not json"), "invalid: malformed JSON");
  EXPECT_EQ(noticeOf("[1,2"), "invalid: malformed JSON");
  EXPECT_EQ(noticeOf(std::string(50, '[') + std::string(50, ']')), "invalid: malformed JSON");
  EXPECT_EQ(noticeOf("{}"), "invalid: expected an array starting with a string");
  EXPECT_EQ(noticeOf("[]"), "invalid: expected an array starting with a string");
  EXPECT_EQ(noticeOf("[42]"), "invalid: expected an array starting with a string");
  EXPECT_EQ(noticeOf(R"(["HELLO","x"])"), "invalid: unknown message type \"HELLO\"");
  EXPECT_EQ(noticeOf(R"(["COUNT","x",{}])"), "invalid: unknown message type \"COUNT\"");
  EXPECT_EQ(noticeOf(R"(["EVENT"])"), "invalid: EVENT without an event");
  EXPECT_EQ(noticeOf(R"(["REQ"])").rfind("invalid: bad subscription id", 0), 0u);
  EXPECT_EQ(noticeOf(R"(["REQ",5,{}])").rfind("invalid: bad subscription id", 0), 0u);
  EXPECT_EQ(noticeOf(R"(["REQ","",{}])").rfind("invalid: bad subscription id", 0), 0u);
  EXPECT_EQ(noticeOf(json::array({"REQ", std::string(65, 's'), json::object()}).dump())
                .rfind("invalid: bad subscription id", 0),
            0u);
  EXPECT_EQ(noticeOf(R"(["CLOSE"])"), "invalid: bad subscription id");
  c->sendBinary("[\"REQ\",\"x\",{}]");
  EXPECT_EQ(c->next(), json::array({"NOTICE", "invalid: binary messages are not supported"}));

  // 64 characters (JavaScript counts) is fine, even when that is more bytes.
  std::string longest;
  for (int i = 0; i < 32; ++i) longest += "\xF0\x9F\x8E\x89";  // 32 surrogate pairs
  c->subscribe(longest, json::object());
  c->send(R"(["REQ","f",{"kinds":"x"}])");
  EXPECT_EQ(c->next(), json::array({"CLOSED", "f", "invalid: bad kinds"}));
  c->send(R"(["REQ","g"])");
  EXPECT_EQ(c->next(), json::array({"CLOSED", "g", "invalid: no filters"}));
  c->send(R"(["REQ","h",{"search":"x"}])");
  EXPECT_EQ(c->next(),
            json::array({"CLOSED", "h", "invalid: unsupported filter field \"search\""}));
  EXPECT_FALSE(c->closeCode());
  EXPECT_GE(server->stats().notices, 15u);
}

// Random messages built from NIP-01 fragments (a fixed seed): answered or refused, never a crash,
// and the relay still serves afterwards.
TEST_F(RelayServerTest, SurvivesGarbage) {
  RelayServerOptions o;
  o.maxMessageBytes = 8192;
  o.violationBurst = 1000000;
  start(o);
  const std::vector<std::string> atoms = {
      "\"EVENT\"",
      "\"REQ\"",
      "\"CLOSE\"",
      "\"x\"",
      "{}",
      "[]",
      "null",
      "1e999",
      "-1",
      "1.5",
      "\"\\ud800\"",
      "{\"kinds\":[1]}",
      "{\"#x\":[\"a\"]}",
      "{\"since\":99999999999999999999}",
      "{\"ids\":[\"" + std::string(64, 'a') + "\"]}",
      "\"" + std::string(70, 's') + "\"",
      "true",
      wire::serializeEvent(makeEvent(20040, {{"x", "a"}}, "valid"))};
  std::uint32_t seed = 12345;
  auto rnd = [&](std::uint32_t n) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
  };
  std::function<std::string(int)> gen = [&](int depth) -> std::string {
    if (depth > 4 || rnd(10) < 3) return atoms[rnd(static_cast<std::uint32_t>(atoms.size()))];
    std::string out = "[";
    for (std::uint32_t i = 0, n = rnd(5); i < n; ++i) out += (i ? "," : "") + gen(depth + 1);
    return out + "]";
  };
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(client());
  for (int round = 0; round < 500; ++round) {
    auto& c = clients[rnd(4)];
    std::string text = gen(0);
    if (rnd(20) == 0) text = text.substr(0, rnd(static_cast<std::uint32_t>(text.size()) + 1));
    c->send(text);
  }
  auto fresh = client();
  fresh->subscribe("after", {{"kinds", {20041}}});
  auto e = makeEvent(20041, {}, "still relaying");
  EXPECT_EQ(clients[0]->closeCode(), std::nullopt);
  auto publisher = client();
  EXPECT_EQ(publisher->publish(e), json::array({"OK", e.id, true, ""}));
  EXPECT_EQ(fresh->next()[2]["content"], "still relaying");
}

// ---- limits ----------------------------------------------------------------------------------

TEST_F(RelayServerTest, OversizedMessageClosesWith1009) {
  RelayServerOptions o;
  o.maxMessageBytes = 4096;
  start(o);
  auto c = client();
  c->send(json::array({"REQ", "ok", {{"#x", {std::string(3000, 'a')}}}}).dump());
  EXPECT_EQ(c->next(), json::array({"EOSE", "ok"}));
  c->send(std::string(5000, ' '));
  ASSERT_TRUE(c->waitClosed());
  EXPECT_EQ(*c->closeCode(), 1009);
  EXPECT_EQ(server->stats().closedTooBig, 1u);
  EXPECT_TRUE(eventually([&] { return server->stats().connections == 0; }));
}

TEST_F(RelayServerTest, FragmentedMessagesAreBoundedToo) {
  RelayServerOptions o;
  o.maxMessageBytes = 4096;
  start(o);
  {
    // Under the limit: reassembled and handled.
    RawClient raw(server->port());
    ASSERT_TRUE(raw.handshake());
    const std::string req = R"(["REQ","frag",{"kinds":[1]}])";
    ASSERT_TRUE(raw.sendFrame(1, false, req.substr(0, 5)));
    ASSERT_TRUE(raw.sendFrame(9, true, "ping"));  // control frames may come in between
    ASSERT_TRUE(raw.sendFrame(0, false, req.substr(5, 10)));
    ASSERT_TRUE(raw.sendFrame(0, true, req.substr(15)));
    auto pong = raw.readFrame();
    ASSERT_TRUE(pong);
    EXPECT_EQ(pong->opcode, 10);
    auto eose = raw.readFrame();
    ASSERT_TRUE(eose);
    EXPECT_EQ(eose->payload, R"(["EOSE","frag"])");
  }
  {
    // Fragments each under the limit, together over it.
    RawClient raw(server->port());
    ASSERT_TRUE(raw.handshake());
    const std::string chunk(2000, 'x');
    ASSERT_TRUE(raw.sendFrame(1, false, chunk));
    ASSERT_TRUE(raw.sendFrame(0, false, chunk));
    raw.sendFrame(0, false, chunk);
    raw.sendFrame(0, true, chunk);
    EXPECT_EQ(raw.readUntilClose(), 1009);
  }
  {
    // One huge frame header: refused before any of it is read.
    RawClient raw(server->port());
    ASSERT_TRUE(raw.handshake());
    std::string head = "\x81\xFF";
    for (int i = 0; i < 8; ++i) head += static_cast<char>(i == 3 ? 1 : 0);  // 2^32 bytes
    head += "abcd";
    ASSERT_TRUE(raw.sendAll(head));
    EXPECT_EQ(raw.readUntilClose(), 1009);
  }
  EXPECT_EQ(server->stats().closedTooBig, 2u);
  EXPECT_TRUE(eventually([&] { return server->stats().connections == 0; }));
}

TEST(WebSocketGuard, ScansClientFrameHeadersAcrossReads) {
  using trystero::net::WebSocketGuard;
  std::vector<WebSocketGuard::Trip> trips;
  WebSocketGuard guard({.maxMessageBytes = 100, .maxBacklogBytes = 50},
                       [&](auto t) { trips.push_back(t); });
  auto frame = [](int opcode, bool fin, std::size_t n) {
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
      f += static_cast<char>(0x80 | n);
    } else {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>(n >> 8);
      f += static_cast<char>(n & 0xFF);
    }
    f += "mask";
    f += std::string(n, 'p');
    return f;
  };
  auto scan = [&](const std::string& bytes) {
    return guard.scanIncoming(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  };
  // A 100-byte message in one frame, fed a byte at a time.
  std::string one = frame(1, true, 100);
  for (char c : one) ASSERT_EQ(scan(std::string(1, c)), 1u);
  // Pings: 2 + payload each owed as pongs.
  EXPECT_EQ(scan(frame(9, true, 10)), 16u);
  EXPECT_EQ(guard.backlog(), 12u);
  guard.written(12);
  EXPECT_EQ(guard.backlog(), 0u);
  guard.written(5);  // bytes the guard did not count (libsoup's own pings) never go below 0
  EXPECT_EQ(guard.backlog(), 0u);
  // Fragments: 60 + 40 fit; the next message starts over.
  EXPECT_EQ(scan(frame(2, false, 60) + frame(0, true, 40) + frame(1, true, 5)), 66u + 46u + 11u);
  EXPECT_TRUE(trips.empty());
  // 60 + 41 does not: the input stops before the second fragment's header.
  std::string first = frame(1, false, 60), second = frame(0, true, 41);
  EXPECT_EQ(scan(first + second), first.size());
  ASSERT_EQ(trips.size(), 1u);
  EXPECT_EQ(trips[0], WebSocketGuard::Trip::MessageTooBig);
  EXPECT_TRUE(guard.inputStopped());
  EXPECT_EQ(scan("more"), 0u);
  // Pings beyond the backlog limit trip once.
  WebSocketGuard pings({.maxMessageBytes = 100, .maxBacklogBytes = 50},
                       [&](auto t) { trips.push_back(t); });
  std::string many;
  for (int i = 0; i < 10; ++i) many += frame(9, true, 8);
  pings.scanIncoming(reinterpret_cast<const std::uint8_t*>(many.data()), many.size());
  ASSERT_EQ(trips.size(), 2u);
  EXPECT_EQ(trips[1], WebSocketGuard::Trip::Backlog);
  EXPECT_EQ(trystero::net::serverFrameBytes(125), 127u);
  EXPECT_EQ(trystero::net::serverFrameBytes(126), 130u);
  EXPECT_EQ(trystero::net::serverFrameBytes(70000), 70010u);
}

TEST(WebSocketGuard, ScansServerFramesWithoutBacklog) {
  using trystero::net::WebSocketGuard;
  int trips = 0;
  WebSocketGuard guard({.maxMessageBytes = 300}, [&](auto t) {
    EXPECT_EQ(t, WebSocketGuard::Trip::MessageTooBig);
    ++trips;
  });
  auto frame = [](int opcode, bool fin, std::size_t n) {  // unmasked, as a server sends them
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
      f += static_cast<char>(n);
    } else {
      f += static_cast<char>(126);
      f += static_cast<char>(n >> 8);
      f += static_cast<char>(n & 0xFF);
    }
    return f + std::string(n, 'p');
  };
  auto scan = [&](const std::string& bytes) {
    return guard.scanIncoming(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  };
  EXPECT_FALSE(guard.countsBacklog());
  std::string pings;
  for (int i = 0; i < 10; ++i) pings += frame(9, true, 100);
  EXPECT_EQ(scan(pings), pings.size());
  EXPECT_EQ(guard.backlog(), 0u);
  std::string first = frame(2, false, 200), second = frame(0, true, 101);
  EXPECT_EQ(scan(first + frame(10, true, 5) + second), first.size() + 7);
  EXPECT_EQ(trips, 1);
  EXPECT_EQ(scan("more"), 0u);
}

TEST_F(RelayServerTest, RateLimitsEventsPerConnection) {
  RelayServerOptions o;
  o.eventsPerSecond = 0.5;
  o.eventBurst = 3;
  start(o);
  auto a = client(), b = client();
  int accepted = 0;
  std::string lastRefusal;
  for (int i = 0; i < 6; ++i) {
    auto ok = a->publish(makeEvent(20020, {}, "n" + std::to_string(i)));
    if (ok[2] == true) {
      accepted++;
    } else {
      lastRefusal = ok[3];
    }
  }
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(lastRefusal.rfind("rate-limited: ", 0), 0u) << lastRefusal;
  // Per connection: b has its own bucket.
  EXPECT_EQ(b->publish(makeEvent(20020, {}, "b"))[2], true);
  EXPECT_EQ(server->stats().eventsRejected, 3u);
}

TEST_F(RelayServerTest, CapsSubscriptionsAndFilters) {
  RelayServerOptions o;
  o.maxSubscriptions = 2;
  o.maxFiltersPerReq = 2;
  o.maxFilterBytes = 20000;
  start(o);
  auto c = client();
  c->subscribe("one", {{"kinds", {1}}});
  c->subscribe("two", {{"kinds", {2}}});
  c->send(R"(["REQ","three",{"kinds":[3]}])");
  auto closed = c->next();
  EXPECT_EQ(closed[0], "CLOSED");
  EXPECT_EQ(closed[1], "three");
  EXPECT_EQ(closed[2].get<std::string>().rfind("rate-limited: ", 0), 0u) << closed;
  c->subscribe("two", {{"kinds", {22}}});  // replacing one is fine at the cap
  c->send(R"(["CLOSE","one"])");
  c->send(R"(["REQ","three",{},{},{}])");
  closed = c->next();
  EXPECT_EQ(closed[1], "three");
  EXPECT_EQ(closed[2], "invalid: too many filters (at most 2)");
  // Filters too large for the connection's budget.
  c->send(json::array({"REQ", "big", {{"#x", std::vector<std::string>(1000, "v")}}}).dump());
  closed = c->next();
  EXPECT_EQ(closed, json::array({"CLOSED", "big", "rate-limited: subscriptions too large"}));
  EXPECT_EQ(server->stats().subscriptions, 1u);
}

TEST_F(RelayServerTest, ClosesConnectionsThatKeepMisbehaving) {
  RelayServerOptions o;
  o.violationBurst = 5;
  o.violationsPerSecond = 0.01;
  start(o);
  auto c = client();
  for (int i = 0; i < 10; ++i) c->send("garbage");
  ASSERT_TRUE(c->waitClosed());
  EXPECT_EQ(*c->closeCode(), 1008);
  EXPECT_EQ(server->stats().closedMisbehaving, 1u);
}

TEST_F(RelayServerTest, RefusesConnectionsOverTheCap) {
  RelayServerOptions o;
  o.maxConnections = 2;
  start(o);
  auto a = client(), b = client();
  Client third(server->url());
  ASSERT_TRUE(third.waitClosed());
  EXPECT_EQ(*third.closeCode(), 1006);
  EXPECT_EQ(server->stats().connectionsRefused, 1u);
  a.reset();
  EXPECT_TRUE(eventually([&] { return server->stats().connections == 1; }));
  auto fourth = client();
  EXPECT_EQ(server->stats().connections, 2u);
}

TEST_F(RelayServerTest, ClosesASubscriberThatDoesNotRead) {
  RelayServerOptions o;
  o.maxMessageBytes = 64 * 1024;
  o.maxQueuedBytes = 256 * 1024;
  o.eventsPerSecond = 1000;
  o.eventBurst = 1000;
  start(o);
  RawClient reader(server->port(), 4096);
  ASSERT_TRUE(reader.handshake());
  ASSERT_TRUE(reader.sendFrame(1, true, R"(["REQ","all",{"kinds":[20030]}])"));
  ASSERT_TRUE(eventually([&] { return server->stats().subscriptions == 1; }));
  auto publisher = client();
  const std::string content(60000, 'z');
  // Far more than the socket buffers and the backlog limit together.
  int sent = 0;
  for (; sent < 400 && server->stats().closedTooSlow == 0; ++sent) {
    ASSERT_EQ(publisher->publish(makeEvent(20030, {}, content))[2], true);
  }
  EXPECT_EQ(server->stats().closedTooSlow, 1u) << sent << " events";
  EXPECT_LT(server->stats().deliveries, 400u);
  EXPECT_EQ(server->stats().subscriptions, 0u);
  // The publisher is unaffected.
  EXPECT_EQ(publisher->publish(makeEvent(20030, {}, "still here"))[2], true);
}

// ---- rooms through the relay -----------------------------------------------------------------

namespace {

struct Identity {
  std::shared_ptr<trystero::room::Signaller> signaller;
  std::string id;
};

Identity makeIdentity(const trystero::Config& config) {
  auto& loop = Loop::shared();
  Identity identity;
  identity.id = trystero::crypto::generateId(20);
  loop.invoke([&] {
    trystero::room::Timing timing;
    timing.offerPoolSize = 2;
    identity.signaller = std::make_shared<trystero::room::Signaller>(
        loop,
        std::make_unique<trystero::strategies::nostr::NostrStrategy>(loop, config.relayUrls,
                                                                     identity.id),
        identity.id, trystero::room::toRtcConfiguration(config), timing);
  });
  return identity;
}

}  // namespace

TEST_F(RelayServerTest, TwoNostrRoomsMeetThroughIt) {
  start();
  trystero::Config config;
  config.appId = "trystero-cpp-relay-server-test";
  config.relayUrls = {server->url()};
  config.rtcConfig = trystero::RtcConfig{};
  config.allowLoopback = true;
  std::vector<Identity> identities = {makeIdentity(config), makeIdentity(config)};
  auto join = [&](Identity& identity) {
    return Loop::shared().invoke(
        [&] { return identity.signaller->join(config, "oedipa", trystero::JoinErrorHandler{}); });
  };
  auto a = join(identities[0]);
  auto b = join(identities[1]);
  ASSERT_TRUE(
      eventually([&] { return a->getPeers().size() == 1 && b->getPeers().size() == 1; }, 30s));
  EXPECT_EQ(a->getPeers()[0], identities[1].id);

  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> inbox;
  auto [send, receive, progress] = a->makeAction("waste");
  b->makeAction("waste").receive(
      [&](const trystero::Payload& data, const std::string& from, const trystero::Metadata&) {
        std::lock_guard lock(mutex);
        inbox.emplace_back(from, data.text());
      });
  send("we await silent tristero's empire").get();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return inbox.size() == 1;
  }));
  EXPECT_EQ(inbox[0],
            std::make_pair(identities[0].id, std::string("we await silent tristero's empire")));
  auto stats = server->stats();
  EXPECT_GE(stats.eventsAccepted, 3u);  // announces, offer, answer
  EXPECT_EQ(stats.eventsRejected, 0u);
  EXPECT_EQ(stats.notices, 0u);

  a->leave().waitFor(2s);
  b->leave().waitFor(2s);
  Loop::shared().invoke([&] { identities.clear(); });
}

// A hostile relay on the other end of a client WebSocket: huge messages sent as many small
// fragments (which libsoup 3.2 would reassemble without limit), or as one huge frame. The client
// must refuse them (close 1009, count, report), keep its memory bounded, and still work with
// ordinary servers and ordinary fragmented messages.
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "loop/loop.hpp"
#include "net/websocket.hpp"
#include "support/ws_test_server.hpp"

using namespace std::chrono_literals;
using trystero::loop::Loop;
using trystero::net::WebSocket;
using trystero::net::testing::eventually;
using trystero::net::testing::Recorder;
using trystero::net::testing::TestServer;

namespace {

WebSocket::Callbacks record(Recorder& r) {
  WebSocket::Callbacks cb;
  cb.onOpen = [&r] { r.opened(); };
  cb.onMessage = [&r](std::string_view data, bool binary) { r.message(data, binary); };
  cb.onClose = [&r](int code, const std::string& reason) { r.closed(code, reason); };
  cb.onError = [&r](const std::string& error) { r.error(error); };
  return cb;
}

WebSocket::Options withLimit(std::size_t maxMessage) {
  WebSocket::Options options;
  options.maxIncomingPayload = maxMessage;
  return options;
}

std::string frame(bool fin, std::uint8_t opcode, std::string_view payload) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | opcode);
  const std::size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(n);
  } else if (n < 65536) {
    out += static_cast<char>(126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xFF);
  } else {
    out += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xFF);
  }
  out += payload;
  return out;
}

std::string acceptKey(const std::string& key) {
  const std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  guint8 digest[20];
  gsize length = sizeof digest;
  GChecksum* sha1 = g_checksum_new(G_CHECKSUM_SHA1);
  g_checksum_update(sha1, reinterpret_cast<const guchar*>(input.data()),
                    static_cast<gssize>(input.size()));
  g_checksum_get_digest(sha1, digest, &length);
  g_checksum_free(sha1);
  gchar* encoded = g_base64_encode(digest, length);
  std::string out = encoded;
  g_free(encoded);
  return out;
}

// A one-connection WebSocket server on its own thread, with blocking sockets: it answers the
// upgrade and then runs `script` with a function that writes raw bytes (false once the client
// is gone). `afterHandshake` goes out in the same write as the 101 response.
class RawServer {
 public:
  using Send = std::function<bool(std::string_view)>;

  RawServer(std::string afterHandshake, std::function<void(const Send&)> script)
      : afterHandshake_(std::move(afterHandshake)), script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listener_, 1), 0);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~RawServer() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }
  // Payload bytes the client took before the connection broke.
  std::uint64_t sent() const { return sent_.load(); }
  bool finished() const { return finished_.load(); }

 private:
  void run() {
    int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    // Never block forever on a client that stopped reading without closing.
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    const std::string header = "Sec-WebSocket-Key: ";
    const auto at = request.find(header);
    if (at != std::string::npos) {
      const auto end = request.find("\r\n", at);
      const std::string key = request.substr(at + header.size(), end - at - header.size());
      auto send = [&](std::string_view bytes) {
        while (!bytes.empty()) {
          ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
          if (n <= 0) return false;
          bytes.remove_prefix(static_cast<std::size_t>(n));
          sent_ += static_cast<std::uint64_t>(n);
        }
        return true;
      };
      send(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: " +
          acceptKey(key) + "\r\n\r\n" + afterHandshake_);
      script_(send);
    }
    finished_ = true;
    ::close(fd);
  }

  std::string afterHandshake_;
  std::function<void(const Send&)> script_;
  int listener_ = -1;
  unsigned port_ = 0;
  std::thread thread_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<bool> finished_{false};
};

long maxRssKiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

TEST(WebSocketLimits, DefaultBoundIsGenerousButFinite) {
  EXPECT_EQ(WebSocket::Options().maxIncomingPayload, WebSocket::kDefaultMaxIncomingMessage);
  EXPECT_GE(WebSocket::kDefaultMaxIncomingMessage, std::size_t(4) << 20);
  EXPECT_LE(WebSocket::kDefaultMaxIncomingMessage, std::size_t(64) << 20);
}

TEST(WebSocketLimits, FragmentedMessagesWithinTheLimitArriveWhole) {
  Loop loop;
  const std::string chunk(100 * 1000, 'f');
  // The first fragments come in the same packet as the handshake response.
  std::string early = frame(false, 0x1, chunk) + frame(false, 0x0, chunk);
  std::promise<void> checked;
  auto checkedFuture = checked.get_future();
  RawServer server(early, [&](const RawServer::Send& send) {
    for (int i = 2; i < 9; ++i) {
      send(frame(false, 0x0, chunk));
      if (i == 5) send(frame(true, 0x9, "ping between fragments"));
    }
    send(frame(true, 0x0, chunk));  // 10 fragments: 1,000,000 bytes, under the limit
    send(frame(true, 0x1, "after"));
    checkedFuture.wait_for(10s);  // keep the socket open until the client is checked
  });
  Recorder r;
  const auto before = WebSocket::oversizedMessages();
  auto ws = WebSocket::connect(loop, server.url(), withLimit(1000 * 1000), record(r));
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 2; }, 10s)) << r.errorCount();
  auto messages = r.messagesCopy();
  EXPECT_EQ(messages[0].first, std::string(1000 * 1000, 'f'));
  EXPECT_EQ(messages[1].first, "after");
  EXPECT_EQ(r.errorCount(), 0u);
  EXPECT_EQ(WebSocket::oversizedMessages(), before);
  checked.set_value();
  loop.invoke([&] { ws.reset(); });
}

TEST(WebSocketLimits, HugeMessageInSmallFragmentsIsRefusedWith1009AndMemoryStaysBounded) {
  Loop loop;
  constexpr std::size_t kLimit = 4u << 20;
  const std::string fragment(1u << 20, 'x');
  RawServer server("", [&](const RawServer::Send& send) {
    // 250 MB in 1 MB fragments, as long as the client takes them.
    if (!send(frame(false, 0x1, fragment))) return;
    for (int i = 1; i < 249; ++i) {
      if (!send(frame(false, 0x0, fragment))) return;
    }
    send(frame(true, 0x0, fragment));
  });
  Recorder r;
  const auto before = WebSocket::oversizedMessages();
  const long rssBefore = maxRssKiB();
  auto ws = WebSocket::connect(loop, server.url(), withLimit(kLimit), record(r));
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }, 30s));
  auto closes = r.closesCopy();
  EXPECT_EQ(closes[0].code, 1009);
  EXPECT_EQ(closes[0].reason, "message too big");
  ASSERT_GE(r.errorCount(), 1u);
  const auto errors = r.errorsCopy();
  EXPECT_NE(errors[0].find("larger than 4194304 bytes"), std::string::npos) << errors[0];
  EXPECT_EQ(r.messageCount(), 0u);
  EXPECT_EQ(WebSocket::oversizedMessages(), before + 1);
  // The server could hand over little more than the limit (plus what socket buffers hold).
  ASSERT_TRUE(eventually([&] { return server.finished(); }, 30s));
  EXPECT_LT(server.sent(), 64u << 20);
  EXPECT_LT(maxRssKiB() - rssBefore, 128 * 1024);
  loop.invoke([&] { ws.reset(); });

  // Ordinary servers still work afterwards.
  TestServer echo(loop);
  Recorder ok;
  auto ws2 = WebSocket::connect(loop, echo.url(), withLimit(kLimit), record(ok));
  ASSERT_TRUE(eventually([&] { return ok.openCount() == 1; }));
  loop.invoke([&] { ws2->sendText(std::string(kLimit, 'e')); });
  ASSERT_TRUE(eventually([&] { return ok.messageCount() == 1; }, 10s));
  EXPECT_EQ(ok.messagesCopy()[0].first.size(), kLimit);
  loop.invoke([&] { ws2.reset(); });
}

TEST(WebSocketLimits, OneFrameOverTheLimitIsRefusedToo) {
  Loop loop;
  const std::string payload(1u << 20, 'y');
  RawServer server(frame(true, 0x1, "small first"),
                   [&](const RawServer::Send& send) { send(frame(true, 0x2, payload)); });
  Recorder r;
  const auto before = WebSocket::oversizedMessages();
  auto ws = WebSocket::connect(loop, server.url(), withLimit(64 * 1024), record(r));
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }, 10s));
  EXPECT_EQ(r.closesCopy()[0].code, 1009);
  ASSERT_EQ(r.messageCount(), 1u);  // what came before is delivered
  EXPECT_EQ(r.messagesCopy()[0].first, "small first");
  EXPECT_EQ(WebSocket::oversizedMessages(), before + 1);
  loop.invoke([&] { ws.reset(); });
}

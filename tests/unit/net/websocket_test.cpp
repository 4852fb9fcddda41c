#include "net/websocket.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"
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

// A bound TCP socket on 127.0.0.1: listening (connections are accepted by the kernel and then
// ignored) or not (connections are refused).
struct RawSocket {
  int fd = -1;
  unsigned port = 0;
  explicit RawSocket(bool listening) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    if (listening) {
      EXPECT_EQ(::listen(fd, 8), 0);
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~RawSocket() { ::close(fd); }
};

struct SelfSigned {
  std::string certPem;
  std::string keyPem;
};

std::string bioToString(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// ECDSA P-256 certificate for 127.0.0.1 (CN and IP SAN), valid now: the only thing wrong with
// it is that nobody trusted signed it.
SelfSigned makeSelfSigned() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert, key, EVP_sha256());

  SelfSigned out;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  out.certPem = bioToString(bio);
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  out.keyPem = bioToString(bio);
  BIO_free(bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

template <typename F>
WebSocket::Options opts(F f) {
  WebSocket::Options o;
  f(o);
  return o;
}

template <typename F>
TestServer::Options serverOpts(F f) {
  TestServer::Options o;
  f(o);
  return o;
}

class WebSocketTest : public ::testing::Test {
 protected:
  std::shared_ptr<WebSocket> connect(const std::string& url, Recorder& r,
                                     WebSocket::Options options = {}) {
    return WebSocket::connect(client, url, std::move(options), record(r));
  }
  // Drops the socket on its loop thread and lets the closing handshake finish.
  void release(std::shared_ptr<WebSocket>& ws) {
    client.invoke([&] { ws.reset(); });
  }

  Loop serverLoop;
  Loop client;
};

TEST_F(WebSocketTest, EchoesTextAndLargeBinaryThenClosesCleanly) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url(), r);
  // On loopback the handshake may already be done: Connecting until onOpen ran (both read on the
  // loop thread, where onOpen runs), Open from then on.
  auto [early, opened] = client.invoke([&] { return std::pair(ws->state(), r.openCount()); });
  EXPECT_EQ(early, opened ? WebSocket::State::Open : WebSocket::State::Connecting);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  EXPECT_EQ(client.invoke([&] { return ws->state(); }), WebSocket::State::Open);
  EXPECT_EQ(ws->url(), server.url());
  // (The server registers a connection after sending the 101, maybe after the client opened.)
  ASSERT_TRUE(eventually([&] { return server.accepted() == 1; }));
  EXPECT_EQ(server.extensionsSeen(), std::vector<int>{0});  // no permessage-deflate by default

  // Text with an embedded NUL and non-ASCII, a 4 MiB binary and a 3 MiB text frame.
  std::string text("hello\0wörld", 12);
  std::vector<std::uint8_t> big(4u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 131 + 7);
  std::string bigText(3u << 20, 'x');
  for (std::size_t i = 0; i < bigText.size(); i += 97) bigText[i] = static_cast<char>('a' + i % 26);
  client.invoke([&] {
    EXPECT_TRUE(ws->sendText(text));
    EXPECT_TRUE(ws->sendBinary(big));
    EXPECT_TRUE(ws->sendText(bigText));
  });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 3; }, 15s));
  auto messages = r.messagesCopy();
  EXPECT_EQ(messages[0].first, text);
  EXPECT_FALSE(messages[0].second);
  ASSERT_EQ(messages[1].first.size(), big.size());
  EXPECT_TRUE(std::equal(big.begin(), big.end(),
                         reinterpret_cast<const std::uint8_t*>(messages[1].first.data())));
  EXPECT_TRUE(messages[1].second);
  EXPECT_EQ(messages[2].first, bigText);
  EXPECT_FALSE(messages[2].second);

  client.invoke([&] {
    ws->close(1000, "done");
    EXPECT_EQ(ws->state(), WebSocket::State::Closing);
    EXPECT_FALSE(ws->sendText("late"));
  });
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  auto closes = r.closesCopy();
  EXPECT_EQ(closes[0].code, 1000);
  EXPECT_EQ(closes[0].reason, "done");
  EXPECT_EQ(r.errorCount(), 0u);
  EXPECT_EQ(client.invoke([&] { return ws->state(); }), WebSocket::State::Closed);
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
  release(ws);
}

TEST_F(WebSocketTest, NegotiatesSubprotocol) {
  TestServer server(serverLoop, serverOpts([](auto& o) { o.protocols = {"mqtt"}; }));
  Recorder r;
  auto ws = connect(server.url(), r, opts([](auto& o) { o.protocols = {"mqttv3.1", "mqtt"}; }));
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  EXPECT_EQ(client.invoke([&] { return ws->protocol(); }), "mqtt");
  ASSERT_TRUE(eventually([&] { return server.accepted() == 1; }));
  EXPECT_EQ(server.protocolsSeen(), std::vector<std::string>{"mqtt"});
  client.invoke([&] { ws->close(); });
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  release(ws);

  // A client offering nothing the server speaks is turned away.
  Recorder r2;
  auto ws2 = connect(server.url(), r2, opts([](auto& o) { o.protocols = {"chat"}; }));
  ASSERT_TRUE(eventually([&] { return r2.closeCount() == 1; }));
  EXPECT_EQ(r2.openCount(), 0);
  EXPECT_EQ(r2.errorCount(), 1u);
  release(ws2);

  // Without subprotocols on either side there is none.
  TestServer plain(serverLoop);
  Recorder r3;
  auto ws3 = connect(plain.url(), r3);
  ASSERT_TRUE(eventually([&] { return r3.openCount() == 1; }));
  EXPECT_EQ(client.invoke([&] { return ws3->protocol(); }), "");
  client.invoke([&] { ws3->close(); });
  ASSERT_TRUE(eventually([&] { return r3.closeCount() == 1; }));
  release(ws3);
}

TEST_F(WebSocketTest, ServerInitiatedCloseReachesOnCloseWithCode) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url(), r);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  client.invoke([&] { ws->sendText("close:4001:bye now"); });
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  auto closes = r.closesCopy();
  EXPECT_EQ(closes[0].code, 4001);
  EXPECT_EQ(closes[0].reason, "bye now");
  EXPECT_EQ(client.invoke([&] { return ws->state(); }), WebSocket::State::Closed);
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
  release(ws);
}

TEST_F(WebSocketTest, ConnectionCutWithoutCloseFrameIs1006) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url(), r);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  server.dropAll();
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  EXPECT_EQ(r.closesCopy()[0].code, 1006);
  release(ws);
}

TEST_F(WebSocketTest, RefusedConnectionReportsErrorThenCloseOnce) {
  RawSocket closedPort(false);
  std::string url = "ws://127.0.0.1:" + std::to_string(closedPort.port) + "/ws";
  Recorder r;
  auto ws = connect(url, r);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(r.closeCount(), 1u);
  EXPECT_EQ(r.closesCopy()[0].code, 1006);
  ASSERT_EQ(r.errorCount(), 1u);
  EXPECT_NE(r.errorsCopy()[0].find(url), std::string::npos) << r.errorsCopy()[0];
  EXPECT_EQ(r.openCount(), 0);
  EXPECT_EQ(client.invoke([&] { return ws->state(); }), WebSocket::State::Closed);
  EXPECT_FALSE(client.invoke([&] { return ws->sendText("x"); }));
  release(ws);
}

TEST_F(WebSocketTest, InvalidUrlsReportErrorThenClose) {
  for (std::string url : {"", "not a url", "ftp://127.0.0.1/", "ws://", "ws:///path", "ws://[::1/",
                          "wss://exa mple.com/"}) {
    SCOPED_TRACE(url);
    Recorder r;
    auto ws = connect(url, r);
    EXPECT_EQ(client.invoke([&] { return ws->state(); }), WebSocket::State::Closed);
    ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
    EXPECT_EQ(r.closesCopy()[0].code, 1006);
    ASSERT_EQ(r.errorCount(), 1u);
    EXPECT_NE(r.errorsCopy()[0].find("'" + url + "'"), std::string::npos) << r.errorsCopy()[0];
    release(ws);
  }
}

TEST_F(WebSocketTest, HttpErrorStatusIsReported) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url("/nothing-here"), r);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  ASSERT_EQ(r.errorCount(), 1u);
  EXPECT_NE(r.errorsCopy()[0].find("404"), std::string::npos) << r.errorsCopy()[0];
  EXPECT_EQ(r.openCount(), 0);
  release(ws);
}

TEST_F(WebSocketTest, ConnectTimesOutWhenServerNeverAnswers) {
  RawSocket silent(true);
  Recorder r;
  auto start = trystero::loop::nowMs();
  auto ws = connect("ws://127.0.0.1:" + std::to_string(silent.port) + "/", r,
                    opts([](auto& o) { o.connectTimeout = 300ms; }));
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  auto elapsed = trystero::loop::nowMs() - start;
  EXPECT_GE(elapsed, 290);
  EXPECT_LT(elapsed, 2000);
  ASSERT_EQ(r.errorCount(), 1u);
  EXPECT_NE(r.errorsCopy()[0].find("timed out"), std::string::npos) << r.errorsCopy()[0];
  release(ws);
}

TEST_F(WebSocketTest, SelfSignedCertificateIsRejected) {
  SelfSigned cert = makeSelfSigned();
  TestServer server(serverLoop,
                    serverOpts([&](auto& o) { o.tlsPem = cert.certPem + cert.keyPem; }));
  ASSERT_EQ(server.url().rfind("wss://", 0), 0u);
  Recorder r;
  auto ws = connect(server.url(), r);
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  EXPECT_EQ(r.openCount(), 0);
  ASSERT_EQ(r.errorCount(), 1u);
  std::string error = r.errorsCopy()[0];
  EXPECT_NE(error.find("not signed by a trusted authority"), std::string::npos) << error;
  EXPECT_EQ(server.accepted(), 0);
  release(ws);

  // Control: the same server is fine once its certificate is pinned, so the rejection above
  // was certificate verification and not a broken TLS setup.
  Recorder pinned;
  auto ws2 =
      connect(server.url(), pinned, opts([&](auto& o) { o.pinnedCertificatePem = cert.certPem; }));
  ASSERT_TRUE(eventually([&] { return pinned.openCount() == 1; }));
  client.invoke([&] { ws2->sendText("over tls"); });
  ASSERT_TRUE(eventually([&] { return pinned.messageCount() == 1; }));
  EXPECT_EQ(pinned.messagesCopy()[0].first, "over tls");
  client.invoke([&] { ws2->close(); });
  ASSERT_TRUE(eventually([&] { return pinned.closeCount() == 1; }));
  release(ws2);

  // A different pinned certificate does not open the door.
  SelfSigned other = makeSelfSigned();
  Recorder wrongPin;
  auto ws3 = connect(server.url(), wrongPin,
                     opts([&](auto& o) { o.pinnedCertificatePem = other.certPem; }));
  ASSERT_TRUE(eventually([&] { return wrongPin.closeCount() == 1; }));
  EXPECT_EQ(wrongPin.openCount(), 0);
  release(ws3);
}

TEST_F(WebSocketTest, CloseWhileConnectingReportsOnlyClose) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url(), r);
  client.invoke([&] {
    ws->close();
    EXPECT_EQ(ws->state(), WebSocket::State::Closed);
    EXPECT_EQ(r.closeCount(), 0u);  // never from inside close()
  });
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(r.closeCount(), 1u);
  EXPECT_EQ(r.closesCopy()[0].code, 1006);
  EXPECT_EQ(r.openCount(), 0);
  EXPECT_EQ(r.errorCount(), 0u);
  release(ws);
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
}

TEST_F(WebSocketTest, SendFailsUnlessOpen) {
  TestServer server(serverLoop);
  Recorder r;
  std::shared_ptr<WebSocket> ws;
  std::vector<std::uint8_t> bytes{1, 2, 3};
  // In the loop turn that starts connecting: the handshake cannot have finished yet.
  client.invoke([&] {
    ws = connect(server.url(), r);
    EXPECT_FALSE(ws->sendText("early"));
    EXPECT_FALSE(ws->sendBinary(bytes));
  });
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  client.invoke([&] { EXPECT_TRUE(ws->sendBinary(bytes)); });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 1; }));
  EXPECT_EQ(server.textsReceived(), 0);
  client.invoke([&] { ws->close(); });
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  release(ws);
}

TEST_F(WebSocketTest, DroppingTheLastReferenceInsideACallbackIsSafe) {
  TestServer server(serverLoop);
  std::shared_ptr<WebSocket> holder;
  std::atomic<int> messages{0};
  std::atomic<int> closes{0};
  WebSocket::Callbacks cb;
  cb.onOpen = [&] { holder->sendText("ping"); };
  cb.onMessage = [&](std::string_view, bool) {
    messages++;
    holder.reset();  // destroys the socket once this callback returns
  };
  cb.onClose = [&](int, const std::string&) { closes++; };
  client.invoke([&] { holder = WebSocket::connect(client, server.url(), {}, std::move(cb)); });
  ASSERT_TRUE(eventually([&] { return messages.load() == 1; }));
  // Destroyed silently: no onClose, but the server sees a proper close.
  ASSERT_TRUE(eventually([&] { return server.open() == 0 && server.accepted() == 1; }));
  EXPECT_EQ(closes.load(), 0);
  EXPECT_FALSE(client.invoke([&] { return holder != nullptr; }));
}

TEST_F(WebSocketTest, DestroyedOffTheLoopThreadClosesSilently) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url(), r);
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  ws.reset();  // on the test thread: teardown is posted to the loop
  ASSERT_TRUE(eventually([&] { return server.open() == 0; }));
  EXPECT_EQ(r.closeCount(), 0u);

  // Also while still connecting.
  Recorder r2;
  auto ws2 = connect(server.url(), r2);
  ws2.reset();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(r2.closeCount(), 0u);
  EXPECT_TRUE(eventually([&] { return server.open() == 0; }));
}

TEST_F(WebSocketTest, PermessageDeflateRoundTrip) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url(), r, opts([](auto& o) { o.permessageDeflate = true; }));
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  std::string text;
  for (int i = 0; i < 50000; ++i) text += "{\"kind\":\"signal\",\"n\":" + std::to_string(i) + "}";
  client.invoke([&] { ws->sendText(text); });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 1; }, 10s));
  EXPECT_EQ(r.messagesCopy()[0].first, text);
  EXPECT_EQ(server.extensionsSeen(), std::vector<int>{1});  // permessage-deflate was negotiated
  client.invoke([&] { ws->close(); });
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  release(ws);
}

TEST_F(WebSocketTest, KeepAlivePingsDoNotDisturbTheConnection) {
  TestServer server(serverLoop);
  Recorder r;
  auto ws = connect(server.url(), r, opts([](auto& o) { o.keepAlive = 1ms; }));  // rounds up to 1 s
  ASSERT_TRUE(eventually([&] { return r.openCount() == 1; }));
  std::this_thread::sleep_for(1300ms);
  client.invoke([&] { EXPECT_TRUE(ws->sendText("still here")); });
  ASSERT_TRUE(eventually([&] { return r.messageCount() == 1; }));
  EXPECT_EQ(r.closeCount(), 0u);
  client.invoke([&] { ws->close(); });
  ASSERT_TRUE(eventually([&] { return r.closeCount() == 1; }));
  release(ws);
}

}  // namespace

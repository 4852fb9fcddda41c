// Test helpers for the net tests: an in-process libsoup WebSocket echo server on its own loop,
// and a thread-safe recorder of client callbacks.
#pragma once

#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop/loop.hpp"
#include "support/eventually.hpp"

namespace trystero::net::testing {

using trystero::testing::eventually;

// WebSocket echo server on 127.0.0.1. A text message "close:<code>:<reason>" makes the server
// close that connection with the code; everything else is echoed with its type.
class TestServer {
 public:
  struct Options {
    std::vector<std::string> protocols;  // subprotocols the server accepts
    std::string tlsPem;                  // certificate + private key: serve wss://
    unsigned port = 0;                   // 0: pick a free one
  };

  explicit TestServer(loop::Loop& loop) : TestServer(loop, Options()) {}
  TestServer(loop::Loop& loop, Options options) : loop_(loop), options_(std::move(options)) {
    loop_.invoke([this] { start(); });
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  unsigned port() const { return port_; }
  std::string url(const std::string& path = "/ws") const {
    return std::string(options_.tlsPem.empty() ? "ws" : "wss") +
           "://127.0.0.1:" + std::to_string(port_) + path;
  }

  int accepted() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  int open() const {
    std::lock_guard lock(mutex_);
    return open_;
  }
  int textsReceived() const {
    std::lock_guard lock(mutex_);
    return textsReceived_;
  }
  std::vector<std::string> protocolsSeen() const {
    std::lock_guard lock(mutex_);
    return protocolsSeen_;
  }
  // Number of WebSocket extensions negotiated on each accepted connection.
  std::vector<int> extensionsSeen() const {
    std::lock_guard lock(mutex_);
    return extensionsSeen_;
  }

  // Server-initiated close handshake on every connection.
  void closeAll(int code, const std::string& reason = "") {
    loop_.invoke([&] {
      auto conns = conns_;
      for (auto& c : conns) {
        if (soup_websocket_connection_get_state(c.conn) == SOUP_WEBSOCKET_STATE_OPEN) {
          soup_websocket_connection_close(c.conn, static_cast<gushort>(code),
                                          reason.empty() ? nullptr : reason.c_str());
        }
      }
    });
  }

  // Cuts every connection without a close frame (TCP FIN both ways).
  void dropAll() {
    loop_.invoke([&] {
      auto conns = conns_;
      for (auto& c : conns) {
        if (c.socket) g_socket_shutdown(c.socket, TRUE, TRUE, nullptr);
      }
    });
  }

  // Stops listening and drops every connection; waits until libsoup has closed them.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    loop_.invoke([&] {
      if (server_) soup_server_disconnect(server_);
    });
    dropAll();
    bool drained = eventually([&] { return loop_.invoke([&] { return conns_.empty(); }); },
                              std::chrono::seconds(8));
    EXPECT_TRUE(drained) << "server connections did not close";
    loop_.invoke([&] {
      for (auto& c : conns_) releaseConn(c, this);
      conns_.clear();
      g_clear_object(&server_);
    });
  }

 private:
  struct Conn {
    SoupWebsocketConnection* conn;
    GSocket* socket;
  };

  // Disconnects by the data our handlers were connected with (a null data pointer would
  // match only handlers connected with null data), so no handler can run once we are gone.
  static void releaseConn(Conn& c, TestServer* self) {
    g_signal_handlers_disconnect_matched(c.conn, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, self);
    g_clear_object(&c.socket);
    g_object_unref(c.conn);
  }

  void start() {
    GError* error = nullptr;
    if (!options_.tlsPem.empty()) {
      GTlsCertificate* cert = g_tls_certificate_new_from_pem(options_.tlsPem.c_str(), -1, &error);
      if (!cert) {
        ADD_FAILURE() << "bad test certificate: " << error->message;
        g_clear_error(&error);
        return;
      }
      server_ = soup_server_new("tls-certificate", cert, nullptr);
      g_object_unref(cert);
    } else {
      server_ = soup_server_new(nullptr, nullptr);
    }
    std::vector<char*> protocols;
    for (auto& p : options_.protocols) protocols.push_back(const_cast<char*>(p.c_str()));
    protocols.push_back(nullptr);
    soup_server_add_websocket_handler(server_, "/ws", nullptr,
                                      options_.protocols.empty() ? nullptr : protocols.data(),
                                      &TestServer::onWebsocket, this, nullptr);
    int flags = SOUP_SERVER_LISTEN_IPV4_ONLY;
    if (!options_.tlsPem.empty()) flags |= SOUP_SERVER_LISTEN_HTTPS;
    if (!soup_server_listen_local(server_, options_.port, SoupServerListenOptions(flags), &error)) {
      ADD_FAILURE() << "listen failed: " << error->message;
      g_clear_error(&error);
      return;
    }
    GSList* uris = soup_server_get_uris(server_);
    if (uris) port_ = static_cast<unsigned>(g_uri_get_port(static_cast<GUri*>(uris->data)));
    g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  }

  static void onWebsocket(SoupServer*, SoupServerMessage* msg, const char*,
                          SoupWebsocketConnection* conn, gpointer data) {
    auto* self = static_cast<TestServer*>(data);
    soup_websocket_connection_set_max_incoming_payload_size(conn, 64u << 20);
    GSocket* socket = soup_server_message_get_socket(msg);
    self->conns_.push_back({SOUP_WEBSOCKET_CONNECTION(g_object_ref(conn)),
                            socket ? G_SOCKET(g_object_ref(socket)) : nullptr});
    g_signal_connect(conn, "message", G_CALLBACK(&TestServer::onMessage), self);
    g_signal_connect(conn, "closed", G_CALLBACK(&TestServer::onClosed), self);
    const char* protocol = soup_websocket_connection_get_protocol(conn);
    std::lock_guard lock(self->mutex_);
    self->accepted_++;
    self->open_++;
    self->protocolsSeen_.push_back(protocol ? protocol : "");
    self->extensionsSeen_.push_back(
        static_cast<int>(g_list_length(soup_websocket_connection_get_extensions(conn))));
  }

  static void onMessage(SoupWebsocketConnection* conn, gint type, GBytes* message, gpointer data) {
    auto* self = static_cast<TestServer*>(data);
    gsize size = 0;
    const char* bytes = static_cast<const char*>(g_bytes_get_data(message, &size));
    std::string_view text(bytes ? bytes : "", size);
    if (type == SOUP_WEBSOCKET_DATA_TEXT) {
      std::lock_guard lock(self->mutex_);
      self->textsReceived_++;
    }
    if (type == SOUP_WEBSOCKET_DATA_TEXT && text.starts_with("close:")) {
      auto rest = text.substr(6);
      auto colon = rest.find(':');
      int code = std::stoi(std::string(rest.substr(0, colon)));
      std::string reason =
          colon == std::string_view::npos ? "" : std::string(rest.substr(colon + 1));
      soup_websocket_connection_close(conn, static_cast<gushort>(code),
                                      reason.empty() ? nullptr : reason.c_str());
      return;
    }
    soup_websocket_connection_send_message(conn, static_cast<SoupWebsocketDataType>(type), message);
  }

  static void onClosed(SoupWebsocketConnection* conn, gpointer data) {
    auto* self = static_cast<TestServer*>(data);
    auto it = std::find_if(self->conns_.begin(), self->conns_.end(),
                           [conn](const Conn& c) { return c.conn == conn; });
    if (it != self->conns_.end()) {
      Conn c = *it;
      self->conns_.erase(it);
      releaseConn(c, self);  // libsoup keeps its own reference during the emission
    }
    std::lock_guard lock(self->mutex_);
    self->open_--;
  }

  loop::Loop& loop_;
  Options options_;
  SoupServer* server_ = nullptr;
  unsigned port_ = 0;
  bool stopped_ = false;
  std::vector<Conn> conns_;  // loop thread
  mutable std::mutex mutex_;
  int accepted_ = 0;
  int open_ = 0;
  int textsReceived_ = 0;
  std::vector<std::string> protocolsSeen_;
  std::vector<int> extensionsSeen_;
};

// Records client callbacks (which run on the client loop) for the test thread.
struct Recorder {
  struct Close {
    int code;
    std::string reason;
  };
  mutable std::mutex mutex;
  int opens = 0;
  std::vector<std::pair<std::string, bool>> messages;
  std::vector<Close> closes;
  std::vector<std::string> errors;
  std::vector<std::int64_t> closeTimesMs;
  std::vector<std::int64_t> openTimesMs;

  void opened() {
    std::lock_guard lock(mutex);
    opens++;
    openTimesMs.push_back(loop::nowMs());
  }
  void message(std::string_view data, bool binary) {
    std::lock_guard lock(mutex);
    messages.emplace_back(std::string(data), binary);
  }
  void closed(int code, const std::string& reason) {
    std::lock_guard lock(mutex);
    closes.push_back({code, reason});
    closeTimesMs.push_back(loop::nowMs());
  }
  void error(const std::string& text) {
    std::lock_guard lock(mutex);
    errors.push_back(text);
  }

  int openCount() const {
    std::lock_guard lock(mutex);
    return opens;
  }
  std::size_t messageCount() const {
    std::lock_guard lock(mutex);
    return messages.size();
  }
  std::size_t closeCount() const {
    std::lock_guard lock(mutex);
    return closes.size();
  }
  std::size_t errorCount() const {
    std::lock_guard lock(mutex);
    return errors.size();
  }
  std::vector<std::pair<std::string, bool>> messagesCopy() const {
    std::lock_guard lock(mutex);
    return messages;
  }
  std::vector<Close> closesCopy() const {
    std::lock_guard lock(mutex);
    return closes;
  }
  std::vector<std::string> errorsCopy() const {
    std::lock_guard lock(mutex);
    return errors;
  }
  std::vector<std::int64_t> closeTimes() const {
    std::lock_guard lock(mutex);
    return closeTimesMs;
  }
  std::vector<std::int64_t> openTimes() const {
    std::lock_guard lock(mutex);
    return openTimesMs;
  }
};

}  // namespace trystero::net::testing

// A scripted Firebase Realtime Database for the firebase strategy's tests, behaving as
// firebase-server 1.1.0 does (the server of the interop tests, see
// /work/shared/design/managed-protocols.md 2.4): handshake on connect, a count frame before
// every message, `q` answered with the whole value at the path then `ok`, `p` applied, pushed
// to every listener it touches (the whole listened value) then `ok`; `o`, `n`, `s` recorded and
// never answered nor executed. Tests can also send raw frames and cut connections.
//
// Rules as a test wants them: requireAuth(token) refuses `q` and `p` with permission_denied on a
// connection until an `auth`/`gauth` with that cred was acknowledged there, and answers any other
// cred with invalid_token (firebase-server's words for both). redirectTo(host) greets new
// connections with a redirect instead of the handshake; setHandshakeHost names a host in it.
//
// Runs on the loop it is given (not the client's); every public method is thread-safe.
#pragma once

#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "strategies/firebase/rtdb_wire.hpp"
#include "support/eventually.hpp"

namespace trystero::testing {

class FakeRtdbServer {
 public:
  struct Request {
    std::string action;
    nlohmann::json body;
  };

  explicit FakeRtdbServer(loop::Loop& loop) : loop_(loop) {
    loop_.invoke([this] { start(); });
  }
  ~FakeRtdbServer() {
    loop_.invoke([this] {
      for (auto& c : conns_) {
        g_signal_handlers_disconnect_matched(c.conn, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr,
                                             this);
        if (soup_websocket_connection_get_state(c.conn) == SOUP_WEBSOCKET_STATE_OPEN) {
          soup_websocket_connection_close(c.conn, 1001, nullptr);
        }
        g_object_unref(c.conn);
      }
      conns_.clear();
      if (server_) soup_server_disconnect(server_);
      g_clear_object(&server_);
    });
  }
  FakeRtdbServer(const FakeRtdbServer&) = delete;
  FakeRtdbServer& operator=(const FakeRtdbServer&) = delete;

  // The appId of peers using this database.
  std::string databaseUrl(const std::string& ns = "test") const {
    return "http://127.0.0.1:" + std::to_string(port_) + "?ns=" + ns;
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::vector<Request> requests(const std::string& action) const {
    std::vector<Request> out;
    for (auto& r : requests()) {
      if (r.action == action) out.push_back(r);
    }
    return out;
  }
  int keepAlives() const {
    std::lock_guard lock(mutex_);
    return keepAlives_;
  }
  int connections() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  std::vector<std::string> urlsSeen() const {
    std::lock_guard lock(mutex_);
    return urls_;
  }
  // The value at path ("/a/b").
  nlohmann::json value(const std::string& path = "/") const {
    return loop_.invoke([&] {
      const nlohmann::json* node = &tree_.value();
      for (const auto& key : strategies::firebase::splitPath(path)) {
        if (!node->is_object() || !node->contains(key)) return nlohmann::json();
        node = &node->at(key);
      }
      return *node;
    });
  }
  // Writes as another client would (listeners are told).
  void set(const std::string& path, nlohmann::json data) {
    loop_.invoke([&] { write(path, std::move(data)); });
  }
  // Sends text frames as they are to every connection.
  void sendRaw(const std::vector<std::string>& frames) {
    loop_.invoke([&] {
      for (auto& c : conns_) {
        for (auto& f : frames) soup_websocket_connection_send_text(c.conn, f.c_str());
      }
    });
  }
  void requireAuth(const std::string& token) {
    loop_.invoke([&] { requiredToken_ = token; });
  }
  void redirectTo(const std::string& host) {
    loop_.invoke([&] { redirectHost_ = host; });
  }
  void setHandshakeHost(const std::string& host) {
    loop_.invoke([&] { handshakeHost_ = host; });
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

  // Cuts every connection (as a server restart would; the data stays).
  void dropAll() {
    loop_.invoke([&] {
      for (auto& c : conns_) {
        if (soup_websocket_connection_get_state(c.conn) == SOUP_WEBSOCKET_STATE_OPEN) {
          soup_websocket_connection_close(c.conn, 1011, "restart");
        }
      }
    });
  }

 private:
  struct Conn {
    SoupWebsocketConnection* conn;
    std::vector<std::string> listens;
    std::string pending;  // a split message being reassembled
    std::size_t framesLeft = 0;
    bool authenticated = false;
  };

  void start() {
    server_ = soup_server_new(nullptr, nullptr);
    soup_server_add_websocket_handler(server_, "/.ws", nullptr, nullptr,
                                      &FakeRtdbServer::onWebsocket, this, nullptr);
    GError* error = nullptr;
    if (!soup_server_listen_local(server_, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error)) {
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
    auto* self = static_cast<FakeRtdbServer*>(data);
    g_object_ref(conn);
    self->conns_.push_back({conn, {}, {}, 0, false});
    g_signal_connect(conn, "message", G_CALLBACK(&FakeRtdbServer::onMessage), self);
    g_signal_connect(conn, "closed", G_CALLBACK(&FakeRtdbServer::onClosed), self);
    {
      std::lock_guard lock(self->mutex_);
      self->accepted_++;
      char* uri = g_uri_to_string(soup_server_message_get_uri(msg));
      self->urls_.push_back(uri);
      g_free(uri);
    }
    if (!self->redirectHost_.empty()) {
      self->send(conn, {{"t", "c"}, {"d", {{"t", "r"}, {"d", self->redirectHost_}}}});
      return;
    }
    self->send(
        conn,
        {{"t", "c"},
         {"d",
          {{"t", "h"},
           {"d", {{"ts", 1795559242010}, {"v", "5"}, {"h", self->handshakeHost_}, {"s", ""}}}}}});
  }

  Conn* find(SoupWebsocketConnection* conn) {
    for (auto& c : conns_) {
      if (c.conn == conn) return &c;
    }
    return nullptr;
  }

  static void onClosed(SoupWebsocketConnection* conn, gpointer data) {
    auto* self = static_cast<FakeRtdbServer*>(data);
    std::erase_if(self->conns_, [&](Conn& c) {
      if (c.conn != conn) return false;
      g_signal_handlers_disconnect_matched(conn, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, self);
      g_object_unref(conn);
      return true;
    });
  }

  static void onMessage(SoupWebsocketConnection* conn, gint, GBytes* message, gpointer data) {
    auto* self = static_cast<FakeRtdbServer*>(data);
    gsize size = 0;
    const char* bytes = static_cast<const char*>(g_bytes_get_data(message, &size));
    std::string text(bytes ? bytes : "", size);
    Conn* c = self->find(conn);
    if (!c) return;
    if (c->framesLeft > 0) {
      c->pending += text;
      if (--c->framesLeft > 0) return;
      text = std::exchange(c->pending, {});
    } else if (text == "0") {
      std::lock_guard lock(self->mutex_);
      self->keepAlives_++;
      return;
    } else if (text.size() <= 6 && text.find_first_not_of("0123456789") == std::string::npos) {
      c->framesLeft = std::stoul(text);
      return;
    }
    self->request(*c, nlohmann::json::parse(text, nullptr, false));
  }

  void request(Conn& c, const nlohmann::json& message) {
    if (!message.is_object() || message.value("t", "") != "d") return;
    const auto& d = message["d"];
    const std::string action = d.value("a", "");
    const auto body = d.value("b", nlohmann::json::object());
    {
      std::lock_guard lock(mutex_);
      requests_.push_back({action, body});
    }
    const std::string path = body.value("p", "");
    auto reply = [&](const std::string& status, const std::string& data) {
      send(c.conn, {{"t", "d"}, {"d", {{"r", d["r"]}, {"b", {{"s", status}, {"d", data}}}}}});
    };
    if (action == "auth" || action == "gauth") {
      if (!requiredToken_.empty() && body.value("cred", "") != requiredToken_) {
        return reply("invalid_token", "Could not parse auth token.");
      }
      c.authenticated = true;
      return reply("ok", "");
    }
    if ((action == "q" || action == "p") && !requiredToken_.empty() && !c.authenticated) {
      return reply("permission_denied", "Permission denied");
    }
    if (action == "q") {
      c.listens.push_back(path);
      pushTo(c.conn, path);
    } else if (action == "p") {
      write(path, body.value("d", nlohmann::json()));
    } else {
      return;  // o, n, s, g: firebase-server never answers them
    }
    send(c.conn, {{"t", "d"}, {"d", {{"r", d["r"]}, {"b", {{"s", "ok"}, {"d", ""}}}}}});
  }

  void write(const std::string& path, nlohmann::json data) {
    strategies::firebase::ServerMessage set;
    set.kind = strategies::firebase::ServerMessage::Kind::Push;
    set.path = path;
    set.data = std::move(data);
    tree_.apply(set);
    for (auto& c : conns_) {
      for (const auto& listen : c.listens) {
        if (path.starts_with(listen) || listen.starts_with(path)) pushTo(c.conn, listen);
      }
    }
  }

  void pushTo(SoupWebsocketConnection* conn, const std::string& path) {
    send(conn,
         {{"t", "d"}, {"d", {{"a", "d"}, {"b", {{"p", path.substr(1)}, {"d", value(path)}}}}}});
  }

  // firebase-server: a count frame before every message.
  void send(SoupWebsocketConnection* conn, const nlohmann::json& message) {
    auto frames = strategies::firebase::splitMessage(message.dump());
    if (frames.size() == 1) frames.insert(frames.begin(), "1");
    for (const auto& f : frames) soup_websocket_connection_send_text(conn, f.c_str());
  }

  loop::Loop& loop_;
  SoupServer* server_ = nullptr;
  unsigned port_ = 0;
  std::vector<Conn> conns_;
  strategies::firebase::Subtree tree_{{}};
  std::string requiredToken_;
  std::string redirectHost_;
  std::string handshakeHost_ = "fake";
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::vector<std::string> urls_;
  int keepAlives_ = 0;
  int accepted_ = 0;
};

}  // namespace trystero::testing

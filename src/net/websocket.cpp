#include "net/websocket.hpp"

#include <libsoup/soup.h>

#include <cstring>
#include <utility>

namespace trystero::net {

namespace {

using Weak = std::weak_ptr<WebSocket>;

void deleteWeak(gpointer data, GClosure*) { delete static_cast<Weak*>(data); }

std::string describeTlsErrors(GTlsCertificateFlags flags) {
  std::string out;
  auto add = [&](GTlsCertificateFlags flag, const char* text) {
    if (!(flags & flag)) return;
    if (!out.empty()) out += ", ";
    out += text;
  };
  add(G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by a trusted authority");
  add(G_TLS_CERTIFICATE_BAD_IDENTITY, "does not match the host name");
  add(G_TLS_CERTIFICATE_NOT_ACTIVATED, "not yet valid");
  add(G_TLS_CERTIFICATE_EXPIRED, "expired");
  add(G_TLS_CERTIFICATE_REVOKED, "revoked");
  add(G_TLS_CERTIFICATE_INSECURE, "insecure algorithm");
  add(G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid");
  return out;
}

// Lets go of a connection we no longer want, politely: an open one is closed with 1001 and
// kept alive until libsoup has finished the closing handshake (bounded by libsoup's own
// 5 s close timeout). Loop thread only.
void releaseConnection(SoupWebsocketConnection* conn) {
  SoupWebsocketState state = soup_websocket_connection_get_state(conn);
  if (state == SOUP_WEBSOCKET_STATE_CLOSED) {
    g_object_unref(conn);
    return;
  }
  // libsoup holds its own reference while it emits "closed", so dropping ours there is safe.
  g_signal_connect(conn, "closed",
                   G_CALLBACK(+[](SoupWebsocketConnection* c, gpointer) { g_object_unref(c); }),
                   nullptr);
  if (state == SOUP_WEBSOCKET_STATE_OPEN) {
    soup_websocket_connection_close(conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, nullptr);
  }
}

}  // namespace

// The C callbacks libsoup calls. Each holds a weak reference: once the WebSocket is gone the
// signal is ignored; while a callback runs the WebSocket is kept alive.
struct WebSocket::Glue {
  static void connected(GObject* source, GAsyncResult* result, gpointer data) {
    std::unique_ptr<Weak> weak(static_cast<Weak*>(data));
    GError* error = nullptr;
    SoupWebsocketConnection* conn =
        soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &error);
    auto self = weak->lock();
    if (!self || self->state_ != State::Connecting || !self->message_) {
      // Destroyed, closed or timed out meanwhile: nobody wants this connection.
      if (conn) releaseConnection(conn);
      g_clear_error(&error);
      return;
    }
    std::string text;
    if (!conn) {
      text = error ? error->message : "unknown error";
      if (error && g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)) {
        std::string detail =
            describeTlsErrors(soup_message_get_tls_peer_certificate_errors(self->message_));
        if (!detail.empty()) text += " (certificate " + detail + ")";
      }
      guint status = soup_message_get_status(self->message_);
      if (status != 0 && status != SOUP_STATUS_SWITCHING_PROTOCOLS) {
        const char* phrase = soup_message_get_reason_phrase(self->message_);
        text += " (HTTP " + std::to_string(status);
        if (phrase && *phrase) text += std::string(" ") + phrase;
        text += ")";
      }
      g_clear_error(&error);
    }
    self->connectFinished(conn, std::move(text));
  }

  static void message(SoupWebsocketConnection*, gint type, GBytes* bytes, gpointer data) {
    auto self = static_cast<Weak*>(data)->lock();
    if (!self) return;
    gsize size = 0;
    const void* payload = g_bytes_get_data(bytes, &size);
    self->onSoupMessage(type, payload, size);
  }

  static void error(SoupWebsocketConnection*, GError* err, gpointer data) {
    auto self = static_cast<Weak*>(data)->lock();
    if (!self) return;
    self->onSoupError(err ? err->message : "unknown error");
  }

  static void closing(SoupWebsocketConnection*, gpointer data) {
    auto self = static_cast<Weak*>(data)->lock();
    if (!self) return;
    self->onSoupClosing();
  }

  static void closed(SoupWebsocketConnection*, gpointer data) {
    auto self = static_cast<Weak*>(data)->lock();
    if (!self) return;
    self->onSoupClosed();
  }

  static gboolean acceptCertificate(SoupMessage*, GTlsCertificate* peer, GTlsCertificateFlags,
                                    gpointer pinned) {
    return g_tls_certificate_is_same(peer, G_TLS_CERTIFICATE(pinned));
  }
};

const char* toString(WebSocket::State state) {
  switch (state) {
    case WebSocket::State::Connecting:
      return "connecting";
    case WebSocket::State::Open:
      return "open";
    case WebSocket::State::Closing:
      return "closing";
    case WebSocket::State::Closed:
      return "closed";
  }
  return "?";
}

WebSocket::WebSocket(PrivateTag, loop::Loop& loop, std::string url, Options options,
                     Callbacks callbacks)
    : loop_(loop),
      url_(std::move(url)),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

std::shared_ptr<WebSocket> WebSocket::connect(loop::Loop& loop, const std::string& url,
                                              Options options, Callbacks callbacks) {
  auto socket = std::make_shared<WebSocket>(PrivateTag{}, loop, url, std::move(options),
                                            std::move(callbacks));
  loop.invoke([&] { socket->start(); });
  return socket;
}

void WebSocket::start() {
  const std::string prefix = "WebSocket connection to '" + url_ + "' failed: ";
  GError* error = nullptr;
  GUri* uri = g_uri_parse(url_.c_str(), GUriFlags(SOUP_HTTP_URI_FLAGS), &error);
  if (!uri) {
    std::string text = prefix + "invalid URL (" + (error ? error->message : "unparsable") + ")";
    g_clear_error(&error);
    failSoon(std::move(text));
    return;
  }
  std::string scheme = g_uri_get_scheme(uri);  // GUri lower-cases the scheme
  const char* host = g_uri_get_host(uri);
  if (scheme != "ws" && scheme != "wss" && scheme != "http" && scheme != "https") {
    g_uri_unref(uri);
    failSoon(prefix + "invalid URL (scheme must be ws or wss)");
    return;
  }
  if (!host || !*host) {
    g_uri_unref(uri);
    failSoon(prefix + "invalid URL (no host)");
    return;
  }
  // GUri lets through hosts that the WHATWG URL parser (and so the JS WebSocket) rejects.
  for (const char* c = host; *c; ++c) {
    if (static_cast<unsigned char>(*c) <= 0x20 || std::strchr("<>\\^|#/?@%\"`{}", *c)) {
      g_uri_unref(uri);
      failSoon(prefix + "invalid URL (bad host)");
      return;
    }
  }

  GTlsCertificate* pinned = nullptr;
  if (!options_.pinnedCertificatePem.empty()) {
    pinned = g_tls_certificate_new_from_pem(options_.pinnedCertificatePem.c_str(), -1, &error);
    if (!pinned) {
      std::string text =
          prefix + "invalid pinned certificate (" + (error ? error->message : "unparsable") + ")";
      g_clear_error(&error);
      g_uri_unref(uri);
      failSoon(std::move(text));
      return;
    }
  }

  // The session binds to the thread-default context, which is the loop's on its thread. Its
  // I/O and idle timeouts are off: they would otherwise also apply to the long-lived socket;
  // connectTimeout bounds the connect instead.
  session_ = soup_session_new_with_options("timeout", 0u, "idle-timeout", 0u, nullptr);
  // libsoup 3.2 sessions offer no extensions unless the extension manager is added; its
  // default extension is permessage-deflate.
  if (options_.permessageDeflate) {
    soup_session_add_feature_by_type(session_, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
  } else {
    soup_session_remove_feature_by_type(session_, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
  }
  message_ = soup_message_new_from_uri(SOUP_METHOD_GET, uri);
  g_uri_unref(uri);
  if (pinned) {
    g_signal_connect_data(
        message_, "accept-certificate", G_CALLBACK(&Glue::acceptCertificate), pinned,
        [](gpointer data, GClosure*) { g_object_unref(data); }, GConnectFlags(0));
  }
  cancellable_ = g_cancellable_new();

  std::vector<char*> protocols;
  for (auto& p : options_.protocols) protocols.push_back(const_cast<char*>(p.c_str()));
  protocols.push_back(nullptr);

  if (options_.connectTimeout.count() > 0) {
    timeoutTimer_ = loop_.callLater(options_.connectTimeout, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->onTimeout();
    });
  }
  soup_session_websocket_connect_async(
      session_, message_, nullptr, options_.protocols.empty() ? nullptr : protocols.data(),
      G_PRIORITY_DEFAULT, cancellable_, &Glue::connected, new Weak(weak_from_this()));
}

// Drops everything a pending connect holds. The connect callback still comes (cancelled) and
// finds the socket no longer Connecting.
static void abortConnect(loop::Loop& loop, loop::Loop::TimerId& timer, GCancellable*& cancellable,
                         SoupMessage*& message, SoupSession*& session) {
  if (timer) {
    loop.cancelTimer(timer);
    timer = 0;
  }
  if (cancellable) {
    g_cancellable_cancel(cancellable);
    g_clear_object(&cancellable);
  }
  g_clear_object(&message);
  g_clear_object(&session);
}

void WebSocket::failSoon(std::string error) {
  state_ = State::Closed;
  loop_.post([weak = weak_from_this(), error = std::move(error)] {
    if (auto self = weak.lock()) self->finish(1006, "", error);
  });
}

void WebSocket::onTimeout() {
  timeoutTimer_ = 0;
  if (state_ != State::Connecting) return;
  timedOut_ = true;
  state_ = State::Closed;
  abortConnect(loop_, timeoutTimer_, cancellable_, message_, session_);
  finish(1006, "",
         "WebSocket connection to '" + url_ + "' failed: timed out after " +
             std::to_string(options_.connectTimeout.count()) + " ms");
}

void WebSocket::connectFinished(SoupWebsocketConnection* conn, std::string error) {
  if (timeoutTimer_) {
    loop_.cancelTimer(timeoutTimer_);
    timeoutTimer_ = 0;
  }
  if (!conn) {
    state_ = State::Closed;
    abortConnect(loop_, timeoutTimer_, cancellable_, message_, session_);
    finish(1006, "", "WebSocket connection to '" + url_ + "' failed: " + error);
    return;
  }
  conn_ = conn;
  // The connection keeps the session that made it.
  g_object_set_data_full(G_OBJECT(conn_), "trystero-session", session_, g_object_unref);
  session_ = nullptr;
  g_clear_object(&message_);
  g_clear_object(&cancellable_);

  soup_websocket_connection_set_max_incoming_payload_size(conn_, options_.maxIncomingPayload);
  if (options_.keepAlive.count() > 0) {
    auto seconds = (options_.keepAlive.count() + 999) / 1000;
    soup_websocket_connection_set_keepalive_interval(conn_, static_cast<guint>(seconds));
  }
  const char* protocol = soup_websocket_connection_get_protocol(conn_);
  protocol_ = protocol ? protocol : "";

  auto connectSignal = [&](const char* name, GCallback callback) {
    handlerIds_.push_back(g_signal_connect_data(conn_, name, callback, new Weak(weak_from_this()),
                                                &deleteWeak, GConnectFlags(0)));
  };
  connectSignal("message", G_CALLBACK(&Glue::message));
  connectSignal("error", G_CALLBACK(&Glue::error));
  connectSignal("closing", G_CALLBACK(&Glue::closing));
  connectSignal("closed", G_CALLBACK(&Glue::closed));

  state_ = State::Open;
  if (callbacks_.onOpen) callbacks_.onOpen();
}

void WebSocket::onSoupMessage(int type, const void* data, std::size_t size) {
  if (state_ != State::Open && state_ != State::Closing) return;
  if (!callbacks_.onMessage) return;
  callbacks_.onMessage(std::string_view(static_cast<const char*>(data), size),
                       type == SOUP_WEBSOCKET_DATA_BINARY);
}

void WebSocket::onSoupError(const std::string& message) {
  if (state_ == State::Closed) return;
  if (callbacks_.onError) callbacks_.onError("WebSocket error on '" + url_ + "': " + message);
}

void WebSocket::onSoupClosing() {
  if (state_ == State::Open) state_ = State::Closing;
}

void WebSocket::onSoupClosed() {
  if (!conn_) return;
  int code = soup_websocket_connection_get_close_code(conn_);
  if (code == 0) code = SOUP_WEBSOCKET_CLOSE_ABNORMAL;  // no close frame from the peer
  const char* data = soup_websocket_connection_get_close_data(conn_);
  std::string reason = data ? data : "";
  disconnectSignals();
  // libsoup holds a reference of its own while emitting "closed".
  g_clear_object(&conn_);
  state_ = State::Closed;
  finish(code, reason, "");
}

void WebSocket::finish(int code, const std::string& reason, const std::string& error) {
  state_ = State::Closed;
  // Taking the callbacks out makes onClose exactly-once and releases what they captured.
  Callbacks callbacks = std::move(callbacks_);
  callbacks_ = {};
  if (!error.empty() && callbacks.onError) callbacks.onError(error);
  if (callbacks.onClose) callbacks.onClose(code, reason);
}

void WebSocket::disconnectSignals() {
  if (conn_) {
    for (auto id : handlerIds_) g_signal_handler_disconnect(conn_, id);
  }
  handlerIds_.clear();
}

bool WebSocket::sendText(std::string_view text) {
  if (state_ != State::Open || !conn_) return false;
  GBytes* bytes = g_bytes_new_static(text.data(), text.size());  // libsoup copies into a frame
  soup_websocket_connection_send_message(conn_, SOUP_WEBSOCKET_DATA_TEXT, bytes);
  g_bytes_unref(bytes);
  return true;
}

bool WebSocket::sendBinary(std::span<const std::uint8_t> data) {
  if (state_ != State::Open || !conn_) return false;
  GBytes* bytes = g_bytes_new_static(data.data(), data.size());
  soup_websocket_connection_send_message(conn_, SOUP_WEBSOCKET_DATA_BINARY, bytes);
  g_bytes_unref(bytes);
  return true;
}

void WebSocket::close(int code, const std::string& reason) {
  switch (state_) {
    case State::Connecting:
      state_ = State::Closed;
      abortConnect(loop_, timeoutTimer_, cancellable_, message_, session_);
      loop_.post([weak = weak_from_this()] {
        if (auto self = weak.lock()) self->finish(1006, "", "");
      });
      return;
    case State::Open:
      state_ = State::Closing;
      soup_websocket_connection_close(conn_, static_cast<gushort>(code),
                                      reason.empty() ? nullptr : reason.c_str());
      return;
    case State::Closing:
    case State::Closed:
      return;
  }
}

WebSocket::~WebSocket() {
  // Runs the teardown on the loop thread; libsoup objects must not be touched elsewhere.
  auto teardown = [loop = &loop_, timer = timeoutTimer_, cancellable = cancellable_,
                   message = message_, session = session_, conn = conn_,
                   ids = std::move(handlerIds_)]() mutable {
    abortConnect(*loop, timer, cancellable, message, session);
    if (conn) {
      for (auto id : ids) g_signal_handler_disconnect(conn, id);
      releaseConnection(conn);
    }
  };
  if (loop_.isLoopThread()) {
    teardown();
  } else {
    loop_.post(std::move(teardown));
  }
}

}  // namespace trystero::net

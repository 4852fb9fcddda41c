#include "net/websocket.hpp"

#include <libsoup/soup.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <utility>

#include "net/websocket_guard.hpp"

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

// The GIO operations of a connect share this; each holds a reference until its callback ran.
struct WebSocket::Handshake {
  std::weak_ptr<WebSocket> owner;
  GSocketClient* client = nullptr;
  gulong eventHandler = 0;
  GTlsCertificate* pinned = nullptr;
  GTlsConnection* tls = nullptr;      // once the TLS handshake started, for error details
  GSocketConnection* conn = nullptr;  // once connected
  GCancellable* cancellable = g_cancellable_new();
  GUri* uri = nullptr;
  std::string key;      // Sec-WebSocket-Key
  std::string request;  // the HTTP upgrade request
  std::string response;
  std::array<char, 4096> buffer{};

  ~Handshake() {
    g_cancellable_cancel(cancellable);
    if (client && eventHandler) g_signal_handler_disconnect(client, eventHandler);
    g_clear_object(&client);
    g_clear_object(&pinned);
    g_clear_object(&tls);
    g_clear_object(&conn);
    g_clear_object(&cancellable);
    if (uri) g_uri_unref(uri);
  }
};

namespace {

std::string acceptKeyFor(const std::string& key) {
  static constexpr const char* kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const std::string input = key + kGuid;
  std::array<guint8, 20> digest{};
  gsize length = digest.size();
  GChecksum* sha1 = g_checksum_new(G_CHECKSUM_SHA1);
  g_checksum_update(sha1, reinterpret_cast<const guchar*>(input.data()),
                    static_cast<gssize>(input.size()));
  g_checksum_get_digest(sha1, digest.data(), &length);
  g_checksum_free(sha1);
  gchar* encoded = g_base64_encode(digest.data(), length);
  std::string out = encoded;
  g_free(encoded);
  return out;
}

std::atomic<std::uint64_t> oversizedCount{0};

}  // namespace

// The C callbacks GIO and libsoup call. Connect steps hold the handshake; connection signals
// hold a weak reference: once the WebSocket is gone the signal is ignored; while a callback
// runs the WebSocket is kept alive.
struct WebSocket::Glue {
  using HandshakePtr = std::shared_ptr<Handshake>;

  // The WebSocket a callback of handshake h is for, if it still waits for that handshake.
  static std::shared_ptr<WebSocket> ownerWaitingFor(const HandshakePtr& h) {
    auto self = h->owner.lock();
    if (!self || self->handshake_ != h) return nullptr;
    return self;
  }

  static void clientEvent(GSocketClient*, GSocketClientEvent event, GSocketConnectable*,
                          GIOStream* connection, gpointer data) {
    auto* h = static_cast<Handshake*>(data);
    if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CONNECTION(connection)) return;
    g_clear_object(&h->tls);
    h->tls = G_TLS_CONNECTION(g_object_ref(connection));
    const gchar* alpn[] = {"http/1.1", nullptr};
    g_tls_connection_set_advertised_protocols(h->tls, alpn);
    if (h->pinned) {
      g_signal_connect_data(
          connection, "accept-certificate", G_CALLBACK(&Glue::acceptCertificate),
          g_object_ref(h->pinned), [](gpointer pinned, GClosure*) { g_object_unref(pinned); },
          GConnectFlags(0));
    }
  }

  static gboolean acceptCertificate(GTlsConnection*, GTlsCertificate* peer, GTlsCertificateFlags,
                                    gpointer pinned) {
    return g_tls_certificate_is_same(peer, G_TLS_CERTIFICATE(pinned));
  }

  static void connected(GObject* source, GAsyncResult* result, gpointer data) {
    HandshakePtr h = std::move(*static_cast<HandshakePtr*>(data));
    delete static_cast<HandshakePtr*>(data);
    GError* error = nullptr;
    GSocketConnection* conn =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);
    auto self = ownerWaitingFor(h);
    if (!self) {
      if (conn) g_object_unref(conn);
      g_clear_error(&error);
      return;
    }
    if (!conn) {
      std::string text = error ? error->message : "unknown error";
      if (error && g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE) && h->tls) {
        std::string detail =
            describeTlsErrors(g_tls_connection_get_peer_certificate_errors(h->tls));
        if (!detail.empty()) text += " (certificate " + detail + ")";
      }
      g_clear_error(&error);
      self->handshakeFailed(h, text);
      return;
    }
    h->conn = conn;
    GOutputStream* out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    g_output_stream_write_all_async(out, h->request.data(), h->request.size(), G_PRIORITY_DEFAULT,
                                    h->cancellable, &Glue::requestWritten, new HandshakePtr(h));
  }

  static void requestWritten(GObject* source, GAsyncResult* result, gpointer data) {
    HandshakePtr h = std::move(*static_cast<HandshakePtr*>(data));
    delete static_cast<HandshakePtr*>(data);
    GError* error = nullptr;
    const bool ok =
        g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, nullptr, &error);
    auto self = ownerWaitingFor(h);
    if (!self) {
      g_clear_error(&error);
      return;
    }
    if (!ok) {
      std::string text = error ? error->message : "unknown error";
      g_clear_error(&error);
      self->handshakeFailed(h, text);
      return;
    }
    readResponse(h);
  }

  static void readResponse(const HandshakePtr& h) {
    GInputStream* in = g_io_stream_get_input_stream(G_IO_STREAM(h->conn));
    g_input_stream_read_async(in, h->buffer.data(), h->buffer.size(), G_PRIORITY_DEFAULT,
                              h->cancellable, &Glue::responseRead, new HandshakePtr(h));
  }

  static void responseRead(GObject* source, GAsyncResult* result, gpointer data) {
    HandshakePtr h = std::move(*static_cast<HandshakePtr*>(data));
    delete static_cast<HandshakePtr*>(data);
    GError* error = nullptr;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
    auto self = ownerWaitingFor(h);
    if (!self) {
      g_clear_error(&error);
      return;
    }
    if (n <= 0) {
      std::string text = n < 0 ? (error ? error->message : "unknown error")
                               : "the server closed the connection during the handshake";
      g_clear_error(&error);
      self->handshakeFailed(h, text);
      return;
    }
    const std::size_t searchFrom = h->response.size() >= 3 ? h->response.size() - 3 : 0;
    h->response.append(h->buffer.data(), static_cast<std::size_t>(n));
    const std::size_t end = h->response.find("\r\n\r\n", searchFrom);
    if (end != std::string::npos) {
      self->handshakeResponse(h, end + 4);
    } else if (h->response.size() > kMaxHandshakeResponseBytes) {
      self->handshakeFailed(h, "handshake response larger than " +
                                   std::to_string(kMaxHandshakeResponseBytes) + " bytes");
    } else {
      readResponse(h);
    }
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

// The upgrade request, as a browser sends it (no Origin: this is not a web page).
std::string WebSocket::upgradeRequest(GUri* uri, int port, bool tls, const std::string& key) const {
  const char* host = g_uri_get_host(uri);
  const std::string hostText = std::strchr(host, ':') ? "[" + std::string(host) + "]" : host;
  const char* path = g_uri_get_path(uri);
  const char* query = g_uri_get_query(uri);
  std::string request = "GET ";
  request += path && *path ? path : "/";
  if (query) request += std::string("?") + query;
  request += " HTTP/1.1\r\nHost: " + hostText;
  if (g_uri_get_port(uri) > 0 && port != (tls ? 443 : 80)) request += ":" + std::to_string(port);
  request += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
             "\r\nSec-WebSocket-Version: 13\r\n";
  if (!options_.protocols.empty()) {
    request += "Sec-WebSocket-Protocol: ";
    for (std::size_t i = 0; i < options_.protocols.size(); ++i) {
      request += (i ? ", " : "") + options_.protocols[i];
    }
    request += "\r\n";
  }
  if (options_.permessageDeflate) {
    auto* deflate = static_cast<SoupWebsocketExtension*>(
        g_object_new(SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE, nullptr));
    gchar* params = soup_websocket_extension_get_request_params(deflate);
    request += std::string("Sec-WebSocket-Extensions: permessage-deflate") +
               (params ? params : "") + "\r\n";
    g_free(params);
    g_object_unref(deflate);
  }
  request += "\r\n";
  return request;
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

  auto h = std::make_shared<Handshake>();
  h->owner = weak_from_this();
  h->uri = uri;
  h->pinned = pinned;
  const bool tls = scheme == "wss" || scheme == "https";
  const int port = g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) : tls ? 443 : 80;

  std::array<guint32, 4> nonce{};
  for (auto& word : nonce) word = g_random_int();
  gchar* key = g_base64_encode(reinterpret_cast<const guchar*>(nonce.data()), sizeof(nonce));
  h->key = key;
  g_free(key);
  h->request = upgradeRequest(uri, port, tls, h->key);

  // GSocketClient resolves, connects (through the system's proxy settings, like libsoup) and
  // for wss:// does the TLS handshake, verifying the certificate against the host name. The
  // pending operations use the thread-default context, the loop's on its thread.
  h->client = g_socket_client_new();
  g_socket_client_set_tls(h->client, tls);
  h->eventHandler = g_signal_connect(h->client, "event", G_CALLBACK(&Glue::clientEvent), h.get());
  auto* connectable = static_cast<GSocketConnectable*>(
      g_object_new(G_TYPE_NETWORK_ADDRESS, "hostname", host, "port", static_cast<guint>(port),
                   "scheme", tls ? "https" : "http", nullptr));
  handshake_ = h;

  if (options_.connectTimeout.count() > 0) {
    timeoutTimer_ = loop_.after(options_.connectTimeout, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->onTimeout();
    });
  }
  g_socket_client_connect_async(h->client, connectable, h->cancellable, &Glue::connected,
                                new Glue::HandshakePtr(h));
  g_object_unref(connectable);
}

// Drops a pending connect. Its GIO callbacks still come (cancelled) and find the handshake no
// longer wanted.
void WebSocket::abortConnect() {
  timeoutTimer_.cancel();
  if (handshake_) g_cancellable_cancel(handshake_->cancellable);
  handshake_.reset();
}

void WebSocket::failSoon(std::string error) {
  state_ = State::Closed;
  loop_.post([weak = weak_from_this(), error = std::move(error)] {
    if (auto self = weak.lock()) self->finish(1006, "", error);
  });
}

void WebSocket::onTimeout() {
  timeoutTimer_ = {};
  if (state_ != State::Connecting) return;
  state_ = State::Closed;
  abortConnect();
  finish(1006, "",
         "WebSocket connection to '" + url_ + "' failed: timed out after " +
             std::to_string(options_.connectTimeout.count()) + " ms");
}

void WebSocket::handshakeFailed(const std::shared_ptr<Handshake>&, const std::string& error) {
  state_ = State::Closed;
  abortConnect();
  finish(1006, "", "WebSocket connection to '" + url_ + "' failed: " + error);
}

// Checks the server's answer as RFC 6455 section 4.1 asks (what libsoup's
// soup_websocket_client_verify_handshake does), then starts the protocol over a guarded stream.
void WebSocket::handshakeResponse(const std::shared_ptr<Handshake>& h, std::size_t headerBytes) {
  SoupMessageHeaders* headers = soup_message_headers_new(SOUP_MESSAGE_HEADERS_RESPONSE);
  guint status = 0;
  char* phrase = nullptr;
  // Up to the end of the last header line, without the blank line.
  const bool parsed = soup_headers_parse_response(
      h->response.data(), static_cast<int>(headerBytes - 2), headers, nullptr, &status, &phrase);
  std::string reason = phrase ? phrase : "";
  g_free(phrase);
  std::string error;
  GList* extensions = nullptr;
  const char* protocol = nullptr;
  if (!parsed) {
    error = "malformed HTTP response to the WebSocket handshake";
  } else if (status != SOUP_STATUS_SWITCHING_PROTOCOLS) {
    error = "The server did not accept the WebSocket handshake. (HTTP " + std::to_string(status) +
            (reason.empty() ? "" : " " + reason) + ")";
  } else if (!soup_message_headers_header_equals(headers, "Upgrade", "websocket") ||
             !soup_message_headers_header_contains(headers, "Connection", "upgrade")) {
    error = "Server ignored WebSocket handshake";
  } else if (const char* accept = soup_message_headers_get_one(headers, "Sec-WebSocket-Accept");
             !accept || acceptKeyFor(h->key) != accept) {
    error = "Server returned incorrect Sec-WebSocket-Accept key";
  } else {
    protocol = soup_message_headers_get_one(headers, "Sec-WebSocket-Protocol");
    if (protocol && std::find(options_.protocols.begin(), options_.protocols.end(), protocol) ==
                        options_.protocols.end()) {
      error = "Server requested unsupported protocol";
    }
    const char* offered = soup_message_headers_get_list(headers, "Sec-WebSocket-Extensions");
    if (error.empty() && offered && *offered) {
      // Only what we offered: permessage-deflate, once.
      GSList* list = soup_header_parse_list(offered);
      for (GSList* it = list; it && error.empty(); it = it->next) {
        std::string_view item = static_cast<const char*>(it->data);
        const auto semicolon = item.find(';');
        std::string name(item.substr(0, semicolon));
        while (!name.empty() && g_ascii_isspace(name.back())) name.pop_back();
        if (!options_.permessageDeflate || name != "permessage-deflate" || extensions) {
          error = "Server requested unsupported extension";
          break;
        }
        GHashTable* params = nullptr;
        if (semicolon != std::string_view::npos) {
          params = soup_header_parse_semi_param_list_strict(
              std::string(item.substr(semicolon + 1)).c_str());
          if (!params) {
            error = "Server returned a duplicated parameter in permessage-deflate";
            break;
          }
        }
        auto* deflate = static_cast<SoupWebsocketExtension*>(
            g_object_new(SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE, nullptr));
        GError* configureError = nullptr;
        if (soup_websocket_extension_configure(deflate, SOUP_WEBSOCKET_CONNECTION_CLIENT, params,
                                               &configureError)) {
          extensions = g_list_append(extensions, deflate);
        } else {
          error = configureError ? configureError->message : "bad permessage-deflate parameters";
          g_clear_error(&configureError);
          g_object_unref(deflate);
        }
        if (params) g_hash_table_destroy(params);
      }
      soup_header_free_list(list);
    }
  }
  const std::string chosen = protocol ? protocol : "";
  soup_message_headers_unref(headers);
  if (!error.empty()) {
    g_list_free_full(extensions, g_object_unref);
    return handshakeFailed(h, error);
  }

  // Messages go through the guard from the first byte after the handshake.
  guard_ = std::make_shared<WebSocketGuard>(
      WebSocketGuard::Limits{.maxMessageBytes = options_.maxIncomingPayload},
      [weak = weak_from_this()](WebSocketGuard::Trip) {
        // MessageTooBig, the only trip without a backlog limit. Inside libsoup's read: act from
        // the loop instead.
        if (auto self = weak.lock()) {
          self->loop_.post([weak] {
            if (auto s = weak.lock()) s->onMessageTooBig();
          });
        }
      });
  GIOStream* stream =
      newGuardedStream(G_IO_STREAM(h->conn), guard_, h->response.substr(headerBytes));
  if (!stream) {
    g_list_free_full(extensions, g_object_unref);
    return handshakeFailed(h, "the connection cannot be polled");
  }
  SoupWebsocketConnection* conn = soup_websocket_connection_new(
      stream, h->uri, SOUP_WEBSOCKET_CONNECTION_CLIENT, nullptr,
      chosen.empty() ? nullptr : chosen.c_str(), extensions);  // takes the extensions
  g_object_unref(stream);
  connectFinished(conn);
}

void WebSocket::connectFinished(SoupWebsocketConnection* conn) {
  timeoutTimer_.cancel();
  handshake_.reset();  // the connection holds the stream now
  conn_ = conn;

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

std::uint64_t WebSocket::oversizedMessages() { return oversizedCount.load(); }

void WebSocket::onMessageTooBig() {
  if (!conn_ || tooBig_ || state_ == State::Closed) return;
  tooBig_ = true;
  ++oversizedCount;
  g_warning("trystero: WebSocket %s: incoming message larger than %zu bytes, closing (1009)",
            url_.c_str(), options_.maxIncomingPayload);
  if (state_ == State::Open) {
    state_ = State::Closing;
    soup_websocket_connection_close(conn_, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
  }
  // libsoup now sees the end of the stream and reports "closed" without waiting for the peer.
  if (guard_) guard_->endInput();
  if (callbacks_.onError) {
    callbacks_.onError("WebSocket error on '" + url_ + "': incoming message larger than " +
                       std::to_string(options_.maxIncomingPayload) + " bytes");
  }
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
  if (tooBig_) {
    // We ended it, as a browser does when it fails the connection.
    code = SOUP_WEBSOCKET_CLOSE_TOO_BIG;
    reason = "message too big";
  }
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
      abortConnect();
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
  timeoutTimer_.cancel();
  auto teardown = [handshake = std::move(handshake_), conn = conn_,
                   ids = std::move(handlerIds_)]() mutable {
    if (handshake) g_cancellable_cancel(handshake->cancellable);
    handshake.reset();
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

// trystero::nostr::RelayServer: a NIP-01 relay that stores nothing, on libsoup's SoupServer.
//
// Threading: every libsoup object and all relay state live on the shared network loop
// (loop::Loop::shared()); the public methods hop onto it with invoke(). Signal handlers carry a
// raw Connection pointer and are disconnected before the connection is dropped; everything that
// runs later (posted tasks, the upgrade signal) holds a weak reference to the Impl.
//
// Accepting a WebSocket: the default handler checks the handshake itself
// (soup_websocket_server_process_handshake, no extensions: permessage-deflate would let a
// client send decompression bombs) and, once the 101 response is written, steals the
// connection and wraps it in a guarded stream (net/websocket_guard.hpp) before handing it to
// SoupWebsocketConnection: what soup_server_add_websocket_handler does, plus the bounds libsoup
// 3.2 lacks (reassembled message size, outgoing backlog).
#include "trystero/relay_server.hpp"

#include <libsoup/soup.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "loop/loop.hpp"
#include "net/websocket_guard.hpp"
#include "nostr/wire.hpp"
#include "relay/nostr_filter.hpp"

namespace trystero::nostr {
namespace {

namespace wire = trystero::nostr::wire;
using net::WebSocketGuard;
using relay::Filter;

constexpr std::size_t kMaxSubIdLength = 64;  // NIP-01, in JavaScript string length
constexpr guint kKeepAliveSeconds = 30;      // pings find dead peers (TCP gives up on writes)
constexpr std::size_t kMinMessageBytes = 1024;

class TokenBucket {
 public:
  TokenBucket(double rate, double burst)
      : rate_(std::max(rate, 0.0)), burst_(std::max(burst, 0.0)), tokens_(burst_) {}
  bool take() {
    const auto now = loop::nowMs();
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now - lastMs_) * rate_ / 1000.0);
    lastMs_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double rate_, burst_, tokens_;
  std::int64_t lastMs_ = loop::nowMs();
};

// At most n bytes of text, not cutting a UTF-8 sequence.
std::string clip(std::string_view text, std::size_t n) {
  if (text.size() <= n) return std::string(text);
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return std::string(text.substr(0, n)) + "...";
}

// 50, 0.5, 2.25: as people write rates.
std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

bool isEphemeral(std::int64_t kind) { return kind >= 20000 && kind < 30000; }

std::string remoteOf(SoupServerMessage* msg) {
  const char* host = soup_server_message_get_remote_host(msg);
  std::string out = host ? host : "?";
  if (auto* address = soup_server_message_get_remote_address(msg);
      address && G_IS_INET_SOCKET_ADDRESS(address)) {
    out += ":" + std::to_string(g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(address)));
  }
  return out;
}

}  // namespace

struct RelayServer::Impl : std::enable_shared_from_this<Impl> {
  struct Subscription {
    std::vector<Filter> filters;
    std::size_t bytes = 0;
  };

  struct Connection {
    Connection(Impl& owner, std::uint64_t id, std::string peer)
        : owner(owner),
          id(id),
          peer(std::move(peer)),
          events(owner.options.eventsPerSecond, static_cast<double>(owner.options.eventBurst)),
          violations(owner.options.violationsPerSecond,
                     static_cast<double>(owner.options.violationBurst)) {}
    Impl& owner;
    const std::uint64_t id;
    const std::string peer;
    SoupWebsocketConnection* ws = nullptr;
    std::shared_ptr<WebSocketGuard> guard;
    std::vector<gulong> handlers;
    std::map<std::string, Subscription> subscriptions;
    std::size_t filterBytes = 0;
    TokenBucket events;
    TokenBucket violations;
    bool closing = false;
    bool rateLimitLogged = false;
  };

  explicit Impl(RelayServerOptions opts) : options(std::move(opts)), loop(loop::Loop::shared()) {
    options.maxMessageBytes = std::max(options.maxMessageBytes, kMinMessageBytes);
    // One forwarded event must always fit (an EVENT is about as long as the event it carries).
    queueLimit = std::max(options.maxQueuedBytes, options.maxMessageBytes + 4096);
  }

  RelayServerOptions options;
  loop::Loop& loop;
  std::size_t queueLimit = 0;
  SoupServer* server = nullptr;
  std::uint16_t port = 0;
  std::string url;
  bool stopped = false;
  std::uint64_t nextId = 1;
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections;
  Stats counters;

  // ---- lifecycle (loop thread) ----------------------------------------------------------------

  void start() {
    std::string host = options.host.empty() ? "127.0.0.1" : options.host;
    if (host == "localhost") host = "127.0.0.1";
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    const std::string where = host + " port " + std::to_string(options.port);
    GInetAddress* address = g_inet_address_new_from_string(host.c_str());
    if (!address) {
      throw std::runtime_error("trystero::nostr::RelayServer: cannot listen on " + where +
                               ": not an IP address");
    }
    const bool ipv6 = g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV6;
    GSocketAddress* socketAddress = g_inet_socket_address_new(address, options.port);
    g_object_unref(address);

    server = soup_server_new("server-header", "trystero-cpp-relay", nullptr);
    soup_server_add_handler(server, nullptr, &Impl::onRequest, this, nullptr);
    GError* error = nullptr;
    const bool ok = soup_server_listen(server, socketAddress, SoupServerListenOptions(0), &error);
    g_object_unref(socketAddress);
    if (!ok) {
      std::string text = error ? error->message : "unknown error";
      g_clear_error(&error);
      soup_server_remove_handler(server, nullptr);
      g_clear_object(&server);
      throw std::runtime_error("trystero::nostr::RelayServer: cannot listen on " + where + ": " +
                               text);
    }
    GSList* listeners = soup_server_get_listeners(server);
    if (listeners) {
      if (GSocketAddress* local = g_socket_get_local_address(G_SOCKET(listeners->data), nullptr)) {
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
        g_object_unref(local);
      }
    }
    g_slist_free(listeners);
    url = "ws://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    log("listening on " + url);
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    if (server) {
      soup_server_remove_handler(server, nullptr);
      soup_server_disconnect(server);  // the listener and unfinished HTTP requests
      g_clear_object(&server);
    }
    auto all = std::move(connections);
    connections.clear();
    for (auto& [id, c] : all) release(*c, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "relay shutting down");
  }

  // Lets go of a connection: no more signals reach us; an open one gets a close frame and stays
  // alive (inside libsoup) until the closing handshake ends, at most libsoup's close timeout.
  static void release(Connection& c, gushort code, const char* reason) {
    if (!c.ws) return;
    for (auto id : c.handlers) g_signal_handler_disconnect(c.ws, id);
    c.handlers.clear();
    SoupWebsocketConnection* ws = std::exchange(c.ws, nullptr);
    const auto state = soup_websocket_connection_get_state(ws);
    if (state == SOUP_WEBSOCKET_STATE_CLOSED) {
      g_object_unref(ws);
      return;
    }
    g_signal_connect(ws, "closed",
                     G_CALLBACK(+[](SoupWebsocketConnection* w, gpointer) { g_object_unref(w); }),
                     nullptr);
    if (state == SOUP_WEBSOCKET_STATE_OPEN) soup_websocket_connection_close(ws, code, reason);
  }

  void log(const std::string& text) const {
    if (!options.log) return;
    try {
      options.log(text);
    } catch (...) {  // a diagnostic must not take the relay down
    }
  }

  Stats snapshot() const {
    Stats s = counters;
    s.connections = connections.size();
    s.subscriptions = 0;
    for (const auto& [id, c] : connections) s.subscriptions += c->subscriptions.size();
    return s;
  }

  // ---- HTTP and the WebSocket upgrade ---------------------------------------------------------

  static void onRequest(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*,
                        gpointer data) {
    static_cast<Impl*>(data)->handleRequest(msg);
  }

  void handleRequest(SoupServerMessage* msg) {
    if (stopped) {
      soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
      return;
    }
    GError* error = nullptr;
    if (!soup_websocket_server_check_handshake(msg, nullptr, nullptr, nullptr, &error)) {
      const bool notWebSocket =
          g_error_matches(error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_ERROR_NOT_WEBSOCKET);
      g_clear_error(&error);
      if (notWebSocket) {
        serveInformation(msg);
        return;
      }
      // process_handshake() writes the 400 with its reason.
    } else if (connections.size() >= options.maxConnections) {
      counters.connectionsRefused++;
      log("refused a connection from " + remoteOf(msg) + ": " + std::to_string(connections.size()) +
          " connections open");
      soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
      return;
    }
    if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr)) return;
    g_signal_connect_data(
        msg, "wrote-informational", G_CALLBACK(&Impl::onUpgraded),
        new std::weak_ptr<Impl>(weak_from_this()),
        [](gpointer data, GClosure*) { delete static_cast<std::weak_ptr<Impl>*>(data); },
        GConnectFlags(0));
  }

  // A GET without an upgrade: NIP-11 relay information when asked for, else a line of text.
  void serveInformation(SoupServerMessage* msg) {
    const char* method = soup_server_message_get_method(msg);
    if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
      soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
      return;
    }
    auto* headers = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(headers, "Access-Control-Allow-Origin", "*");
    const char* accept =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Accept");
    std::string body, type;
    if (accept && std::string_view(accept).find("application/nostr+json") != std::string::npos) {
      nlohmann::json info = {
          {"name", "trystero-cpp relay"},
          {"description", "A Nostr relay for signalling: verifies and forwards, stores nothing."},
          {"software", "trystero-cpp"},
          {"supported_nips", {1, 11}},
          {"limitation",
           {{"max_message_length", options.maxMessageBytes},
            {"max_subscriptions", options.maxSubscriptions},
            {"max_filters", options.maxFiltersPerReq},
            {"max_subid_length", kMaxSubIdLength},
            {"auth_required", false},
            {"payment_required", false},
            {"restricted_writes", options.ephemeralOnly}}}};
      body = info.dump();
      type = "application/nostr+json";
    } else {
      body = "trystero-cpp Nostr relay: connect with a WebSocket (NIP-01).\n";
      type = "text/plain; charset=utf-8";
    }
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(msg, type.c_str(), SOUP_MEMORY_COPY, body.data(), body.size());
  }

  static void onUpgraded(SoupServerMessage* msg, gpointer data) {
    auto self = static_cast<std::weak_ptr<Impl>*>(data)->lock();
    g_object_ref(msg);
    const std::string peer = remoteOf(msg);
    GIOStream* base = soup_server_message_steal_connection(msg);
    if (base) {
      if (self && !self->stopped) {
        self->accept(msg, base, peer);
      } else {
        g_io_stream_close(base, nullptr, nullptr);
      }
      g_object_unref(base);
    }
    g_object_unref(msg);
  }

  void accept(SoupServerMessage* msg, GIOStream* base, const std::string& peer) {
    const std::uint64_t id = nextId++;
    auto c = std::make_shared<Connection>(*this, id, peer);
    c->guard = std::make_shared<WebSocketGuard>(
        WebSocketGuard::Limits{.maxMessageBytes = options.maxMessageBytes,
                               .maxBacklogBytes = queueLimit},
        [weak = weak_from_this(), id, &loop = loop](WebSocketGuard::Trip what) {
          loop.post([weak, id, what] {
            if (auto self = weak.lock()) self->onTrip(id, what);
          });
        });
    GIOStream* guarded = net::newGuardedStream(base, c->guard);
    if (!guarded) {
      log("cannot serve " + peer + ": the connection's streams are not pollable");
      g_io_stream_close(base, nullptr, nullptr);
      return;
    }
    const char* origin =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Origin");
    c->ws =
        soup_websocket_connection_new(guarded, soup_server_message_get_uri(msg),
                                      SOUP_WEBSOCKET_CONNECTION_SERVER, origin, nullptr, nullptr);
    g_object_unref(guarded);
    soup_websocket_connection_set_max_incoming_payload_size(c->ws, options.maxMessageBytes);
    soup_websocket_connection_set_keepalive_interval(c->ws, kKeepAliveSeconds);
    auto connectSignal = [&](const char* name, GCallback callback) {
      c->handlers.push_back(g_signal_connect(c->ws, name, callback, c.get()));
    };
    connectSignal("message", G_CALLBACK(&Impl::onMessage));
    connectSignal("error", G_CALLBACK(&Impl::onError));
    connectSignal("closed", G_CALLBACK(&Impl::onClosed));
    connections.emplace(id, c);
    counters.connectionsAccepted++;
    log("connection " + std::to_string(id) + " from " + peer);
  }

  // ---- connection events ------------------------------------------------------------------------

  static void onMessage(SoupWebsocketConnection*, gint type, GBytes* message, gpointer data) {
    auto& c = *static_cast<Connection*>(data);
    auto it = c.owner.connections.find(c.id);
    if (it == c.owner.connections.end()) return;
    auto keep = it->second;  // alive for the whole call
    try {
      c.owner.handleMessage(c, type, message);
    } catch (const std::exception& e) {
      c.owner.log("connection " + std::to_string(c.id) + ": internal error: " + e.what());
      c.owner.notice(c, "error: internal error");
    }
  }

  static void onError(SoupWebsocketConnection*, GError* error, gpointer data) {
    auto& c = *static_cast<Connection*>(data);
    c.owner.log("connection " + std::to_string(c.id) + ": " +
                (error ? error->message : "unknown error"));
  }

  static void onClosed(SoupWebsocketConnection* ws, gpointer data) {
    auto& c = *static_cast<Connection*>(data);
    Impl& self = c.owner;
    auto it = self.connections.find(c.id);
    if (it == self.connections.end()) return;
    auto keep = it->second;
    self.connections.erase(it);
    const int code = soup_websocket_connection_get_close_code(ws);
    self.log("connection " + std::to_string(c.id) + " closed" +
             (code ? " (" + std::to_string(code) + ")" : " (no close frame)"));
    for (auto id : c.handlers) g_signal_handler_disconnect(ws, id);
    c.handlers.clear();
    // libsoup holds its own reference while it emits "closed".
    g_clear_object(&c.ws);
  }

  void onTrip(std::uint64_t id, WebSocketGuard::Trip what) {
    auto it = connections.find(id);
    if (stopped || it == connections.end()) return;
    Connection& c = *it->second;
    if (what == WebSocketGuard::Trip::MessageTooBig) {
      counters.closedTooBig++;
      log("connection " + std::to_string(id) + ": message over " +
          std::to_string(options.maxMessageBytes) + " bytes");
      closeConnection(c, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
    } else {
      counters.closedTooSlow++;
      log("connection " + std::to_string(id) + ": pongs owed over the backlog limit");
      closeConnection(c, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "too slow");
    }
  }

  // Starts the closing handshake; nothing more is forwarded to c. Reads end at once (a client
  // that is being thrown out gets no more of our time), so libsoup finishes as soon as the
  // client answers or sends anything else, or after its close timeout.
  void closeConnection(Connection& c, gushort code, const char* reason) {
    if (c.closing) return;
    c.closing = true;
    c.subscriptions.clear();
    c.filterBytes = 0;
    if (c.ws && soup_websocket_connection_get_state(c.ws) == SOUP_WEBSOCKET_STATE_OPEN) {
      soup_websocket_connection_close(c.ws, code, reason);
    }
    if (c.guard) c.guard->endInput();
  }

  // ---- sending ----------------------------------------------------------------------------------

  // Queues a text message; false when the connection is closing or was just closed for having
  // too much queued already.
  bool send(Connection& c, const std::string& text) {
    if (c.closing || !c.ws ||
        soup_websocket_connection_get_state(c.ws) != SOUP_WEBSOCKET_STATE_OPEN) {
      return false;
    }
    const std::size_t frame = net::serverFrameBytes(text.size());
    if (c.guard->backlog() + frame > queueLimit) {
      counters.closedTooSlow++;
      log("connection " + std::to_string(c.id) + ": " + std::to_string(c.guard->backlog()) +
          " bytes waiting to be sent, closing it");
      closeConnection(c, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "too slow");
      return false;
    }
    c.guard->queued(frame);
    GBytes* bytes = g_bytes_new_static(text.data(), text.size());  // libsoup copies
    soup_websocket_connection_send_message(c.ws, SOUP_WEBSOCKET_DATA_TEXT, bytes);
    g_bytes_unref(bytes);
    return true;
  }

  void notice(Connection& c, const std::string& text) {
    if (send(c, "[\"NOTICE\"," + wire::jsonQuote(text) + "]")) counters.notices++;
  }

  void sendOk(Connection& c, const std::string& id, bool accepted, const std::string& message) {
    send(c, "[\"OK\"," + wire::jsonQuote(id) + "," + (accepted ? "true" : "false") + "," +
                wire::jsonQuote(message) + "]");
  }

  void sendClosed(Connection& c, const std::string& subId, const std::string& message) {
    send(c, "[\"CLOSED\"," + wire::jsonQuote(subId) + "," + wire::jsonQuote(message) + "]");
  }

  // Counts a refused message against c; too many and c is closed.
  void violation(Connection& c) {
    if (c.violations.take()) return;
    counters.closedMisbehaving++;
    log("connection " + std::to_string(c.id) + ": too many refused messages, closing it");
    closeConnection(c, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "too many invalid messages");
  }

  void refuse(Connection& c, const std::string& noticeText) {
    notice(c, noticeText);
    violation(c);
  }

  // ---- NIP-01 -----------------------------------------------------------------------------------

  void handleMessage(Connection& c, gint type, GBytes* message) {
    if (stopped || c.closing) return;
    gsize size = 0;
    const char* data = static_cast<const char*>(g_bytes_get_data(message, &size));
    if (size > options.maxMessageBytes) {  // the guard stops these first; belt and braces
      counters.closedTooBig++;
      closeConnection(c, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
      return;
    }
    if (type != SOUP_WEBSOCKET_DATA_TEXT) {
      refuse(c, "invalid: binary messages are not supported");
      return;
    }
    const std::string_view text(data ? data : "", size);
    const auto json = wire::parseJsonBounded(text);
    if (json.is_discarded()) {
      refuse(c, "invalid: malformed JSON");
      return;
    }
    if (!json.is_array() || json.empty() || !json[0].is_string()) {
      refuse(c, "invalid: expected an array starting with a string");
      return;
    }
    const auto& verb = json[0].get_ref<const std::string&>();
    if (verb == "EVENT") {
      handleEvent(c, json);
    } else if (verb == "REQ") {
      handleReq(c, json);
    } else if (verb == "CLOSE") {
      handleClose(c, json);
    } else {
      refuse(c, "invalid: unknown message type " + wire::jsonQuote(clip(verb, 32)));
    }
  }

  void handleEvent(Connection& c, const nlohmann::json& json) {
    if (json.size() < 2) {
      counters.eventsRejected++;
      refuse(c, "invalid: EVENT without an event");
      return;
    }
    const auto& value = json[1];
    std::string id;
    if (value.is_object()) {
      auto it = value.find("id");
      if (it != value.end() && it->is_string() && it->get_ref<const std::string&>().size() <= 64) {
        id = it->get<std::string>();
      }
    }
    auto reject = [&](const std::string& message) {
      counters.eventsRejected++;
      sendOk(c, id, false, message);
      violation(c);
    };
    if (!c.events.take()) {
      if (!c.rateLimitLogged) {
        c.rateLimitLogged = true;
        log("connection " + std::to_string(c.id) + ": rate limited");
      }
      reject("rate-limited: more than " + std::to_string(options.eventBurst) +
             " events at once or " + number(options.eventsPerSecond) + " per second");
      return;
    }
    std::string why;
    auto event = wire::eventFromJson(value, &why);
    if (!event) {
      reject("invalid: " + why);
      return;
    }
    if (wire::computeEventId(*event) != event->id) {
      reject("invalid: event id does not match");
      return;
    }
    if (!wire::verifySignature(event->pubkey, event->id, event->sig)) {
      reject("invalid: bad signature");
      return;
    }
    if (options.ephemeralOnly && !isEphemeral(event->kind)) {
      reject("blocked: only ephemeral events (kinds 20000-29999) are relayed");
      return;
    }
    c.rateLimitLogged = false;
    counters.eventsAccepted++;
    sendOk(c, event->id, true, "");
    forward(*event);
  }

  void forward(const wire::Event& event) {
    std::string body;  // serialized on the first match
    for (auto& [id, conn] : connections) {
      Connection& c = *conn;
      if (c.closing) continue;
      for (auto it = c.subscriptions.begin(); it != c.subscriptions.end(); ++it) {
        const auto& filters = it->second.filters;
        if (!std::any_of(filters.begin(), filters.end(),
                         [&](const Filter& f) { return f.matches(event); })) {
          continue;
        }
        if (body.empty()) body = wire::serializeEvent(event);
        if (!send(c, "[\"EVENT\"," + wire::jsonQuote(it->first) + "," + body + "]")) break;
        counters.deliveries++;
      }
    }
  }

  void handleReq(Connection& c, const nlohmann::json& json) {
    if (json.size() < 2 || !json[1].is_string() || json[1].get_ref<const std::string&>().empty() ||
        relay::utf16Length(json[1].get_ref<const std::string&>()) > kMaxSubIdLength) {
      refuse(c, "invalid: bad subscription id (a string of 1 to 64 characters)");
      return;
    }
    const auto& subId = json[1].get_ref<const std::string&>();
    // A REQ replaces the subscription of the same id, also when it is refused (CLOSED).
    dropSubscription(c, subId);
    auto close = [&](const std::string& message) {
      sendClosed(c, subId, message);
      violation(c);
    };
    const std::size_t count = json.size() - 2;
    if (count == 0) {
      close("invalid: no filters");
      return;
    }
    if (count > options.maxFiltersPerReq) {
      close("invalid: too many filters (at most " + std::to_string(options.maxFiltersPerReq) + ")");
      return;
    }
    if (c.subscriptions.size() >= options.maxSubscriptions) {
      close("rate-limited: too many subscriptions (at most " +
            std::to_string(options.maxSubscriptions) + ")");
      return;
    }
    Subscription subscription;
    subscription.filters.reserve(count);
    subscription.bytes = subId.size() + 64;
    for (std::size_t i = 2; i < json.size(); ++i) {
      std::string why;
      auto filter = relay::filterFromJson(json[i], &why);
      if (!filter) {
        close("invalid: " + why);
        return;
      }
      subscription.bytes += filter->memoryBytes();
      subscription.filters.push_back(std::move(*filter));
    }
    if (c.filterBytes + subscription.bytes > options.maxFilterBytes) {
      close("rate-limited: subscriptions too large");
      return;
    }
    c.filterBytes += subscription.bytes;
    c.subscriptions.emplace(subId, std::move(subscription));
    // Nothing is stored, so nothing to send before the end of stored events.
    send(c, "[\"EOSE\"," + wire::jsonQuote(subId) + "]");
  }

  void handleClose(Connection& c, const nlohmann::json& json) {
    if (json.size() < 2 || !json[1].is_string()) {
      refuse(c, "invalid: bad subscription id");
      return;
    }
    // NIP-01 asks for no answer; unknown ids are ignored.
    dropSubscription(c, json[1].get_ref<const std::string&>());
  }

  static void dropSubscription(Connection& c, const std::string& subId) {
    auto it = c.subscriptions.find(subId);
    if (it == c.subscriptions.end()) return;
    c.filterBytes -= std::min(c.filterBytes, it->second.bytes);
    c.subscriptions.erase(it);
  }
};

// ---- the public class
// ----------------------------------------------------------------------------

RelayServer::RelayServer(RelayServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {
  impl_->loop.invoke([impl = impl_] { impl->start(); });
}

RelayServer::~RelayServer() {
  try {
    impl_->loop.invoke([impl = impl_] { impl->stop(); });
  } catch (...) {  // the loop is gone (process exit): nothing runs any more anyway
  }
}

std::uint16_t RelayServer::port() const { return impl_->port; }

std::string RelayServer::url() const { return impl_->url; }

RelayServer::Stats RelayServer::stats() const {
  return impl_->loop.invoke([impl = impl_] { return impl->snapshot(); });
}

}  // namespace trystero::nostr

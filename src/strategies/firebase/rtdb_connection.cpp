#include "strategies/firebase/rtdb_connection.hpp"

#include <glib.h>

#include <algorithm>

namespace trystero::strategies::firebase {

namespace {

using nlohmann::json;

std::int64_t systemNowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The explanation a refusal carries: firebase-server and the service send a string.
std::string explanation(const json& data) {
  if (data.is_string()) return data.get<std::string>();
  if (data.is_null() || (data.is_object() && data.empty())) return {};
  return data.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string Connection::Refusal::describe() const {
  std::string what;
  if (action == "auth" || action == "gauth") {
    what = "the auth token was refused";
  } else if (action == "ac") {
    what = "the auth token was revoked";
  } else if (action == "q") {
    what = "reading " + path + " was refused";
  } else if (action == "c") {
    what = "reading " + path + " was revoked";
  } else {
    what = "writing " + path + " was refused";
  }
  return what + ": " + status + (message.empty() ? "" : " (" + message + ")");
}

Connection::Connection(loop::Loop& loop, DatabaseUrl db, Options options)
    : loop_(loop),
      db_(std::move(db)),
      options_(options),
      url_(websocketUrl(db_, db_.host)),
      frames_(options.maxMessageChars) {}

Connection::~Connection() { close(); }

void Connection::start() { connectTo(db_.host); }

void Connection::connectTo(const std::string& host) {
  if (socket_) socket_->close();
  host_ = host;
  url_ = websocketUrl(db_, host);
  auto callbacks = net::RelaySocket::Callbacks::forwardingTo(
      weak_from_this(), &Connection::socketMessage, &Connection::opened, &Connection::socketClosed,
      &Connection::socketFailed);
  net::WebSocket::Options ws;
  // Frames are at most 16384 characters; what the assembler bounds is the whole message.
  ws.maxIncomingPayload = std::max<std::size_t>(options_.maxMessageChars, 64 * 1024);
  socket_ =
      net::RelaySocket::create(loop_, url_, std::move(callbacks), std::move(ws), options_.retry);
}

void Connection::socketMessage(std::string_view data, bool binary) {
  if (!binary) received(data);  // the protocol is text only
}

void Connection::socketClosed(int, const std::string&) {
  const bool hadHandshake = handshakeDone_;
  ended();
  switchHostIfNeeded(hadHandshake);
}

// The relay socket retries its own URL; a move to another host takes a new socket.
void Connection::switchHostIfNeeded(bool hadHandshake) {
  if (closed_) return;
  std::string next = host_;
  if (hadHandshake && !handshakeHost_.empty()) {
    next = handshakeHost_;
  } else if (!hadHandshake && host_ != db_.host) {
    // Where we were sent is unreachable: back to the database's own host, as the SDK forgets
    // a cached host that failed.
    next = db_.host;
    handshakeHost_.clear();
  }
  if (next == host_) return;
  connectLater(next,
               options_.retry.empty() ? std::chrono::milliseconds(1000) : options_.retry.front());
}

void Connection::connectLater(const std::string& host, std::chrono::milliseconds delay) {
  if (socket_) socket_->close();
  socket_.reset();
  std::weak_ptr<Connection> weak = weak_from_this();
  redirectTimer_ = loop_.after(delay, [weak, host] {
    auto self = weak.lock();
    if (self && !self->closed_) self->connectTo(host);
  });
}

void Connection::socketFailed(const std::string& error) {
  stats_.lastError = error;
  g_debug("trystero: firebase %s", error.c_str());
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  handshakeDone_ = false;
  keepAliveTimer_.cancel();
  redirectTimer_.cancel();
  pendingReplies_.clear();
  whenConnected_.clear();
  listens_.clear();
  listenerPaths_.clear();
  writes_.clear();
  refusalHandlers_.clear();
  if (socket_) socket_->close();
}

void Connection::whenConnected(std::function<void()> f) {
  if (closed_ || !f) return;
  if (handshakeDone_) {
    loop_.post(std::move(f));
  } else {
    whenConnected_.push_back(std::move(f));
  }
}

std::int64_t Connection::serverNowMs() const { return systemNowMs() + serverOffsetMs_; }

void Connection::opened() {
  // The server speaks first (the handshake); requests wait for it.
  handshakeDone_ = false;
  frames_.reset();
  nextRequestId_ = 1;
  pendingReplies_.clear();
  armKeepAlive();
}

void Connection::ended() {
  handshakeDone_ = false;
  authenticated_ = false;
  keepAliveTimer_.cancel();
  pendingReplies_.clear();  // their requests are sent again by restoreState()
  frames_.reset();
  for (auto& [path, listen] : listens_) listen.synced = false;
}

void Connection::received(std::string_view frame) {
  if (closed_) return;
  armKeepAlive();
  auto message = frames_.feed(frame);
  if (frames_.failed()) {
    stats_.malformedIn++;
    stats_.lastError = frames_.error();
    g_debug("trystero: firebase %s: %s; reconnecting", url_.c_str(), frames_.error().c_str());
    frames_.reset();
    if (auto ws = socket_ ? socket_->socket() : nullptr) ws->close(4000, "bad framing");
    return;
  }
  if (!message) return;
  auto parsed = parseServerMessage(*message);
  if (!parsed) {
    stats_.malformedIn++;
    g_debug("trystero: firebase %s: dropped a malformed message (%zu bytes)", url_.c_str(),
            message->size());
    return;
  }
  auto self = shared_from_this();  // a handler may release the strategy that owns us
  handle(*parsed);
}

void Connection::handle(const ServerMessage& message) {
  switch (message.kind) {
    case ServerMessage::Kind::Handshake:
      return handshake(message);
    case ServerMessage::Kind::Redirect:
      return redirect(message.host);
    case ServerMessage::Kind::Shutdown:
      // The server will refuse us from now on (e.g. a disabled database): stop retrying.
      g_warning("trystero: firebase %s shut the connection down: %s", url_.c_str(),
                message.text.c_str());
      stats_.lastError = "shutdown: " + message.text;
      if (socket_) socket_->close();
      return;
    case ServerMessage::Kind::Error:
      g_debug("trystero: firebase %s error: %s", url_.c_str(), message.text.c_str());
      stats_.lastError = message.text;
      return;
    case ServerMessage::Kind::Reply:
      return replied(message);
    case ServerMessage::Kind::Push:
      return pushed(message);
    case ServerMessage::Kind::AuthRevoked:
      authenticated_ = false;
      authRefusal_ = Refusal{"ac", "", message.status, message.text};
      return refused(*authRefusal_);
    case ServerMessage::Kind::ListenRevoked: {
      const std::string path = "/" + message.path;
      if (auto it = listens_.find(path); it != listens_.end()) it->second.synced = false;
      return refused({"c", path, "permission_denied", ""});
    }
    case ServerMessage::Kind::Ignored:
      return;
  }
}

void Connection::handshake(const ServerMessage& message) {
  if (handshakeDone_) return;
  handshakeDone_ = true;
  stats_.handshakes++;
  serverOffsetMs_ = message.timestamp - systemNowMs();
  redirectsInARow_ = 0;
  if (options_.followHandshakeHost.value_or(db_.secure) && message.host != host_) {
    if (isHostName(message.host)) {
      handshakeHost_ = message.host;
    } else if (!message.host.empty()) {
      g_debug("trystero: firebase %s: handshake host '%s' is not a host name; ignored",
              url_.c_str(), message.host.c_str());
    }
  }
  // The credential first: the server judges the listens and writes that follow with it.
  sendAuth();
  restoreState();
  auto queue = std::move(whenConnected_);
  whenConnected_.clear();
  for (auto& f : queue) loop_.post(std::move(f));
}

// The real service moves a database between hosts (and sends a client that reached the wrong
// one on); the SDK reconnects to the host named, at once before the handshake and through its
// reconnect delay once connected. A run of redirects without a handshake is cut short: a
// server that keeps redirecting must not keep us hopping.
void Connection::redirect(const std::string& host) {
  if (!isHostName(host)) {
    g_warning("trystero: firebase %s: ignored a redirect to '%s', which is not a host name",
              url_.c_str(), host.c_str());
    return;
  }
  if (host == host_) return;
  if (redirectsInARow_ >= options_.maxRedirects) {
    g_warning("trystero: firebase %s: ignored a redirect to %s after %d in a row", url_.c_str(),
              host.c_str(), redirectsInARow_);
    stats_.lastError = "too many redirects";
    return;
  }
  redirectsInARow_++;
  stats_.redirects++;
  g_debug("trystero: firebase %s: redirected to %s", url_.c_str(), host.c_str());
  const bool wasConnected = handshakeDone_;
  ended();
  handshakeHost_.clear();
  connectLater(host, !wasConnected            ? std::chrono::milliseconds(0)
                     : options_.retry.empty() ? std::chrono::milliseconds(1000)
                                              : options_.retry.front());
}

void Connection::sendAuth() {
  if (options_.authToken.empty()) return;
  const std::string action = authAction(options_.authToken);
  std::weak_ptr<Connection> weak = weak_from_this();
  request(action, {{"cred", options_.authToken}}, [weak, action](const ServerMessage& reply) {
    auto self = weak.lock();
    if (!self) return;
    if (reply.status == "ok") {
      self->authenticated_ = true;
      self->authRefusal_.reset();
      return;
    }
    self->authRefusal_ = Refusal{action, "", reply.status, explanation(reply.data)};
    self->refused(*self->authRefusal_);
  });
}

// The first refusal of a kind is a warning (a wrong token or rules show here), repeats are
// debug lines; the handlers hear every one.
void Connection::refused(Refusal refusal) {
  stats_.refusals++;
  const std::string text = refusal.describe();
  stats_.lastError = text;
  if (warned_.insert(refusal.action + " " + refusal.status).second) {
    g_warning("trystero: firebase %s: %s", url_.c_str(), text.c_str());
  } else {
    g_debug("trystero: firebase %s: %s", url_.c_str(), text.c_str());
  }
  std::vector<std::shared_ptr<RefusalHandler>> handlers;
  for (auto& [id, handler] : refusalHandlers_) handlers.push_back(handler);
  for (auto& handler : handlers) {
    if (closed_) return;
    (*handler)(refusal);
  }
}

std::uint64_t Connection::addRefusalHandler(RefusalHandler handler) {
  const auto id = nextRefusalHandlerId_++;
  refusalHandlers_[id] = std::make_shared<RefusalHandler>(std::move(handler));
  return id;
}

void Connection::removeRefusalHandler(std::uint64_t id) { refusalHandlers_.erase(id); }

void Connection::replied(const ServerMessage& message) {
  stats_.repliesIn++;
  auto it = pendingReplies_.find(message.requestId);
  if (it == pendingReplies_.end()) return;
  auto handler = std::move(it->second);
  pendingReplies_.erase(it);
  if (handler) handler(message);
}

void Connection::pushed(const ServerMessage& message) {
  stats_.pushesIn++;
  std::vector<std::string> touched;
  for (auto& [path, listen] : listens_) {
    if (listen.tree.apply(message) && listen.synced) touched.push_back(path);
  }
  for (const auto& path : touched) notify(path);
}

// Hands the value at path to its listeners (a handler may listen, unlisten or close).
void Connection::notify(const std::string& path) {
  auto it = listens_.find(path);
  if (it == listens_.end()) return;
  const json value = it->second.tree.value();
  std::vector<std::shared_ptr<ValueHandler>> handlers;
  for (auto& [id, handler] : it->second.handlers) handlers.push_back(handler);
  for (auto& handler : handlers) {
    if (closed_) return;
    (*handler)(value);
  }
}

// After a (re)connect, as the SDK's restoreState: listens, unacknowledged writes, onDisconnect.
void Connection::restoreState() {
  for (auto& [path, listen] : listens_) sendListen(path);
  for (auto& [id, write] : writes_) sendWrite(id);
  for (const auto& path : onDisconnectRemoves_) {
    request("o", {{"p", path}, {"d", nullptr}});
  }
}

std::uint64_t Connection::listen(const std::string& path, ValueHandler handler) {
  const auto id = nextListenerId_++;
  auto [it, isNew] = listens_.try_emplace(path, Listen{Subtree(splitPath(path)), false, {}});
  it->second.handlers[id] = std::make_shared<ValueHandler>(std::move(handler));
  listenerPaths_[id] = path;
  if (isNew) {
    if (handshakeDone_) sendListen(path);
  } else if (it->second.synced) {
    // A further listener of a synced path gets the value we have (as the SDK's cache serves it).
    std::weak_ptr<Connection> weak = weak_from_this();
    loop_.post([weak, path, id] {
      auto self = weak.lock();
      if (!self) return;
      auto found = self->listens_.find(path);
      if (found == self->listens_.end() || !found->second.synced) return;
      auto handler = found->second.handlers.find(id);
      if (handler != found->second.handlers.end()) (*handler->second)(found->second.tree.value());
    });
  }
  return id;
}

void Connection::unlisten(std::uint64_t listenerId) {
  auto pathIt = listenerPaths_.find(listenerId);
  if (pathIt == listenerPaths_.end()) return;
  const std::string path = pathIt->second;
  listenerPaths_.erase(pathIt);
  auto it = listens_.find(path);
  if (it == listens_.end()) return;
  it->second.handlers.erase(listenerId);
  if (!it->second.handlers.empty()) return;
  listens_.erase(it);
  if (handshakeDone_) request("n", {{"p", path}});
}

void Connection::sendListen(const std::string& path) {
  auto it = listens_.find(path);
  if (it == listens_.end()) return;
  // What the server pushes from now on is the whole value: start from nothing.
  it->second.tree.clear();
  it->second.synced = false;
  std::weak_ptr<Connection> weak = weak_from_this();
  request("q", {{"p", path}, {"h", ""}}, [weak, path](const ServerMessage& reply) {
    auto self = weak.lock();
    if (!self) return;
    auto found = self->listens_.find(path);
    if (found == self->listens_.end()) return;
    if (reply.status != "ok") {
      self->refused({"q", path, reply.status, explanation(reply.data)});
      return;
    }
    found->second.synced = true;
    self->notify(path);
  });
}

void Connection::set(const std::string& path, json value, Done done) {
  if (!handshakeDone_) {
    // Offline, a later write to a path replaces the one queued before it (announces keep
    // coming every 5 s while a database is unreachable; the last one is all that matters).
    std::erase_if(writes_, [&](const auto& entry) { return entry.second.path == path; });
  }
  const auto id = nextWriteId_++;
  writes_[id] = Write{path, std::move(value), std::move(done)};
  if (handshakeDone_) sendWrite(id);
}

void Connection::sendWrite(std::uint64_t writeId) {
  auto it = writes_.find(writeId);
  if (it == writes_.end()) return;
  std::weak_ptr<Connection> weak = weak_from_this();
  request("p", {{"p", it->second.path}, {"d", it->second.value}},
          [weak, writeId](const ServerMessage& reply) {
            auto self = weak.lock();
            if (!self) return;
            auto found = self->writes_.find(writeId);
            if (found == self->writes_.end()) return;
            auto done = std::move(found->second.done);
            const std::string path = found->second.path;
            self->writes_.erase(found);
            if (reply.status != "ok") {
              self->stats_.writesFailed++;
              self->refused({"p", path, reply.status, explanation(reply.data)});
              if (self->closed_) return;
            }
            if (done) done(reply.status);
          });
}

void Connection::onDisconnectRemove(const std::string& path, bool restore) {
  if (restore && std::find(onDisconnectRemoves_.begin(), onDisconnectRemoves_.end(), path) ==
                     onDisconnectRemoves_.end()) {
    onDisconnectRemoves_.push_back(path);
  }
  if (handshakeDone_) request("o", {{"p", path}, {"d", nullptr}});
}

void Connection::forgetOnDisconnect(const std::string& path) {
  // The path and everything below it.
  std::erase_if(onDisconnectRemoves_,
                [&](const std::string& p) { return p == path || p.starts_with(path + "/"); });
}

void Connection::request(std::string_view action, const json& body, ReplyHandler onReply) {
  if (!handshakeDone_ || !socket_) return;
  const auto id = nextRequestId_++;
  if (onReply) pendingReplies_[id] = std::move(onReply);
  stats_.requestsOut++;
  sendFrames(encodeRequest(id, action, body));
}

void Connection::sendFrames(const std::string& message) {
  for (const auto& frame : splitMessage(message)) socket_->send(frame);
  armKeepAlive();
}

// The SDK sends "0" once nothing went either way for 45 s, so that proxies keep the socket.
void Connection::armKeepAlive() {
  std::weak_ptr<Connection> weak = weak_from_this();
  keepAliveTimer_ = loop_.after(options_.keepAliveIdle, [weak] {
    auto self = weak.lock();
    if (!self || self->closed_ || !self->socket_ || !self->socket_->isOpen()) return;
    self->keepAliveTimer_ = {};
    if (self->socket_->send(kKeepAliveFrame)) self->stats_.keepAlivesOut++;
    self->armKeepAlive();
  });
}

}  // namespace trystero::strategies::firebase

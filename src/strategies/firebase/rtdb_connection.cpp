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

}  // namespace

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

void Connection::socketClosed(int, const std::string&) { ended(); }

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
    case ServerMessage::Kind::Ignored:
      return;
  }
}

void Connection::handshake(const ServerMessage& message) {
  if (handshakeDone_) return;
  handshakeDone_ = true;
  stats_.handshakes++;
  serverOffsetMs_ = message.timestamp - systemNowMs();
  restoreState();
  auto queue = std::move(whenConnected_);
  whenConnected_.clear();
  for (auto& f : queue) loop_.post(std::move(f));
}

// The real service moves a database between hosts; the SDK reconnects to the one named, after
// its reconnect delay. (In emulator mode, a plain-http URL, it keeps its host: so do we.) The
// delay also keeps a server that keeps redirecting from making us reconnect in a tight loop.
void Connection::redirect(const std::string& host) {
  if (!db_.secure || host == host_) return;
  g_debug("trystero: firebase %s: redirected to %s", url_.c_str(), host.c_str());
  ended();
  if (socket_) socket_->close();
  socket_.reset();
  std::weak_ptr<Connection> weak = weak_from_this();
  auto delay = options_.retry.empty() ? std::chrono::milliseconds(1000) : options_.retry.front();
  redirectTimer_ = loop_.after(delay, [weak, host] {
    auto self = weak.lock();
    if (self && !self->closed_) self->connectTo(host);
  });
}

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
      g_warning("trystero: firebase listen on %s refused: %s", path.c_str(), reply.status.c_str());
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
            if (reply.status != "ok") {
              self->stats_.writesFailed++;
              g_debug("trystero: firebase write to %s: %s", found->second.path.c_str(),
                      reply.status.c_str());
            }
            self->writes_.erase(found);
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

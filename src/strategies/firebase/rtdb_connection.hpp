// One connection to a Firebase Realtime Database, as @firebase/database's PersistentConnection
// keeps it: a WebSocket that reconnects (1 s, x1.3 per failure, 5 min at most), the handshake
// that gives the server's clock, requests numbered per connection with their replies, listens
// whose subtree is kept locally and handed to listeners after every change, writes, and
// onDisconnect operations. Listens and onDisconnect operations are sent again after every
// reconnect, as are writes the server had not acknowledged.
//
// Replies are awaited only for `q` (listen) and `p` (set): firebase-server 1.1.0 never answers
// `o` (onDisconnect), `n` (unlisten) or `s` (stats), so nothing may wait for those. A listen is
// synced when its `ok` arrives (the server pushes the value first).
//
// With a credential (Options::authToken) the first request after every handshake is `auth` or
// `gauth`, before the listens and writes are restored, so the server judges those with it. A
// refused or revoked credential, and a listen or write the rules deny, are reported to the
// refusal handlers in the server's words; the connection stays up (unauthenticated after a
// refusal, as the SDK after it dropped a revoked token; a static token would only be refused
// again, so unlike the SDK we do not reconnect for a new one).
//
// Hosts: a redirect (control `r`) makes us reconnect to the host it names, at once before the
// handshake and after the first retry delay once connected; at most Options::maxRedirects in a
// row without a handshake, and only to a host name (anything else is dropped with a warning).
// The handshake's `h` is where the real service wants the next connection; we go there when
// Options::followHandshakeHost (the default for https databases; local servers name themselves
// there rather than give an address) and fall back to the configured host when it cannot be
// reached.
//
// Not done as the SDK does (none of it matters to firebase-server, and the real service copes):
// no `s` stats request after connecting, no `ls` (last session) parameter on reconnects.
//
// Loop thread only (construction and destruction included). Callbacks run on the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "net/relay_socket.hpp"
#include "strategies/firebase/rtdb_wire.hpp"

namespace trystero::strategies::firebase {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  struct Options {
    std::chrono::milliseconds keepAliveIdle{45000};
    // The SDK's reconnect delays: 1 s, x1.3 after each failure, at most 5 min.
    std::vector<std::chrono::milliseconds> retry = net::RelaySocket::growingRetrySchedule(
        std::chrono::milliseconds(1000), 1.3, std::chrono::milliseconds(5 * 60 * 1000));
    std::size_t maxMessageChars = kDefaultMaxMessageChars;
    // Presented after every handshake (see authAction for `auth` or `gauth`); empty: none.
    std::string authToken;
    // Reconnect to the host the handshake names; unset: only for https databases.
    std::optional<bool> followHandshakeHost;
    // Redirects followed in a row without reaching a handshake.
    int maxRedirects = 3;
  };

  // What the server refused, in its words: a credential (action "auth"/"gauth", or "ac" when
  // the server revoked it later; path empty), a listen ("q", or "c" when revoked) or a write
  // ("p") at path.
  struct Refusal {
    std::string action;
    std::string path;
    std::string status;   // "invalid_token", "expired_token", "permission_denied", ...
    std::string message;  // the server's explanation, if it sent one
    // "reading /a/b refused: permission_denied (Permission denied)"
    std::string describe() const;
  };
  using RefusalHandler = std::function<void(const Refusal&)>;

  struct Stats {
    std::uint64_t handshakes = 0;
    std::uint64_t requestsOut = 0;
    std::uint64_t repliesIn = 0;
    std::uint64_t pushesIn = 0;
    std::uint64_t malformedIn = 0;  // dropped frames the server should not have sent
    std::uint64_t keepAlivesOut = 0;
    std::uint64_t writesFailed = 0;  // `p` answered with something else than ok
    std::uint64_t refusals = 0;      // credentials, listens and writes refused
    std::uint64_t redirects = 0;     // followed
    std::string lastError;
  };

  // The value at the listened path after each change (null when there is nothing).
  using ValueHandler = std::function<void(const nlohmann::json& value)>;
  using Done = std::function<void(const std::string& status)>;

  Connection(loop::Loop& loop, DatabaseUrl db, Options options);
  Connection(loop::Loop& loop, DatabaseUrl db) : Connection(loop, std::move(db), Options{}) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects; call once, after construction (the callbacks hold a weak reference).
  void start();
  // Closes for good: no callbacks after this.
  void close();

  bool connected() const { return handshakeDone_; }
  // f runs (posted) once the handshake is done, now if it is.
  void whenConnected(std::function<void()> f);

  // The server's clock in ms since the epoch, corrected by the handshake's timestamp.
  std::int64_t serverNowMs() const;
  std::string nextPushId() { return pushIds_.next(serverNowMs()); }

  // Listens at path ("/a/b"). handler first runs once the listen is synced, then after every
  // change. Listeners of one path share one `q`. Returns an id for unlisten().
  std::uint64_t listen(const std::string& path, ValueHandler handler);
  void unlisten(std::uint64_t listenerId);

  // `p`: sets (null: removes) the value at path. Queued while disconnected (replacing a queued
  // write to the same path, whose done is then never called), re-sent after a reconnect until
  // the server acknowledges it; done (optional) gets the status.
  void set(const std::string& path, nlohmann::json value, Done done = {});
  // `o` with null: the server removes path when this client disconnects; no reply is awaited.
  // Remembered and sent again after every reconnect unless !restore (short-lived paths such as
  // signals, which their receiver removes: remembering each would grow without bound).
  void onDisconnectRemove(const std::string& path, bool restore = true);
  // Forgets an onDisconnect registration (the JS never cancels them; a left room's paths are
  // removed by us instead, so re-registering them on the next reconnect would be pointless).
  void forgetOnDisconnect(const std::string& path);

  // Refusals from now on, until removeRefusalHandler(id). A handler may remove itself.
  std::uint64_t addRefusalHandler(RefusalHandler handler);
  void removeRefusalHandler(std::uint64_t id);
  // Whether the server accepted our credential on this connection.
  bool authenticated() const { return authenticated_; }
  // The server's last word on our credential when it was a refusal (until it accepts one):
  // for those who start listening after it came.
  const std::optional<Refusal>& authRefusal() const { return authRefusal_; }

  const std::string& url() const { return url_; }
  const std::shared_ptr<net::RelaySocket>& socket() const { return socket_; }
  const Stats& stats() const { return stats_; }

 private:
  struct Listen {
    Subtree tree;
    bool synced = false;
    std::map<std::uint64_t, std::shared_ptr<ValueHandler>> handlers;
  };
  struct Write {
    std::string path;
    nlohmann::json value;
    Done done;
  };
  using ReplyHandler = std::function<void(const ServerMessage&)>;

  void opened();
  void ended();
  void received(std::string_view frame);
  // The relay socket's callbacks.
  void socketMessage(std::string_view data, bool binary);
  void socketClosed(int code, const std::string& reason);
  void socketFailed(const std::string& error);
  void handle(const ServerMessage& message);
  void handshake(const ServerMessage& message);
  void redirect(const std::string& host);
  void sendAuth();
  void refused(Refusal refusal);
  // After the socket closed: a connection to another host instead of the socket's own retry.
  void switchHostIfNeeded(bool hadHandshake);
  void connectLater(const std::string& host, std::chrono::milliseconds delay);
  void replied(const ServerMessage& message);
  void pushed(const ServerMessage& message);
  void restoreState();
  void sendListen(const std::string& path);
  void sendWrite(std::uint64_t writeId);
  void request(std::string_view action, const nlohmann::json& body, ReplyHandler onReply = {});
  void sendFrames(const std::string& message);
  void armKeepAlive();
  void notify(const std::string& path);
  void connectTo(const std::string& host);

  loop::Loop& loop_;
  const DatabaseUrl db_;
  const Options options_;
  std::string host_;           // connected to (the database's, or where the server redirected us)
  std::string handshakeHost_;  // where the last handshake wants the next connection
  int redirectsInARow_ = 0;
  bool authenticated_ = false;
  std::optional<Refusal> authRefusal_;
  std::map<std::uint64_t, std::shared_ptr<RefusalHandler>> refusalHandlers_;
  std::uint64_t nextRefusalHandlerId_ = 1;
  std::set<std::string> warned_;  // action + status refused so far: warned once each
  std::string url_;
  std::shared_ptr<net::RelaySocket> socket_;
  FrameAssembler frames_;
  PushIdGenerator pushIds_;
  bool handshakeDone_ = false;
  bool closed_ = false;
  std::int64_t serverOffsetMs_ = 0;
  std::uint64_t nextRequestId_ = 1;
  std::map<std::uint64_t, ReplyHandler> pendingReplies_;
  std::map<std::string, Listen> listens_;               // by path
  std::map<std::uint64_t, std::string> listenerPaths_;  // listener id -> path
  std::uint64_t nextListenerId_ = 1;
  std::map<std::uint64_t, Write> writes_;  // not acknowledged yet, in order
  std::uint64_t nextWriteId_ = 1;
  std::vector<std::string> onDisconnectRemoves_;
  std::vector<std::function<void()>> whenConnected_;
  loop::Timer keepAliveTimer_;
  loop::Timer redirectTimer_;
  Stats stats_;
};

}  // namespace trystero::strategies::firebase

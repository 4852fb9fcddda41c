// A relay connection that stays up: the counterpart of makeSocket() in trystero's utils.js.
//
// One RelaySocket keeps one WebSocket to a URL alive. When the socket closes (or fails to
// connect) it reconnects after a per-URL delay that is shared process-wide, as in the JS: it
// starts at 3333 ms, doubles after each close and goes back to 3333 ms once a connection opens.
// Unlike the JS the delay is capped (5 minutes by default) so that a long outage does not push
// the next attempt out by hours.
//
// pauseRelayReconnection()/resumeRelayReconnection() hold back every RelaySocket in the
// process (the JS uses them for the browser's offline/online events): a socket that closes while
// paused, or whose retry timer fires while paused, waits; on resume it reconnects at once
// without touching the backoff. Open sockets are not affected.
//
// Threading: loop-thread only, except the free pause/resume functions, the static backoff
// settings, state(), isOpen(), url() and stats(), which are thread-safe. create() may be called
// from any thread (it runs the first connect on the loop thread and waits). Callbacks run on
// the loop thread and may call any method, including close(), and may drop the last reference.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "loop/loop.hpp"
#include "net/websocket.hpp"

namespace trystero::net {

class RelaySocket : public std::enable_shared_from_this<RelaySocket> {
 public:
  enum class State {
    Connecting,  // a WebSocket is connecting
    Open,
    Waiting,  // closed; a retry is scheduled or reconnection is paused
    Closed,   // close() was called; final
  };

  struct Callbacks {
    // Every message from the relay (the JS passes e.data: text for the relays trystero uses).
    std::function<void(std::string_view data, bool binary)> onMessage;
    // Each time a connection opens (first and after every reconnect). The JS has no such hook
    // (its subscriptions are not repeated after a reconnect); strategies that want to re-send
    // subscriptions can use it.
    std::function<void()> onOpen;
    // Each time the underlying socket closes or fails to connect, before the retry is planned.
    std::function<void(int code, const std::string& reason)> onClose;
    // Connection failures and protocol errors, with the URL in the text.
    std::function<void(const std::string& error)> onError;

    // Callbacks that call the owner's member functions for as long as the owner lives (a socket
    // must never keep its owner alive); a null member leaves that callback unset.
    template <class Owner>
    static Callbacks forwardingTo(
        std::weak_ptr<Owner> owner,
        std::type_identity_t<void (Owner::*)(std::string_view, bool)> message,
        std::type_identity_t<void (Owner::*)()> open,
        std::type_identity_t<void (Owner::*)(int, const std::string&)> close,
        std::type_identity_t<void (Owner::*)(const std::string&)> error) {
      Callbacks callbacks;
      if (message) {
        callbacks.onMessage = [owner, message](std::string_view data, bool binary) {
          if (auto self = owner.lock()) ((*self).*message)(data, binary);
        };
      }
      if (open) {
        callbacks.onOpen = [owner, open] {
          if (auto self = owner.lock()) ((*self).*open)();
        };
      }
      if (close) {
        callbacks.onClose = [owner, close](int code, const std::string& reason) {
          if (auto self = owner.lock()) ((*self).*close)(code, reason);
        };
      }
      if (error) {
        callbacks.onError = [owner, error](const std::string& text) {
          if (auto self = owner.lock()) ((*self).*error)(text);
        };
      }
      return callbacks;
    }
  };

  struct Stats {
    std::uint64_t connectAttempts = 0;  // WebSockets created, the first included
    std::uint64_t reconnects = 0;       // connectAttempts - 1, once started
    std::uint64_t opens = 0;            // connections that reached Open
    std::uint64_t messagesIn = 0;
    std::uint64_t messagesOut = 0;  // sends handed to an open socket
    std::uint64_t bytesIn = 0;
    std::uint64_t bytesOut = 0;
    std::uint64_t sendsDropped = 0;  // sends while not open (dropped, as the JS does)
  };

  // Connects at once (the JS has no pause check for the first connect either). retrySchedule:
  // when set, the delays of this socket's successive retries (the last one repeats, and the
  // count starts over once a connection opens) instead of the shared per-URL doubling: clients
  // with their own reconnect timer (the Phoenix socket of Supabase: 1, 2, 5, 10 s) use it.
  static std::shared_ptr<RelaySocket> create(
      loop::Loop& loop, const std::string& url, Callbacks callbacks,
      WebSocket::Options options = {}, std::vector<std::chrono::milliseconds> retrySchedule = {});
  // A retry schedule that starts at base and grows by factor after each failure up to max (the
  // Firebase SDK's: 1 s, x1.3, 5 min), for create()'s retrySchedule.
  static std::vector<std::chrono::milliseconds> growingRetrySchedule(std::chrono::milliseconds base,
                                                                     double factor,
                                                                     std::chrono::milliseconds max);

  // Send while open; otherwise dropped silently (returns false), as client.send does in JS.
  bool send(std::string_view text);
  bool sendBinary(std::span<const std::uint8_t> data);

  // Runs f once the socket is open: now if it is, otherwise at the next open (queued, in
  // order). The queue is dropped by close(). Like awaiting client.ready in the JS.
  void whenOpen(std::function<void()> f);

  // Stops for good: closes the socket (1000), cancels any retry, drops queued whenOpen calls.
  // No callbacks after this.
  void close();

  State state() const { return state_.load(); }
  bool isOpen() const { return state_.load() == State::Open; }
  const std::string& url() const { return url_; }
  Stats stats() const;
  // The current WebSocket (null while waiting or closed); for diagnostics like the JS
  // getRelaySockets(). Loop thread only.
  std::shared_ptr<WebSocket> socket() const { return socket_; }

  // Same as close(), without sending from a foreign thread: the teardown is posted to the loop.
  ~RelaySocket();

  // Process-wide backoff settings. The base is the first delay (3333 ms as in the JS), the cap
  // bounds the doubling. For tests mostly; they also reset the per-URL delays.
  static void setRetryDelays(std::chrono::milliseconds base, std::chrono::milliseconds max);
  static void resetRetryDelays();  // back to 3333 ms / 5 min, per-URL delays forgotten
  // The delay the next close of a socket to url would wait.
  static std::chrono::milliseconds nextRetryDelay(const std::string& url);

  static constexpr std::chrono::milliseconds kDefaultBaseRetryDelay{3333};
  static constexpr std::chrono::milliseconds kDefaultMaxRetryDelay{5 * 60 * 1000};

  RelaySocket(const RelaySocket&) = delete;
  RelaySocket& operator=(const RelaySocket&) = delete;

 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  RelaySocket(PrivateTag, loop::Loop& loop, std::string url, Callbacks callbacks,
              WebSocket::Options options, std::vector<std::chrono::milliseconds> retrySchedule);

 private:
  friend void resumeRelayReconnection();

  void connectNow();
  void handleOpen(std::uint64_t generation);
  void handleMessage(std::uint64_t generation, std::string_view data, bool binary);
  void handleError(std::uint64_t generation, const std::string& error);
  void handleClose(std::uint64_t generation, int code, const std::string& reason);
  void scheduleRetry();
  void retryTimerFired();
  void resumed();
  bool waitIfPaused();

  loop::Loop& loop_;
  const std::string url_;
  std::shared_ptr<Callbacks> callbacks_;  // copied around calls: close() may replace it
  WebSocket::Options options_;
  const std::vector<std::chrono::milliseconds> retrySchedule_;
  std::size_t retriesSinceOpen_ = 0;  // indexes retrySchedule_
  std::atomic<State> state_{State::Connecting};
  std::shared_ptr<WebSocket> socket_;
  std::vector<std::function<void()>> whenOpen_;
  std::uint64_t generation_ = 0;  // tells the current WebSocket's callbacks from stale ones
  loop::Timer retryTimer_;
  bool waitingForResume_ = false;
  bool closed_ = false;

  struct Counters {
    std::atomic<std::uint64_t> connectAttempts{0}, opens{0}, messagesIn{0}, messagesOut{0},
        bytesIn{0}, bytesOut{0}, sendsDropped{0};
  };
  Counters counters_;
};

const char* toString(RelaySocket::State state);

// Thread-safe, callable from any thread. Pausing twice is the same as once; resuming when not
// paused does nothing.
void pauseRelayReconnection();
void resumeRelayReconnection();
bool relayReconnectionPaused();

}  // namespace trystero::net

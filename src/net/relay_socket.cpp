#include "net/relay_socket.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace trystero::net {

namespace {

using std::chrono::milliseconds;

// Process-wide state shared by every RelaySocket on every loop, like the module-level
// socketRetryPeriods and reconnectionLockingPromise of utils.js.
struct Shared {
  std::mutex mutex;
  milliseconds base = RelaySocket::kDefaultBaseRetryDelay;
  milliseconds max = RelaySocket::kDefaultMaxRetryDelay;
  std::unordered_map<std::string, milliseconds> retryDelays;  // per URL
  bool paused = false;
  struct Waiter {
    const RelaySocket* key;
    loop::Loop* loop;
    std::weak_ptr<RelaySocket> socket;
  };
  std::vector<Waiter> waiters;
};

Shared& shared() {
  // Leaked on purpose: sockets released by static destructors may still use it.
  static Shared* instance = new Shared();
  return *instance;
}

// The delay before the next attempt for url; doubles the stored one (JS: retry ??= 3333,
// setTimeout(init, retry), retry *= 2).
milliseconds takeRetryDelay(const std::string& url) {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  auto [it, inserted] = s.retryDelays.try_emplace(url, s.base);
  milliseconds delay = std::min(it->second, s.max);
  it->second = std::min(delay * 2, s.max);
  return delay;
}

void resetRetryDelay(const std::string& url) {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  s.retryDelays[url] = s.base;
}

void removeWaiter(const RelaySocket* key) {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  std::erase_if(s.waiters, [key](const Shared::Waiter& w) { return w.key == key; });
}

}  // namespace

const char* toString(RelaySocket::State state) {
  switch (state) {
    case RelaySocket::State::Connecting:
      return "connecting";
    case RelaySocket::State::Open:
      return "open";
    case RelaySocket::State::Waiting:
      return "waiting";
    case RelaySocket::State::Closed:
      return "closed";
  }
  return "?";
}

void pauseRelayReconnection() {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  s.paused = true;
}

void resumeRelayReconnection() {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  if (!s.paused) return;
  s.paused = false;
  // Posting under the lock: a waiter's socket deregisters (under the same lock) before it is
  // destroyed, so its loop is still alive here.
  for (auto& waiter : s.waiters) {
    waiter.loop->post([weak = std::move(waiter.socket)] {
      if (auto socket = weak.lock()) socket->resumed();
    });
  }
  s.waiters.clear();
}

bool relayReconnectionPaused() {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  return s.paused;
}

void RelaySocket::setRetryDelays(milliseconds base, milliseconds max) {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  s.base = base;
  s.max = std::max(base, max);
  s.retryDelays.clear();
}

void RelaySocket::resetRetryDelays() {
  setRetryDelays(kDefaultBaseRetryDelay, kDefaultMaxRetryDelay);
}

milliseconds RelaySocket::nextRetryDelay(const std::string& url) {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  auto it = s.retryDelays.find(url);
  return std::min(it == s.retryDelays.end() ? s.base : it->second, s.max);
}

RelaySocket::RelaySocket(PrivateTag, loop::Loop& loop, std::string url, Callbacks callbacks,
                         WebSocket::Options options, std::vector<milliseconds> retrySchedule)
    : loop_(loop),
      url_(std::move(url)),
      callbacks_(std::make_shared<Callbacks>(std::move(callbacks))),
      options_(std::move(options)),
      retrySchedule_(std::move(retrySchedule)) {}

std::shared_ptr<RelaySocket> RelaySocket::create(loop::Loop& loop, const std::string& url,
                                                 Callbacks callbacks, WebSocket::Options options,
                                                 std::vector<milliseconds> retrySchedule) {
  auto socket = std::make_shared<RelaySocket>(PrivateTag{}, loop, url, std::move(callbacks),
                                              std::move(options), std::move(retrySchedule));
  loop.invoke([&] { socket->connectNow(); });
  return socket;
}

std::vector<milliseconds> RelaySocket::growingRetrySchedule(milliseconds base, double factor,
                                                            milliseconds max) {
  std::vector<milliseconds> schedule;
  double delay = static_cast<double>(base.count());
  // The last delay repeats; factor <= 1 or base >= max give a one-step schedule.
  while (schedule.size() < 64) {
    auto step = std::min(milliseconds(static_cast<std::int64_t>(delay)), max);
    schedule.push_back(step);
    if (step >= max || factor <= 1.0) break;
    delay *= factor;
  }
  return schedule;
}

RelaySocket::~RelaySocket() {
  removeWaiter(this);
  // socket_ goes with us; the WebSocket closes itself (1001) on its loop thread.
}

RelaySocket::Stats RelaySocket::stats() const {
  Stats s;
  s.connectAttempts = counters_.connectAttempts.load();
  s.reconnects = s.connectAttempts > 0 ? s.connectAttempts - 1 : 0;
  s.opens = counters_.opens.load();
  s.messagesIn = counters_.messagesIn.load();
  s.messagesOut = counters_.messagesOut.load();
  s.bytesIn = counters_.bytesIn.load();
  s.bytesOut = counters_.bytesOut.load();
  s.sendsDropped = counters_.sendsDropped.load();
  return s;
}

void RelaySocket::connectNow() {
  if (closed_) return;
  const std::uint64_t generation = ++generation_;
  state_ = State::Connecting;
  counters_.connectAttempts++;
  std::weak_ptr<RelaySocket> weak = weak_from_this();
  WebSocket::Callbacks cb;
  cb.onOpen = [weak, generation] {
    if (auto self = weak.lock()) self->handleOpen(generation);
  };
  cb.onMessage = [weak, generation](std::string_view data, bool binary) {
    if (auto self = weak.lock()) self->handleMessage(generation, data, binary);
  };
  cb.onError = [weak, generation](const std::string& error) {
    if (auto self = weak.lock()) self->handleError(generation, error);
  };
  cb.onClose = [weak, generation](int code, const std::string& reason) {
    if (auto self = weak.lock()) self->handleClose(generation, code, reason);
  };
  socket_ = WebSocket::connect(loop_, url_, options_, std::move(cb));
}

void RelaySocket::handleOpen(std::uint64_t generation) {
  if (closed_ || generation != generation_) return;
  state_ = State::Open;
  counters_.opens++;
  resetRetryDelay(url_);
  retriesSinceOpen_ = 0;
  auto queue = std::move(whenOpen_);
  whenOpen_.clear();
  for (auto& f : queue) {
    if (closed_) return;
    f();
  }
  if (closed_) return;
  auto callbacks = callbacks_;  // close() inside a callback must not destroy the running one
  if (callbacks->onOpen) callbacks->onOpen();
}

void RelaySocket::handleMessage(std::uint64_t generation, std::string_view data, bool binary) {
  if (closed_ || generation != generation_) return;
  counters_.messagesIn++;
  counters_.bytesIn += data.size();
  auto callbacks = callbacks_;
  if (callbacks->onMessage) callbacks->onMessage(data, binary);
}

void RelaySocket::handleError(std::uint64_t generation, const std::string& error) {
  if (closed_ || generation != generation_) return;
  auto callbacks = callbacks_;
  if (callbacks->onError) callbacks->onError(error);
}

void RelaySocket::handleClose(std::uint64_t generation, int code, const std::string& reason) {
  if (closed_ || generation != generation_) return;
  // The WebSocket is inside its own callback and keeps itself alive until it returns.
  socket_.reset();
  state_ = State::Waiting;
  auto callbacks = callbacks_;
  if (callbacks->onClose) callbacks->onClose(code, reason);
  if (closed_ || generation != generation_) return;
  scheduleRetry();
}

bool RelaySocket::waitIfPaused() {
  auto& s = shared();
  std::lock_guard lock(s.mutex);
  if (!s.paused) return false;
  s.waiters.push_back({this, &loop_, weak_from_this()});
  waitingForResume_ = true;
  return true;
}

void RelaySocket::scheduleRetry() {
  state_ = State::Waiting;
  // JS: while paused, onclose chains init onto the pause promise instead of a timer.
  if (waitIfPaused()) return;
  milliseconds delay =
      retrySchedule_.empty()
          ? takeRetryDelay(url_)
          : retrySchedule_[std::min(retriesSinceOpen_++, retrySchedule_.size() - 1)];
  retryTimer_ = loop_.after(delay, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->retryTimerFired();
  });
}

void RelaySocket::retryTimerFired() {
  retryTimer_ = {};
  if (closed_) return;
  // Unlike the JS, a retry that falls due while paused waits for the resume too.
  if (waitIfPaused()) return;
  connectNow();
}

void RelaySocket::resumed() {
  if (closed_ || !waitingForResume_) return;
  waitingForResume_ = false;
  connectNow();
}

bool RelaySocket::send(std::string_view text) {
  if (state_.load() == State::Open && socket_ && socket_->sendText(text)) {
    counters_.messagesOut++;
    counters_.bytesOut += text.size();
    return true;
  }
  counters_.sendsDropped++;
  return false;
}

bool RelaySocket::sendBinary(std::span<const std::uint8_t> data) {
  if (state_.load() == State::Open && socket_ && socket_->sendBinary(data)) {
    counters_.messagesOut++;
    counters_.bytesOut += data.size();
    return true;
  }
  counters_.sendsDropped++;
  return false;
}

void RelaySocket::whenOpen(std::function<void()> f) {
  if (closed_ || !f) return;
  if (state_.load() == State::Open) {
    f();
    return;
  }
  whenOpen_.push_back(std::move(f));
}

void RelaySocket::close() {
  if (closed_) return;
  closed_ = true;
  state_ = State::Closed;
  removeWaiter(this);
  waitingForResume_ = false;
  retryTimer_.cancel();
  whenOpen_.clear();
  callbacks_ = std::make_shared<Callbacks>();  // releases what the callbacks captured
  if (socket_) {
    socket_->close(1000);
    socket_.reset();  // the WebSocket finishes the closing handshake on its own
  }
}

}  // namespace trystero::net

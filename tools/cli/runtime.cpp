#include "runtime.hpp"

#include <trystero/firebase.hpp>
#include <trystero/mqtt.hpp>
#include <trystero/nostr.hpp>
#include <trystero/supabase.hpp>
#include <trystero/torrent.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

namespace trystero::cli {

void EventQueue::push(std::function<void()> work, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  if (bytes > 0 && bytes_ + bytes > maxBytes_) {
    overflowed_ = true;
  } else {
    items_.push_back({std::move(work), bytes});
    bytes_ += bytes;
  }
  changed_.notify_all();
}

bool EventQueue::overflowed() {
  std::lock_guard lock(mutex_);
  return overflowed_;
}

std::optional<std::function<void()>> EventQueue::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return std::nullopt;
  auto item = std::move(items_.front());
  items_.pop_front();
  bytes_ -= item.bytes;
  changed_.notify_all();
  return std::move(item.work);
}

void EventQueue::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  items_.clear();
  bytes_ = 0;
  changed_.notify_all();
}

namespace {

sigset_t terminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

std::mutex signalMutex;
std::function<void(int)> signalHandler;

}  // namespace

void blockTerminationSignals() {
  auto set = terminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A closed stdout (`trystero pipe | head`) is an error to report, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  std::thread([] {
    auto set = terminationSignals();
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      std::function<void(int)> handler;
      {
        std::lock_guard lock(signalMutex);
        handler = signalHandler;
      }
      if (!handler) std::_Exit(128 + sig);
      handler(sig);
    }
  }).detach();
}

void watchTerminationSignals(std::function<void(int)> onSignal) {
  std::lock_guard lock(signalMutex);
  signalHandler = std::move(onSignal);
}

void Output::event(const nlohmann::json& event, const std::string& human) const {
  std::lock_guard lock(mutex_);
  if (json_) {
    std::cout << event.dump() << std::endl;
  } else if (!human.empty()) {
    if (statusOpen_) std::cerr << "\n";
    statusOpen_ = false;
    std::cerr << human << std::endl;
  }
}

void Output::line(const nlohmann::json& event, const std::string& human) const {
  std::lock_guard lock(mutex_);
  if (json_) {
    std::cout << event.dump() << std::endl;
  } else {
    std::cout << human << std::endl;
  }
}

void Output::error(const std::string& message) const {
  std::lock_guard lock(mutex_);
  if (statusOpen_) std::cerr << "\n";
  statusOpen_ = false;
  std::cerr << "trystero: " << message << std::endl;
  if (json_)
    std::cout << nlohmann::json{{"event", "error"}, {"message", message}}.dump() << std::endl;
}

void Output::verbose(const std::string& message) const {
  if (verbosity_ <= 0) return;
  std::lock_guard lock(mutex_);
  if (statusOpen_) std::cerr << "\n";
  statusOpen_ = false;
  std::cerr << "trystero: " << message << std::endl;
}

bool Output::stderrIsTerminal() const { return isatty(STDERR_FILENO) == 1; }

void Output::status(const std::string& text, bool final) const {
  if (json_) return;
  std::lock_guard lock(mutex_);
  if (isatty(STDERR_FILENO) == 1) {
    std::cerr << "\r\033[K" << text << (final ? "\n" : "") << std::flush;
    statusOpen_ = !final;
  } else {
    std::cerr << text << std::endl;
  }
}

std::string humanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

std::string shortId(const std::string& peerId) { return peerId.substr(0, 8); }

std::span<const std::uint8_t> payloadData(const Payload& payload) {
  if (payload.isBinary()) return payload.bytes();
  if (!payload.isText()) return {};
  const auto& text = payload.text();
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

Progress::Progress(const Output& out, std::string label, std::uint64_t total)
    : out_(out), label_(std::move(label)), total_(total) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::megabytesPerSecond() const {
  double s = seconds();
  return s > 0 ? static_cast<double>(done_) / 1e6 / s : 0;
}

void Progress::update(std::uint64_t done) {
  done_ = std::min(done, total_);
  double fraction = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  auto now = std::chrono::steady_clock::now();
  int decile = static_cast<int>(fraction * 10);
  if (out_.json()) {
    if (decile == lastDecile_) return;
    lastDecile_ = decile;
    out_.event({{"event", "progress"}, {"name", label_}, {"bytes", done_}, {"total", total_}}, "");
    return;
  }
  bool terminal = out_.stderrIsTerminal();
  if (terminal ? now - lastDraw_ < std::chrono::milliseconds(100) : decile == lastDecile_) return;
  lastDraw_ = now;
  lastDecile_ = decile;
  double rate = megabytesPerSecond();
  std::string eta = "--";
  if (rate > 0 && done_ < total_) {
    eta =
        std::to_string(static_cast<long>(static_cast<double>(total_ - done_) / 1e6 / rate + 0.5)) +
        "s";
  }
  char text[256];
  if (terminal) {
    int filled = static_cast<int>(fraction * 24);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(24, '.');
    std::snprintf(text, sizeof text, "%s [%s] %3.0f%% %s/%s %.1f MB/s ETA %s", label_.c_str(),
                  bar.c_str(), fraction * 100, humanBytes(static_cast<double>(done_)).c_str(),
                  humanBytes(static_cast<double>(total_)).c_str(), rate, eta.c_str());
  } else {
    std::snprintf(text, sizeof text, "%s %3.0f%% %s/%s %.1f MB/s ETA %s", label_.c_str(),
                  fraction * 100, humanBytes(static_cast<double>(done_)).c_str(),
                  humanBytes(static_cast<double>(total_)).c_str(), rate, eta.c_str());
  }
  out_.status(text, false);
}

void Progress::finish(bool ok) {
  if (out_.json()) return;
  char text[256];
  std::snprintf(text, sizeof text, "%s %s %s in %.2f s, %.1f MB/s", label_.c_str(),
                ok ? "done:" : "FAILED after", humanBytes(static_cast<double>(done_)).c_str(),
                seconds(), megabytesPerSecond());
  out_.status(text, true);
}

std::vector<RelaySocketInfo> relaySocketsOf(const std::string& strategy) {
  if (strategy == "mqtt") return mqtt::getRelaySockets();
  if (strategy == "torrent") return torrent::getRelaySockets();
  if (strategy == "firebase") return firebase::getRelaySockets();
  if (strategy == "supabase") return supabase::getRelaySockets();
  return nostr::getRelaySockets();
}

namespace {

std::shared_ptr<Room> joinByName(const std::string& strategy, const Config& config,
                                 const std::string& room, JoinErrorHandler onError) {
  if (strategy == "mqtt") return mqtt::joinRoom(config, room, std::move(onError));
  if (strategy == "torrent") return torrent::joinRoom(config, room, std::move(onError));
  if (strategy == "firebase") return firebase::joinRoom(config, room, std::move(onError));
  if (strategy == "supabase") return supabase::joinRoom(config, room, std::move(onError));
  return nostr::joinRoom(config, room, std::move(onError));
}

const char* stateName(RelaySocketInfo::State state) {
  switch (state) {
    case RelaySocketInfo::State::Connecting:
      return "connecting";
    case RelaySocketInfo::State::Open:
      return "open";
    case RelaySocketInfo::State::Waiting:
      return "waiting to reconnect";
    case RelaySocketInfo::State::Closed:
      return "closed";
  }
  return "?";
}

constexpr auto kRelayGrace = std::chrono::seconds(5);

}  // namespace

Session::Session(const Options& options, Output& out) : options_(options), out_(out) {
  std::weak_ptr<EventQueue> weakQueue = queue_;
  watchTerminationSignals([this, weakQueue](int) {
    if (auto queue = weakQueue.lock()) queue->push([this] { stop(kInterrupted); });
  });
  auto config = toConfig(options);
  room_ = joinByName(
      options.strategy, config, options.room, [this, queue = queue_](const JoinError& error) {
        queue->push([this, error] {
          out_.event({{"event", "join-error"}, {"error", error.error}, {"peerId", error.peerId}},
                     "");
          // No peer: the medium refused us (a firebase token or rules), in its own words.
          out_.error("cannot join room '" + error.roomId + "': " + error.error +
                     (error.peerId.empty()
                          ? std::string()
                          : " (peer " + shortId(error.peerId) + "); check --password"));
          stop(kJoinError);
        });
      });
  room_->onPeerJoin([this, queue = queue_](const std::string& peerId) {
    queue->push([this, peerId] {
      peers_.push_back(peerId);
      everJoined_ = true;
      out_.event({{"event", "peer-join"}, {"peerId", peerId}}, "");
      out_.verbose("peer " + peerId + " joined");
      if (onJoin) onJoin(peerId);
    });
  });
  room_->onPeerLeave([this, queue = queue_](const std::string& peerId) {
    queue->push([this, peerId] {
      std::erase(peers_, peerId);
      out_.event({{"event", "peer-leave"}, {"peerId", peerId}}, "");
      out_.verbose("peer " + peerId + " left");
      if (onLeave) onLeave(peerId);
    });
  });
  out_.verbose("joined room '" + options.room + "' of app '" + options.appId + "' via " +
               options.strategy + " as " + selfId());
}

Session::~Session() {
  watchTerminationSignals({});
  queue_->close();
  if (room_) room_->leave().waitFor(std::chrono::seconds(2));
}

void Session::reportRelayHealth() {
  if (relaysReported_ || everJoined_) return;
  if (std::chrono::steady_clock::now() - started_ < kRelayGrace) return;
  relaysReported_ = true;
  for (const auto& socket : relaySocketsOf(options_.strategy)) {
    if (socket.state == RelaySocketInfo::State::Open) continue;
    out_.event(
        {{"event", "relay-unreachable"}, {"url", socket.url}, {"state", stateName(socket.state)}},
        "");
    out_.error("relay " + socket.url + " is not reachable (" + stateName(socket.state) +
               "; retrying in the background)");
  }
}

int Session::runUntil(const std::function<bool()>& done, bool timed) {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timed && options_.timeoutSeconds) {
    deadline =
        started_ + std::chrono::milliseconds(static_cast<long>(*options_.timeoutSeconds * 1000));
  }
  for (;;) {
    if (stopCode_) return *stopCode_;
    if (queue_->overflowed()) {
      out_.error("peers sent more than " + humanBytes(static_cast<double>(queue_->maxBytes())) +
                 " faster than it could be written out; giving up");
      return kFailed;
    }
    if (done()) return kOk;
    if (deadline && std::chrono::steady_clock::now() > *deadline) {
      std::string unreachable;
      for (const auto& socket : relaySocketsOf(options_.strategy)) {
        if (socket.state != RelaySocketInfo::State::Open) unreachable += " " + socket.url;
      }
      out_.error(everJoined_ ? "timed out"
                 : unreachable.empty()
                     ? "timed out: no peer joined the room"
                     : "timed out: no peer joined; relays not reachable:" + unreachable);
      return kTimedOut;
    }
    if (auto work = queue_->pop(std::chrono::milliseconds(100))) (*work)();
    reportRelayHealth();
  }
}

int Session::runUntil(const std::function<bool()>& done,
                      std::chrono::steady_clock::time_point deadline) {
  return runUntil([&] { return std::chrono::steady_clock::now() > deadline || done(); }, false);
}

int Session::waitForPeers(std::size_t count) {
  return runUntil([&] { return peers_.size() >= count; }, true);
}

int Session::waitFor(const Future<void>& future) {
  return runUntil([&] { return future.ready(); }, false);
}

void Session::receive(const Action& action, MessageHandler handler, bool counted) {
  // Called on the network thread: it only copies the message into the queue (see EventQueue).
  auto shared = std::make_shared<MessageHandler>(std::move(handler));
  action.receive([queue = queue_, shared, counted](
                     const Payload& payload, const std::string& peerId, const Metadata& meta) {
    auto bytes = counted ? payloadData(payload).size() : 0;
    queue->push([shared, payload, peerId, meta] { (*shared)(payload, peerId, meta); }, bytes);
  });
}

}  // namespace trystero::cli

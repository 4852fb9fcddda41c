// What every room command shares: the main-thread event queue that network callbacks feed,
// signal handling, human/JSON output, joining with join-error and relay-health reporting.
//
// Threads: the library calls our callbacks on its network thread; they only copy what they
// got into the queue. All command state lives on the main thread, which drains the queue.
#pragma once

#include <trystero/trystero.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "options.hpp"

namespace trystero::cli {

enum ExitCode : int {
  kOk = 0,
  kFailed = 1,
  kUsage = 2,
  kJoinError = 3,
  kTimedOut = 4,
  kInterrupted = 130,
};

// Work for the main thread, pushed by the library's network thread. push() never waits: a
// network callback that blocked would stall every peer's ICE, DTLS and SCTP timers, and could
// deadlock against a main thread waiting on the network thread. Memory stays bounded by the
// commands' end-to-end flow control instead (the receiving side acknowledges what it wrote:
// "pipe-ack", "file-part"); a peer that ignores it (a browser app, a hostile peer) and gets
// more than maxBytes waiting overflows the queue, and the command fails.
class EventQueue {
 public:
  explicit EventQueue(std::size_t maxBytes = 256 * 1024 * 1024) : maxBytes_(maxBytes) {}
  void push(std::function<void()> work, std::size_t bytes = 0);
  // The next piece of work, or nullopt after `timeout`.
  std::optional<std::function<void()>> pop(std::chrono::milliseconds timeout);
  // Later pushes are dropped: the consumer is gone.
  void close();
  // More than maxBytes of payload were pushed while waiting: that work was dropped.
  bool overflowed();
  std::size_t maxBytes() const { return maxBytes_; }

 private:
  struct Item {
    std::function<void()> work;
    std::size_t bytes;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> items_;
  std::size_t bytes_ = 0;
  std::size_t maxBytes_;
  bool closed_ = false;
  bool overflowed_ = false;
};

// SIGINT/SIGTERM become a call of onSignal on a thread of their own. Call first thing in
// main(), before any other thread exists, so that every thread inherits the blocked mask.
void blockTerminationSignals();
void watchTerminationSignals(std::function<void(int)> onSignal);

// Human text on stderr (or stdout for chat lines); JSON lines on stdout with --json.
class Output {
 public:
  explicit Output(const Options& options) : json_(options.json), verbosity_(options.verbosity) {}
  bool json() const { return json_; }
  // An event: JSON mode prints `event`; human mode prints `human` (if not empty) on stderr.
  void event(const nlohmann::json& event, const std::string& human) const;
  // A line for stdout in human mode (chat), or the event in JSON mode.
  void line(const nlohmann::json& event, const std::string& human) const;
  void error(const std::string& message) const;    // always on stderr
  void verbose(const std::string& message) const;  // with -v
  // A line that keeps being rewritten on a terminal (progress bars); plain lines elsewhere.
  void status(const std::string& text, bool final) const;
  bool stderrIsTerminal() const;

 private:
  bool json_;
  int verbosity_;
  mutable std::mutex mutex_;
  mutable bool statusOpen_ = false;
};

// Progress of one transfer: a bar with rate and ETA on a terminal, a line per 10% elsewhere,
// progress events with --json.
class Progress {
 public:
  Progress(const Output& out, std::string label, std::uint64_t total);
  void update(std::uint64_t done);
  void finish(bool ok);
  double seconds() const;
  double megabytesPerSecond() const;

 private:
  const Output& out_;
  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastDraw_{};
  int lastDecile_ = -1;
};

std::string humanBytes(double bytes);
std::string shortId(const std::string& peerId);
// The bytes of a binary or text message (a view into the payload); empty for JSON.
std::span<const std::uint8_t> payloadData(const Payload& payload);

// A joined room plus what the commands watch: peers joining/leaving, join errors, interruption.
class Session {
 public:
  Session(const Options& options, Output& out);
  ~Session();  // leaves the room

  Room& room() { return *room_; }
  // Callbacks of the network thread hold the queue, not the session: once the session is gone
  // their work is dropped.
  const std::shared_ptr<EventQueue>& queue() { return queue_; }
  const Output& out() const { return out_; }

  // Runs queued work until done() returns true; returns an exit code: kOk when done, or
  // kJoinError / kTimedOut (no peer by --timeout, when `timed` is set) / kInterrupted.
  int runUntil(const std::function<bool()>& done, bool timed);
  // runUntil() until done() returns true or the deadline has passed (kOk either way).
  int runUntil(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline);
  // runUntil() until at least `count` peers are in the room, within --timeout.
  int waitForPeers(std::size_t count);
  // runUntil() until the future is ready (its result is the caller's to take).
  int waitFor(const Future<void>& future);

  // Every message of `action`, handled on the main thread in order. With `counted`, its bytes
  // count towards the queue's bound (data, as opposed to small control messages).
  using MessageHandler =
      std::function<void(const Payload&, const std::string& peerId, const Metadata&)>;
  void receive(const Action& action, MessageHandler handler, bool counted = false);
  // Makes runUntil return `code` (from the main thread).
  void stop(int code) { stopCode_ = code; }

  // Called on the main thread, in the order the events happened.
  std::function<void(const std::string&)> onJoin, onLeave;
  const std::vector<std::string>& peers() const { return peers_; }

 private:
  void reportRelayHealth();

  const Options& options_;
  Output& out_;
  std::shared_ptr<EventQueue> queue_ = std::make_shared<EventQueue>();
  std::shared_ptr<Room> room_;
  std::vector<std::string> peers_;
  std::optional<int> stopCode_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool relaysReported_ = false;
  bool everJoined_ = false;
};

std::vector<RelaySocketInfo> relaySocketsOf(const std::string& strategy);

}  // namespace trystero::cli

// `trystero pipe`: netcat over a room. Once a peer is there, stdin goes to every peer as binary
// messages on the action "pipe" (each read of up to 256 KiB is one message); at end of input
// "pipe-end" {bytes: total sent} follows. Binary messages from peers go to stdout as they come;
// once a peer's announced total has arrived we confirm it with "pipe-done" {bytes}. It ends when
// its own input is done and confirmed by a peer, and the whole input of every peer that began
// sending has arrived: a send completing only means the data left this process, so nobody
// leaves while data is in flight.
//
// Each "pipe" message carries metadata {offset}: where it starts in the sender's input. A peer
// that joins after the input began gets only what is sent from then on; it says so on stderr
// and counts from its first offset, so it still completes instead of waiting for bytes that
// were sent before it was there.
//
// Flow control: a receiving pipe says "pipe-ack" {hello: true} when a peer joins, and
// {bytes: offset written to stdout} on its first message and after every MiB it writes; the
// sender keeps at most kWindowBytes beyond the least a peer acknowledged (peers that never
// acknowledge, like a browser app, are not waited for). A hello counts as "has what you send
// from now on": it came over the connection every later send uses. So a slow stdout slows the
// sender down instead of filling memory, and no thread ever waits inside a network callback.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "commands.hpp"

namespace trystero::cli {

namespace {

constexpr std::size_t kReadBytes = 256 * 1024;
constexpr std::size_t kMessageBytes = 1024 * 1024;
constexpr std::uint64_t kWindowBytes = 16 * 1024 * 1024;
constexpr std::uint64_t kAckEveryBytes = 1024 * 1024;

// What the peers acknowledged of our input; shared by the network thread (acks), the main
// thread (leaves) and the reader thread (waits).
struct Flow {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, std::uint64_t> acked;  // peers that acknowledge
  std::uint64_t sent = 0;                      // input offset of the next message
  bool stopped = false;

  void ack(const std::string& peerId, std::uint64_t bytes) {
    std::lock_guard lock(mutex);
    raise(peerId, bytes);
  }
  void hello(const std::string& peerId) {
    std::lock_guard lock(mutex);
    raise(peerId, sent);
  }
  void forget(const std::string& peerId) {
    std::lock_guard lock(mutex);
    acked.erase(peerId);
    changed.notify_all();
  }
  void stop() {
    std::lock_guard lock(mutex);
    stopped = true;
    changed.notify_all();
  }
  // Reader thread: waits until sending more keeps within the window of every acknowledging
  // peer, then counts `bytes` as sent; returns the input offset they start at.
  std::uint64_t reserve(std::size_t bytes) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] {
      if (stopped || acked.empty()) return true;
      std::uint64_t least = UINT64_MAX;
      for (const auto& [id, value] : acked) least = std::min(least, value);
      return sent <= least + kWindowBytes;
    });
    auto offset = sent;
    sent += bytes;
    return offset;
  }

 private:
  void raise(const std::string& peerId, std::uint64_t bytes) {
    auto& value = acked[peerId];
    value = std::max(value, bytes);
    changed.notify_all();
  }
};

bool writeAll(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The reader thread's work: it owns stdin and the sends of our input. Messages of one action
// may complete out of order when several are in flight (chunks are interleaved, as in the JS),
// so one message is in flight while the next one accumulates.
class InputReader {
 public:
  InputReader(ActionSender pipe, ActionSender pipeEnd, std::shared_ptr<Flow> flow)
      : pipe_(std::move(pipe)), pipeEnd_(std::move(pipeEnd)), flow_(std::move(flow)) {}

  // Sends all of stdin, then pipe-end; returns why sending failed, empty if it did not.
  std::string run() {
    bool eof = false;
    while (!eof && failure_.empty()) {
      auto n = readMore();
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      eof = !readAvailable();
      sendPending();
    }
    if (inflight_) settle(*inflight_);
    if (failure_.empty()) {
      auto end = pipeEnd_(nlohmann::json{{"bytes", sent_}});
      settle(end);
    }
    return failure_;
  }
  // The input offset after what was sent.
  std::uint64_t sent() const { return sent_; }

 private:
  // Appends up to kReadBytes from stdin to pending_; read()'s result.
  ssize_t readMore() {
    auto old = pending_.size();
    pending_.resize(old + kReadBytes);
    auto n = ::read(STDIN_FILENO, pending_.data() + old, kReadBytes);
    pending_.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    return n;
  }
  // Takes what else is already there, up to a message's worth, without blocking; false at the
  // end of input.
  bool readAvailable() {
    pollfd input{STDIN_FILENO, POLLIN, 0};
    while (pending_.size() < kMessageBytes && ::poll(&input, 1, 0) > 0) {
      if (readMore() <= 0) return false;
    }
    return true;
  }
  // Once the previous message is out and the peers' window allows it.
  void sendPending() {
    if (inflight_) settle(*inflight_);
    auto offset = flow_->reserve(pending_.size());
    sent_ = offset + pending_.size();
    inflight_ = pipe_(Payload(std::move(pending_)), {}, nlohmann::json{{"offset", offset}});
    pending_.clear();
  }
  void settle(Future<void>& f) {
    try {
      f.get();
    } catch (const std::exception& e) {
      failure_ = e.what();
    }
  }

  ActionSender pipe_;
  ActionSender pipeEnd_;
  std::shared_ptr<Flow> flow_;
  std::optional<Future<void>> inflight_;
  Bytes pending_;
  std::string failure_;
  std::uint64_t sent_ = 0;
};

std::uint64_t bytesField(const Payload& payload) {
  return payload.isJson() && payload.json().is_object()
             ? payload.json().value("bytes", std::uint64_t{0})
             : std::uint64_t{0};
}

// `trystero pipe` on the main thread: what each peer sent us, and what they confirmed of ours.
class PipeCommand {
 public:
  PipeCommand(const Options& options, Output& out);
  int run();

 private:
  // Offsets are positions in that peer's input; `start` is where our copy of it begins.
  struct Remote {
    std::optional<std::uint64_t> start;
    std::uint64_t position = 0;              // offset after what we wrote out
    std::uint64_t acked = 0;                 // what we last acknowledged
    std::optional<std::uint64_t> announced;  // its pipe-end
    bool complete = false;                   // all of it arrived (and we said so)
  };
  void receiveAcks();
  void onData(const std::string& peerId, const Metadata& meta, std::span<const std::uint8_t> bytes);
  void checkComplete(const std::string& peerId);
  void acknowledge(const std::string& peerId, bool first);
  void onLeave(const std::string& peerId);
  void startReader();
  void readerDone(std::uint64_t sent, const std::string& failure);
  bool confirmed() const { return sentTotal_ && confirmedBytes_ == sentTotal_; }
  bool inputsComplete() const;

  const Options& options_;
  Output& out_;
  Session session_;
  Action pipe_;
  Action pipeEnd_;
  Action pipeDone_;
  Action pipeAck_;
  std::shared_ptr<Flow> flow_ = std::make_shared<Flow>();
  std::map<std::string, Remote> remotes_;
  std::optional<std::uint64_t> sentTotal_;  // set when our input is done and sent
  // What a peer said it has of our input; it may say so before our own reader thread has
  // reported the total, so the two are compared only when both are known.
  std::optional<std::uint64_t> confirmedBytes_;
  std::uint64_t bytesIn_ = 0;
};

PipeCommand::PipeCommand(const Options& options, Output& out)
    : options_(options),
      out_(out),
      session_(options, out),
      pipe_(session_.room().makeAction(kPipeAction)),
      pipeEnd_(session_.room().makeAction(kPipeEndAction)),
      pipeDone_(session_.room().makeAction(kPipeDoneAction)),
      pipeAck_(session_.room().makeAction(kPipeAckAction)) {
  receiveAcks();
  session_.receive(
      pipe_,
      [this](const Payload& payload, const std::string& peerId, const Metadata& meta) {
        onData(peerId, meta, payloadData(payload));
      },
      /*counted=*/true);
  session_.receive(pipeEnd_,
                   [this](const Payload& payload, const std::string& peerId, const Metadata&) {
                     remotes_[peerId].announced = bytesField(payload);
                     checkComplete(peerId);
                   });
  session_.receive(pipeDone_, [this](const Payload& payload, const std::string&, const Metadata&) {
    confirmedBytes_ = std::max(confirmedBytes_.value_or(0), bytesField(payload));
  });
  session_.onLeave = [this](const std::string& peerId) { onLeave(peerId); };
}

// Acks go to the flow on the network thread itself: a hello means "from what you have sent
// now on", which only the network thread's order of events tells.
void PipeCommand::receiveAcks() {
  pipeAck_.receive(
      [flow = flow_](const Payload& payload, const std::string& peerId, const Metadata&) {
        if (!payload.isJson() || !payload.json().is_object()) return;
        const auto& ack = payload.json();
        if (ack.value("hello", false)) {
          flow->hello(peerId);
        } else if (ack.contains("bytes") && ack["bytes"].is_number_unsigned()) {
          flow->ack(peerId, ack["bytes"].get<std::uint64_t>());
        }
      });
  // Telling a new peer we acknowledge lets it apply the window from its first byte.
  session_.onJoin = [this](const std::string& peerId) {
    pipeAck_.send(nlohmann::json{{"hello", true}}, Targets(peerId));
  };
}

void PipeCommand::onData(const std::string& peerId, const Metadata& meta,
                         std::span<const std::uint8_t> bytes) {
  auto& remote = remotes_[peerId];
  if (!remote.start) {
    // A browser app sends no offset: its messages follow each other.
    std::uint64_t offset = 0;
    if (meta && meta->is_object() && meta->contains("offset") &&
        (*meta)["offset"].is_number_unsigned()) {
      offset = (*meta)["offset"].get<std::uint64_t>();
    }
    remote.start = offset;
    remote.position = offset;
    if (offset > 0) {
      out_.error("joined the pipe of peer " + shortId(peerId) + " after " +
                 humanBytes(static_cast<double>(offset)) +
                 " had been sent; those bytes are not replayed");
    }
    acknowledge(peerId, true);
  }
  if (!writeAll(STDOUT_FILENO, bytes.data(), bytes.size())) {
    out_.error("cannot write to stdout (closed?)");
    session_.stop(kFailed);
    return;
  }
  bytesIn_ += bytes.size();
  remote.position += bytes.size();
  acknowledge(peerId, false);
  checkComplete(peerId);
}

void PipeCommand::checkComplete(const std::string& peerId) {
  auto& remote = remotes_[peerId];
  if (remote.complete || !remote.announced || remote.position < *remote.announced) return;
  remote.complete = true;
  pipeDone_.send(nlohmann::json{{"bytes", remote.position}}, Targets(peerId));
}

void PipeCommand::acknowledge(const std::string& peerId, bool first) {
  auto& remote = remotes_[peerId];
  if (!first && remote.position - remote.acked < kAckEveryBytes) return;
  remote.acked = remote.position;
  pipeAck_.send(nlohmann::json{{"bytes", remote.position}}, Targets(peerId));
}

void PipeCommand::onLeave(const std::string& peerId) {
  flow_->forget(peerId);
  auto it = remotes_.find(peerId);
  bool theirsDone = it != remotes_.end() && it->second.complete;
  bool midStream =
      it != remotes_.end() && !theirsDone && (it->second.start || it->second.announced);
  if (!midStream && ((theirsDone && confirmed()) || !session_.peers().empty())) return;
  out_.error("peer " + shortId(peerId) + " left before the pipe was done");
  session_.stop(kFailed);
}

// Every peer that began sending to us has finished (one that sent only an empty input is done
// at once, and must not end a pipe another peer is still streaming), and one at least did.
bool PipeCommand::inputsComplete() const {
  bool any = false;
  for (const auto& [id, remote] : remotes_) {
    if (!remote.complete && (remote.start || remote.announced)) return false;
    any = any || remote.complete;
  }
  return any;
}

// The reader thread reports back through the queue, whose work is dropped once we are gone.
void PipeCommand::startReader() {
  std::thread([queue = session_.queue(), reader = InputReader(pipe_.send, pipeEnd_.send, flow_),
               this]() mutable {
    auto failure = reader.run();
    queue->push([this, sent = reader.sent(), failure] { readerDone(sent, failure); });
  }).detach();
}

void PipeCommand::readerDone(std::uint64_t sent, const std::string& failure) {
  sentTotal_ = sent;
  if (!failure.empty()) {
    out_.error("sending failed: " + failure);
    session_.stop(kFailed);
  }
}

int PipeCommand::run() {
  int code = session_.waitForPeers(1);
  if (code != kOk) return code;
  out_.event({{"event", "piping"}, {"peers", session_.peers()}}, "");
  startReader();
  code = session_.runUntil([this] { return confirmed() && inputsComplete(); }, false);
  flow_->stop();
  auto bytesOut = sentTotal_.value_or(0);
  out_.event({{"event", "pipe-done"}, {"bytesIn", bytesIn_}, {"bytesOut", bytesOut}},
             options_.verbosity > 0
                 ? "pipe: " + humanBytes(static_cast<double>(bytesOut)) + " out, " +
                       humanBytes(static_cast<double>(bytesIn_)) + " in"
                 : "");
  return code;
}

}  // namespace

int runPipe(const Options& options, Output& out) { return PipeCommand(options, out).run(); }

}  // namespace trystero::cli

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

}  // namespace

int runPipe(const Options& options, Output& out) {
  Session session(options, out);
  auto pipe = session.room().makeAction(kPipeAction);
  auto pipeEnd = session.room().makeAction(kPipeEndAction);
  auto pipeDone = session.room().makeAction(kPipeDoneAction);
  auto pipeAck = session.room().makeAction(kPipeAckAction);
  auto queue = session.queue();
  auto flow = std::make_shared<Flow>();

  // Offsets are positions in that peer's input; `start` is where our copy of it begins.
  struct Remote {
    std::optional<std::uint64_t> start;
    std::uint64_t position = 0;              // offset after what we wrote out
    std::uint64_t acked = 0;                 // what we last acknowledged
    std::optional<std::uint64_t> announced;  // its pipe-end
    bool complete = false;                   // all of it arrived (and we said so)
  };
  std::map<std::string, Remote> remotes;
  std::optional<std::uint64_t> sentTotal;  // set when our input is done and sent
  // What a peer said it has of our input; it may say so before our own reader thread has
  // reported the total, so the two are compared only when both are known.
  std::optional<std::uint64_t> confirmedBytes;
  auto confirmed = [&] { return sentTotal && confirmedBytes == sentTotal; };
  std::uint64_t bytesIn = 0;

  auto checkComplete = [&](const std::string& peerId) {
    auto& remote = remotes[peerId];
    if (remote.complete || !remote.announced || remote.position < *remote.announced) return;
    remote.complete = true;
    pipeDone.send(nlohmann::json{{"bytes", remote.position}}, Targets(peerId));
  };
  auto acknowledge = [&](const std::string& peerId, bool first) {
    auto& remote = remotes[peerId];
    if (!first && remote.position - remote.acked < kAckEveryBytes) return;
    remote.acked = remote.position;
    pipeAck.send(nlohmann::json{{"bytes", remote.position}}, Targets(peerId));
  };
  pipeAck.receive([flow](const Payload& payload, const std::string& peerId, const Metadata&) {
    if (!payload.isJson() || !payload.json().is_object()) return;
    const auto& ack = payload.json();
    if (ack.value("hello", false)) {
      flow->hello(peerId);
    } else if (ack.contains("bytes") && ack["bytes"].is_number_unsigned()) {
      flow->ack(peerId, ack["bytes"].get<std::uint64_t>());
    }
  });
  // Telling a new peer we acknowledge lets it apply the window from its first byte.
  session.onJoin = [&](const std::string& peerId) {
    pipeAck.send(nlohmann::json{{"hello", true}}, Targets(peerId));
  };

  pipe.receive([queue, &session, &out, &bytesIn, &remotes, checkComplete, acknowledge](
                   const Payload& payload, const std::string& peerId, const Metadata& meta) {
    Bytes bytes = payload.isBinary() ? payload.bytes()
                  : payload.isText() ? Bytes(payload.text().begin(), payload.text().end())
                                     : Bytes();
    auto size = bytes.size();
    // A browser app sends no offset: its messages follow each other.
    std::optional<std::uint64_t> offset;
    if (meta && meta->is_object() && meta->contains("offset") &&
        (*meta)["offset"].is_number_unsigned()) {
      offset = (*meta)["offset"].get<std::uint64_t>();
    }
    queue->push(
        [&session, &out, &bytesIn, &remotes, checkComplete, acknowledge, peerId, offset,
         bytes = std::move(bytes)] {
          auto& remote = remotes[peerId];
          if (!remote.start) {
            remote.start = offset.value_or(0);
            remote.position = *remote.start;
            if (*remote.start > 0) {
              out.error("joined the pipe of peer " + shortId(peerId) + " after " +
                        humanBytes(static_cast<double>(*remote.start)) +
                        " had been sent; those bytes are not replayed");
            }
            acknowledge(peerId, true);
          }
          if (!writeAll(STDOUT_FILENO, bytes.data(), bytes.size())) {
            out.error("cannot write to stdout (closed?)");
            session.stop(kFailed);
            return;
          }
          bytesIn += bytes.size();
          remote.position += bytes.size();
          acknowledge(peerId, false);
          checkComplete(peerId);
        },
        size);
  });
  pipeEnd.receive([queue, &remotes, checkComplete](const Payload& payload,
                                                   const std::string& peerId, const Metadata&) {
    auto total = payload.isJson() && payload.json().is_object()
                     ? payload.json().value("bytes", std::uint64_t{0})
                     : std::uint64_t{0};
    queue->push([&remotes, checkComplete, peerId, total] {
      remotes[peerId].announced = total;
      checkComplete(peerId);
    });
  });
  pipeDone.receive(
      [queue, &confirmedBytes](const Payload& payload, const std::string&, const Metadata&) {
        auto total = payload.isJson() && payload.json().is_object()
                         ? payload.json().value("bytes", std::uint64_t{0})
                         : std::uint64_t{0};
        queue->push([&confirmedBytes, total] {
          confirmedBytes = std::max(confirmedBytes.value_or(0), total);
        });
      });
  session.onLeave = [&](const std::string& peerId) {
    flow->forget(peerId);
    auto it = remotes.find(peerId);
    bool theirsDone = it != remotes.end() && it->second.complete;
    bool midStream =
        it != remotes.end() && !theirsDone && (it->second.start || it->second.announced);
    if (!midStream && ((theirsDone && confirmed()) || !session.peers().empty())) return;
    out.error("peer " + shortId(peerId) + " left before the pipe was done");
    session.stop(kFailed);
  };

  int code = session.runUntil([&] { return !session.peers().empty(); }, true);
  if (code != kOk) return code;
  out.event({{"event", "piping"}, {"peers", session.peers()}}, "");

  // The reader thread owns stdin and the sends; it reports back through the queue.
  // Messages of one action may complete out of order when several are in flight (chunks are
  // interleaved, as in the JS), so one message is in flight while the next one accumulates.
  std::thread([queue, pipe, pipeEnd, flow, &sentTotal, &session, &out] {
    std::optional<Future<void>> inflight;
    Bytes pending;
    std::string failure;
    std::uint64_t sent = 0;
    auto settle = [&](Future<void>& f) {
      try {
        f.get();
      } catch (const std::exception& e) {
        failure = e.what();
      }
    };
    // Appends up to kReadBytes from stdin to pending; read()'s result.
    auto readMore = [&pending] {
      auto old = pending.size();
      pending.resize(old + kReadBytes);
      auto n = ::read(STDIN_FILENO, pending.data() + old, kReadBytes);
      pending.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
      return n;
    };
    bool eof = false;
    while (!eof && failure.empty()) {
      auto n = readMore();
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      // Take what else is already there, up to a message's worth, without blocking.
      pollfd input{STDIN_FILENO, POLLIN, 0};
      while (pending.size() < kMessageBytes && ::poll(&input, 1, 0) > 0) {
        if (readMore() <= 0) {
          eof = true;
          break;
        }
      }
      if (inflight) settle(*inflight);
      auto offset = flow->reserve(pending.size());
      sent = offset + pending.size();
      inflight = pipe.send(Payload(std::move(pending)), {}, nlohmann::json{{"offset", offset}});
      pending.clear();
    }
    if (inflight) settle(*inflight);
    if (failure.empty()) {
      auto end = pipeEnd.send(nlohmann::json{{"bytes", sent}});
      settle(end);
    }
    queue->push([&sentTotal, &session, &out, failure, sent] {
      sentTotal = sent;
      if (!failure.empty()) {
        out.error("sending failed: " + failure);
        session.stop(kFailed);
      }
    });
  }).detach();

  // Every peer that began sending to us has finished (one that sent only an empty input is done
  // at once, and must not end a pipe another peer is still streaming), and one at least did.
  auto inputsComplete = [&] {
    bool any = false;
    for (const auto& [id, remote] : remotes) {
      if (!remote.complete && (remote.start || remote.announced)) return false;
      any = any || remote.complete;
    }
    return any;
  };
  code = session.runUntil([&] { return confirmed() && inputsComplete(); }, false);
  flow->stop();
  out.event({{"event", "pipe-done"}, {"bytesIn", bytesIn}, {"bytesOut", sentTotal.value_or(0)}},
            options.verbosity > 0
                ? "pipe: " + humanBytes(static_cast<double>(sentTotal.value_or(0))) + " out, " +
                      humanBytes(static_cast<double>(bytesIn)) + " in"
                : "");
  return code;
}

}  // namespace trystero::cli

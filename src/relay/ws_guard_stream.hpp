// A GIOStream for the relay server's WebSocket connections that watches what libsoup reads and
// writes, for two bounds libsoup 3.2 does not keep itself:
//  - message size: libsoup caps one frame's payload, but reassembles a fragmented message
//    without limit. The guard parses the client's frame headers as the bytes pass through and
//    stops the input before a frame that would take the message past maxMessageBytes;
//  - outgoing backlog: libsoup queues whatever is sent, with no way to ask how much is still
//    waiting. The guard counts what the server queues (queued()) and the pongs libsoup owes for
//    the client's pings against what reaches the socket.
// Loop thread only (the thread whose context the stream's sources are attached to).
#pragma once

#include <gio/gio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace trystero::relay {

class StreamGuard {
 public:
  enum class Trip {
    MessageTooBig,  // input stopped; the owner should close with 1009, then call endInput()
    Backlog,        // the client's pings owe more pongs than the backlog allows
  };

  // onTrip runs inside a read of libsoup's: it must not call into the connection (post).
  StreamGuard(std::size_t maxMessageBytes, std::size_t maxBacklogBytes,
              std::function<void(Trip)> onTrip);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

  // Bytes read from the client (frames as RFC 6455 sends them client to server). Returns how
  // many may be handed to libsoup: all of them, unless a data frame would take its message past
  // maxMessageBytes; then only those before that frame (the guard trips, and reads pass
  // nothing from now on).
  std::size_t scanIncoming(const std::uint8_t* data, std::size_t size);
  bool inputStopped() const { return inputStopped_; }
  bool inputEnded() const { return inputEnded_; }
  // After the close frame went out: reads report end of stream, so libsoup closes the
  // connection at once instead of waiting for a reply it will never see.
  void endInput();

  // Server-side accounting of libsoup's outgoing queue.
  void queued(std::size_t frameBytes) { backlog_ += frameBytes; }
  void written(std::size_t bytes) { backlog_ = bytes >= backlog_ ? 0 : backlog_ - bytes; }
  std::size_t backlog() const { return backlog_; }

  // Loop thread: the source a reader waits on while the input is stopped (woken by endInput()).
  void setStoppedSource(GSource* source);

 private:
  void trip(Trip what);

  const std::size_t maxMessageBytes_;
  const std::size_t maxBacklogBytes_;
  std::function<void(Trip)> onTrip_;
  // Frame header parser.
  std::uint8_t header_[14] = {};
  std::size_t headerHave_ = 0;
  std::uint64_t payloadLeft_ = 0;
  std::uint64_t messageBytes_ = 0;
  bool inputStopped_ = false;
  bool inputEnded_ = false;
  bool backlogTripped_ = false;
  std::size_t backlog_ = 0;
  GSource* stoppedSource_ = nullptr;
};

// Bytes of a server-to-client frame (unmasked header + payload).
std::size_t serverFrameBytes(std::size_t payload);

// A new stream over base (a reference is taken) whose input and output go through guard.
// Closing it closes base. Loop thread only.
GIOStream* newGuardedStream(GIOStream* base, std::shared_ptr<StreamGuard> guard);

}  // namespace trystero::relay

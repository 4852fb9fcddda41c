// A GIOStream between a WebSocket's socket and libsoup that watches what libsoup reads and, on
// request, writes, for bounds libsoup 3.2 does not keep itself:
//  - message size: libsoup caps the payload of one frame but reassembles a fragmented message
//    without limit, so a peer sending one huge message in many frames could grow the process
//    without bound. The guard parses the peer's frame headers as the bytes pass through and
//    stops the input before a data frame that would take its message past the limit;
//  - outgoing backlog (optional; the relay server's): libsoup queues whatever is sent, with no
//    way to ask how much is still waiting. The guard counts what the owner queues (queued()) and
//    the pongs libsoup owes for the peer's pings against what reaches the socket.
// The stream can also hand libsoup bytes that were read past the end of the HTTP handshake (the
// client reads the handshake itself).
// Loop thread only (the thread whose context the stream's sources are attached to).
#pragma once

#include <gio/gio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace trystero::net {

class WebSocketGuard {
 public:
  enum class Trip {
    MessageTooBig,  // input stopped; the owner should close with 1009, then call endInput()
    Backlog,        // the peer's pings owe more pongs than maxBacklogBytes allows
  };

  struct Limits {
    std::size_t maxMessageBytes = 0;  // of one reassembled message; 0: no limit
    // 0: no backlog accounting (pings are not counted, the stream's output is the base
    // stream's); otherwise the backlog past which the peer's pings trip Backlog.
    std::size_t maxBacklogBytes = 0;
  };

  // onTrip runs inside a read of libsoup's: it must not call into the connection (post instead).
  // Each trip is reported once.
  WebSocketGuard(Limits limits, std::function<void(Trip)> onTrip);
  ~WebSocketGuard();
  WebSocketGuard(const WebSocketGuard&) = delete;
  WebSocketGuard& operator=(const WebSocketGuard&) = delete;

  // Bytes read from the peer: RFC 6455 frames either way, masked (client to server) or not
  // (server to client), as each frame's header says. Returns how many may be handed to libsoup:
  // all, unless a data frame would take its message past maxMessageBytes; then only those
  // before that frame (the guard trips), and nothing from then on.
  std::size_t scanIncoming(const std::uint8_t* data, std::size_t size);
  bool inputStopped() const { return inputStopped_; }
  bool inputEnded() const { return inputEnded_; }
  // Reads report end of stream from now on, so that libsoup finishes the connection at once
  // instead of waiting for a closing handshake it will never see.
  void endInput();

  // Accounting of libsoup's outgoing queue (maxBacklogBytes > 0).
  bool countsBacklog() const { return maxBacklogBytes_ > 0; }
  void queued(std::size_t frameBytes) { backlog_ += frameBytes; }
  void written(std::size_t bytes) { backlog_ = bytes >= backlog_ ? 0 : backlog_ - bytes; }
  std::size_t backlog() const { return backlog_; }

  // Loop thread: the source a reader waits on while the input is stopped (woken by endInput()).
  void setStoppedSource(GSource* source);

 private:
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

// A new stream over base (a reference is taken). Its input goes through guard, after the bytes
// of `pending` (read from base already; empty: none); its output goes through guard when that
// counts the backlog, and is base's otherwise. Closing it closes base. nullptr when base's
// streams are not pollable.
GIOStream* newGuardedStream(GIOStream* base, std::shared_ptr<WebSocketGuard> guard,
                            std::string pending = {});

}  // namespace trystero::net

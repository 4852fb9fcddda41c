// A GIOStream between a client WebSocket's socket and libsoup that bounds the size of incoming
// messages. libsoup 3.2 caps the payload of one frame but reassembles a fragmented message
// without limit, so a relay sending one huge message in many frames could grow the process
// without bound. The guard parses the server's frame headers as the bytes pass through and
// stops the input before a data frame that would take its message past the limit.
//
// It also hands libsoup the bytes that were read past the end of the HTTP handshake.
// Loop thread only (the thread whose context the stream's sources are attached to).
#pragma once

#include <gio/gio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace trystero::net {

class MessageGuard {
 public:
  // maxMessageBytes 0: no limit. onTooBig runs inside a read of libsoup's, once: it must not
  // call into the connection (post instead), then close it (1009) and call endInput().
  MessageGuard(std::size_t maxMessageBytes, std::function<void()> onTooBig);
  ~MessageGuard();
  MessageGuard(const MessageGuard&) = delete;
  MessageGuard& operator=(const MessageGuard&) = delete;

  // Bytes read from the server (frames as RFC 6455 sends them server to client). Returns how
  // many may be handed to libsoup: all, unless a data frame would take its message past the
  // limit; then only those before that frame, and nothing from then on.
  std::size_t scan(const std::uint8_t* data, std::size_t size);
  bool inputStopped() const { return inputStopped_; }
  bool inputEnded() const { return inputEnded_; }
  // Reads report end of stream from now on, so that libsoup finishes the connection at once
  // instead of waiting for a closing handshake it will never see.
  void endInput();

  // Loop thread: the source a reader waits on while the input is stopped (woken by endInput()).
  void setStoppedSource(GSource* source);

 private:
  const std::size_t maxMessageBytes_;
  std::function<void()> onTooBig_;
  std::uint8_t header_[14] = {};
  std::size_t headerHave_ = 0;
  std::uint64_t payloadLeft_ = 0;
  std::uint64_t messageBytes_ = 0;
  bool inputStopped_ = false;
  bool inputEnded_ = false;
  GSource* stoppedSource_ = nullptr;
};

// A new stream over base (a reference is taken): input goes through guard, after the bytes of
// `pending` (read from base already); output is base's. Closing it closes base. nullptr when
// base's streams are not pollable.
GIOStream* newGuardedClientStream(GIOStream* base, std::shared_ptr<MessageGuard> guard,
                                  std::string pending);

}  // namespace trystero::net

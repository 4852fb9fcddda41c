// An RTCDataChannel: one SCTP stream pair opened with DCEP (RFC 8832), reliable and ordered.
// Loop thread only; callbacks run on the loop thread and may call back into the channel
// (send, close) but must not destroy the owning PeerConnection synchronously.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace trystero::loop {
class Loop;
}

namespace trystero::rtc {

class SctpTransport;

class DataChannel : public std::enable_shared_from_this<DataChannel> {
 public:
  enum class State { Connecting, Open, Closing, Closed };

  using MessageCallback = std::function<void(std::span<const std::uint8_t> data, bool binary)>;

  ~DataChannel();

  const std::string& label() const { return label_; }
  const std::string& protocol() const { return protocol_; }
  // SCTP stream id; -1 until the DTLS role fixed it (even for the DTLS client, odd otherwise).
  int id() const { return streamId_; }
  State readyState() const { return state_; }

  // Queue a message. False (and nothing queued) when the channel is not open or the message is
  // larger than the peer's a=max-message-size.
  bool send(std::string_view text);
  bool send(std::span<const std::uint8_t> binary);

  // Bytes accepted by send() and not yet handed to the SCTP stack, as in the W3C API.
  std::size_t bufferedAmount() const { return bufferedAmount_; }
  std::size_t bufferedAmountLowThreshold() const { return lowThreshold_; }
  void setBufferedAmountLowThreshold(std::size_t bytes) { lowThreshold_ = bytes; }

  // Whether everything sent so far has reached the peer's SCTP stack (acknowledged); a closed
  // channel counts as drained.
  bool drained() const;

  // Resets the outgoing stream; the peer resets its side and both see onClose.
  void close();

  void onOpen(std::function<void()> f) { onOpen_ = std::move(f); }
  void onMessage(MessageCallback f) { onMessage_ = std::move(f); }
  void onClose(std::function<void()> f) { onClose_ = std::move(f); }
  // Fires when bufferedAmount falls from above the threshold to at most the threshold.
  void onBufferedAmountLow(std::function<void()> f) { onBufferedAmountLow_ = std::move(f); }
  void onError(std::function<void(const std::string&)> f) { onError_ = std::move(f); }

 private:
  friend class SctpTransport;
  DataChannel(std::weak_ptr<SctpTransport> transport, std::string label, std::string protocol);

  // State changes the transport drives; the application's callbacks run from these.
  void setOpen();  // Connecting -> Open
  // -> Closed; the callbacks are dropped later, from `loop`, as they may be running now.
  void setClosed(loop::Loop& loop);
  // `bytes` of bufferedAmount left for the SCTP stack.
  void bufferedAmountSent(std::size_t bytes);

  std::weak_ptr<SctpTransport> transport_;
  std::string label_;
  std::string protocol_;
  int streamId_ = -1;
  State state_ = State::Connecting;
  std::size_t bufferedAmount_ = 0;
  std::size_t lowThreshold_ = 0;
  std::function<void()> onOpen_;
  MessageCallback onMessage_;
  std::function<void()> onClose_;
  std::function<void()> onBufferedAmountLow_;
  std::function<void(const std::string&)> onError_;
};

}  // namespace trystero::rtc

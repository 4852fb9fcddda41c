// Messages waiting for room in usrsctp's send buffer: a FIFO per stream, and the streams that
// have messages queued served round-robin, so that one busy channel does not starve the others.
// Message buffers are recycled. Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>
#include <vector>

namespace trystero::rtc {

class SendQueue {
 public:
  struct Message {
    std::vector<std::uint8_t> data;
    std::uint32_t ppid = 0;
    std::size_t userSize = 0;  // counted in the channel's bufferedAmount (0 for DCEP messages)
    bool control = false;      // a DCEP message
  };

  // Nothing queued on any stream / on stream `sid`.
  bool empty() const { return ready_.empty(); }
  bool empty(std::uint16_t sid) const;

  // Copies the payload to the back of the stream's FIFO.
  void push(std::uint16_t sid, std::uint32_t ppid, std::span<const std::uint8_t> payload,
            std::size_t userSize, bool control);

  // The first message of the stream whose turn it is (its id in `sid`); null when empty().
  const Message* front(std::uint16_t& sid);
  // Removes the message front() returned (it went out or failed for good); the stream's turn
  // ends. Returns its userSize.
  std::size_t pop(std::uint16_t sid);

  // Drops what one stream, or every stream, has queued.
  void erase(std::uint16_t sid);
  void clear();

 private:
  std::vector<std::uint8_t> takeBuffer(std::span<const std::uint8_t> payload);
  void recycle(std::vector<std::uint8_t>&& buffer);

  std::unordered_map<std::uint16_t, std::deque<Message>> queues_;  // only non-empty ones
  std::deque<std::uint16_t> ready_;  // streams with queued messages, in the order they are served
  std::vector<std::vector<std::uint8_t>> spare_;
};

}  // namespace trystero::rtc

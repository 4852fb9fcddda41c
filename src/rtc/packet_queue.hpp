// A bounded FIFO of packets that a transport layer cannot handle yet: datagrams that arrive
// before the layer is started, or that it produces before the layer below can carry them.
// When full, further packets are dropped and counted: the layers above are built for lossy
// datagrams, and the peer retransmits. Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <utility>
#include <vector>

namespace trystero::rtc {

class PacketQueue {
 public:
  using Packet = std::vector<std::uint8_t>;

  explicit PacketQueue(std::size_t capacity) : capacity_(capacity) {}

  // Copies the packet in; false (and counted in dropped()) when the queue is full.
  bool push(std::span<const std::uint8_t> packet) {
    if (packets_.size() >= capacity_) {
      ++dropped_;
      return false;
    }
    packets_.emplace_back(packet.begin(), packet.end());
    return true;
  }

  bool empty() const { return packets_.empty(); }
  std::size_t size() const { return packets_.size(); }
  // Packets refused because the queue was full, in its lifetime.
  std::uint64_t dropped() const { return dropped_; }

  // The oldest packet, removed. The queue must not be empty.
  Packet pop() {
    Packet packet = std::move(packets_.front());
    packets_.pop_front();
    return packet;
  }

  // Everything queued, oldest first; the queue is left empty (and may fill again while the
  // caller processes what it took).
  std::deque<Packet> takeAll() { return std::exchange(packets_, {}); }

  void clear() { packets_.clear(); }

 private:
  std::deque<Packet> packets_;
  std::size_t capacity_;
  std::uint64_t dropped_ = 0;
};

}  // namespace trystero::rtc

// The last packets sent on one SSRC, kept as they went on the wire, so that a NACK (RFC 4585)
// can be answered by sending the same bytes again. Kept protected: libsrtp refuses to protect
// a sequence number twice, and a resent copy that did arrive the first time is then dropped by
// the receiver's replay check. Bounded: a fixed number of slots, the oldest overwritten.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace trystero::media {

class RetransmitBuffer {
 public:
  explicit RetransmitBuffer(std::size_t capacity = 0) : slots_(capacity) {}

  void store(std::uint16_t sequenceNumber, std::span<const std::uint8_t> packet) {
    if (slots_.empty()) return;
    auto& slot = slots_[sequenceNumber % slots_.size()];
    slot.sequenceNumber = sequenceNumber;
    slot.used = true;
    slot.bytes.assign(packet.begin(), packet.end());
  }

  // The packet with this sequence number, if it is still held; empty otherwise.
  std::span<const std::uint8_t> find(std::uint16_t sequenceNumber) const {
    if (slots_.empty()) return {};
    const auto& slot = slots_[sequenceNumber % slots_.size()];
    if (!slot.used || slot.sequenceNumber != sequenceNumber) return {};
    return slot.bytes;
  }

  std::size_t capacity() const { return slots_.size(); }

 private:
  struct Slot {
    std::uint16_t sequenceNumber = 0;
    bool used = false;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Slot> slots_;
};

}  // namespace trystero::media

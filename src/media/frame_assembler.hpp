// Reassembles encoded frames from RTP packets that arrive reordered, duplicated or not at all.
// A frame is the run of packets sharing an RTP timestamp that ends at one whose marker is set;
// it is complete when every sequence number in the run is present and its first packet is known
// to be first (the packet before it belongs elsewhere, or the payload format says it begins a
// frame). Frames come out in sequence order only: a complete frame behind a hole waits for the
// hole to fill, until a keyframe is ready behind it, the packets behind it exceed the reorder
// window, or the owner gives up (skipMissing). Then every older packet still waiting belongs to
// a frame that can no longer be used, and is dropped and counted, so that the owner can ask the
// sender for a keyframe. Before the first frame the start of the stream is a hole too, so a
// receiver that joins mid-stream does not emit frames it cannot decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "media/byte_io.hpp"
#include "media/rtp.hpp"

namespace trystero::media {

struct EncodedFrame {
  Bytes data;
  std::uint32_t rtpTimestamp = 0;
  // Video: decodable without earlier frames. Audio formats set it on every frame.
  bool keyframe = false;
};

// What one RTP payload format (VP8, H.264, Opus...) tells the assembler.
class PayloadFormat {
 public:
  virtual ~PayloadFormat() = default;
  // A payload the format cannot carry is dropped on arrival, as if lost.
  virtual bool isValid(ByteView payload) const = 0;
  // True only when the payload certainly starts a frame; false when it does not or cannot tell.
  virtual bool beginsFrame(ByteView payload) const = 0;
  // True when the payload begins a frame that needs no earlier frame to decode.
  virtual bool beginsKeyframe(ByteView payload) const = 0;
  // Opus ends a frame with every packet (its marker means "talkspurt starts" instead).
  virtual bool endsFrame(bool marker, ByteView /*payload*/) const { return marker; }
  // Joins one frame's payloads, in sequence order, into the frame's bytes and keyframe flag.
  virtual std::optional<EncodedFrame> assemble(std::span<const ByteView> payloads) const = 0;
};

struct AssemblyResult {
  std::vector<EncodedFrame> frames;
  // Frames known to be lost with this push (at least one per gap): request a keyframe if > 0.
  std::size_t framesLost = 0;
};

class FrameAssembler {
 public:
  struct Limits {
    std::size_t maxPackets = 512;        // waiting packets; also how far ahead a packet may jump
    std::size_t maxReorderPackets = 64;  // how far past a hole packets may run before giving up
    std::size_t maxFrameBytes = 8 * 1024 * 1024;
  };
  struct Stats {
    std::size_t framesEmitted = 0;
    std::size_t framesLost = 0;
    std::size_t invalidPackets = 0;
    std::size_t duplicatePackets = 0;
    std::size_t latePackets = 0;  // arrived after their frame's slot was settled
  };

  explicit FrameAssembler(std::unique_ptr<PayloadFormat> format);
  FrameAssembler(std::unique_ptr<PayloadFormat> format, Limits limits);

  AssemblyResult push(std::uint16_t sequenceNumber, std::uint32_t timestamp, bool marker,
                      ByteView payload);
  AssemblyResult push(const RtpPacket& packet) {
    return push(packet.sequenceNumber, packet.timestamp, packet.marker, packet.payload);
  }
  // Gives up on the holes before the first complete frame: the owner's timer calls this when
  // waiting has lasted longer than retransmission could help.
  AssemblyResult skipMissing();
  const Stats& stats() const { return stats_; }
  std::size_t waitingPackets() const { return packets_.size(); }

 private:
  struct Waiting {
    std::uint32_t timestamp = 0;
    bool endsFrame = false;
    bool filler = false;  // padding only: a boundary between frames, part of none
    Bytes payload;
  };
  using Map = std::map<std::int64_t, Waiting>;

  bool emitOne(AssemblyResult& result, bool skipHoles);
  bool startIsKnown(std::int64_t start) const;
  bool somethingMissingBefore(std::int64_t start) const;
  std::size_t dropBefore(std::int64_t sequence);
  void evictOldestFrame(AssemblyResult& result);

  std::unique_ptr<PayloadFormat> format_;
  Limits limits_;
  Stats stats_;
  SequenceUnwrapper unwrapper_;
  Map packets_;
  std::optional<std::int64_t> lastSettled_;
  std::int64_t newest_ = std::numeric_limits<std::int64_t>::min();  // sequence number of the last
                                                                    // packet used or dropped
};

}  // namespace trystero::media

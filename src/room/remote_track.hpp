// What stands behind a trystero::RemoteTrack: the track's description, the user's frame handler
// and the reassembly of its RTP packets into frames (media::FrameAssembler for its codec).
// push() runs on the loop thread only; the handler may be set from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "media/frame_assembler.hpp"
#include "media/loss_recovery.hpp"
#include "trystero/trystero.hpp"

namespace trystero {

struct RemoteTrack::State : std::enable_shared_from_this<RemoteTrack::State> {
  std::string id, kind, codec;
  std::uint32_t clockRate = 0;
  std::atomic<std::uint64_t> framesReceived{0}, framesLost{0};
  std::mutex handlerMutex;
  // Shared, not copied per frame: a handler keeps its own state (a mutable lambda's counters)
  // from frame to frame, and no frame pays for copying it. Guarded by handlerMutex.
  std::shared_ptr<std::function<void(const MediaFrame&)>> onFrame;
  // Set once by the room when the track is created: sends a PLI from the loop thread (any
  // thread may call it).
  std::function<void()> keyframeRequester;
  std::atomic<bool> ended{false};
  std::function<void()> onEnded;  // guarded by handlerMutex

  // Loop thread: no frame follows; onEnded runs once.
  void end();

  // nullptr when the codec has no depacketizer here.
  static std::shared_ptr<State> create(std::string id, std::string kind, std::string codec,
                                       std::uint32_t clockRate);
  // Set once by the room for video (only video is held for resending): packets that go
  // missing are asked for with `request` (a NACK), again on `loop`'s timers while they stay
  // missing. Loop thread.
  void recoverLostPackets(loop::Loop& loop,
                          std::function<void(std::vector<std::uint16_t>)> request);
  // One decrypted RTP packet of the track; frames it completes go to onFrame. Loop thread.
  void push(std::span<const std::uint8_t> packet);

 private:
  void askFor(std::vector<std::uint16_t> missing);
  void askAgainLater();
  void stopWaitingForGivenUp(media::AssemblyResult& result, std::int64_t nowMs);
  void settle(media::AssemblyResult result, std::int64_t nowMs);

  std::unique_ptr<media::FrameAssembler> assembler_;
  media::LossRecovery lossRecovery_;
  loop::Loop* loop_ = nullptr;
  std::function<void(std::vector<std::uint16_t>)> requestRetransmission_;
  loop::Timer retryTimer_;
  bool skipPending_ = false;  // a packet was given up on; the assembler still waits for it
};

}  // namespace trystero

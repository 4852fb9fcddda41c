// The room of room.js: connected peers, actions over the data channel (chunking, backpressure,
// progress, reassembly), the internal actions (@_ping, @_pong, @_signal, @_stream, @_track,
// @_leave) and leaving. Loop thread only; the public Room forwards to it from any thread.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "loop/loop.hpp"
#include "room/chunk_codec.hpp"
#include "room/peer.hpp"
#include "trystero/trystero.hpp"

namespace trystero {

class RoomCore : public std::enable_shared_from_this<RoomCore> {
 public:
  static std::shared_ptr<RoomCore> create(loop::Loop& loop, std::string selfId, std::string appId,
                                          std::string roomId,
                                          std::function<void(const std::string&)> onPeerLeft,
                                          std::function<void()> onSelfLeave);
  ~RoomCore();

  loop::Loop& loop() { return loop_; }
  const std::string& appId() const { return appId_; }
  const std::string& roomId() const { return roomId_; }

  // The public handle: made once, then returned while the user holds it.
  std::shared_ptr<Room> makeRoom();
  std::shared_ptr<Room> room() const { return room_.lock(); }

  // From the signaller: a peer whose data channel just opened.
  void addPeer(std::shared_ptr<room::Peer> peer, const std::string& peerId);

  // Everything below runs on the loop thread.
  void registerAction(const std::string& type);
  Future<void> send(const std::string& type, Payload data, const Targets& targets, Metadata meta,
                    std::function<void(double, const std::string&)> onProgress);
  void setReceiver(const std::string& type, ReceiveHandler handler);
  void setProgress(const std::string& type, ProgressHandler handler);
  void setOnPeerJoin(std::function<void(const std::string&)> f) { onPeerJoin_ = std::move(f); }
  void setOnPeerLeave(std::function<void(const std::string&)> f) { onPeerLeave_ = std::move(f); }
  Future<double> ping(const std::string& peerId);
  std::vector<std::string> peers() const;
  Future<void> leave();
  Room::Stats stats() const { return stats_; }

 private:
  struct ActionState {
    std::uint8_t nonce = 0;
    ReceiveHandler onReceive;
    ProgressHandler onProgress;
  };
  // One send to one peer: a cursor over a shared encoder.
  struct Outgoing {
    std::shared_ptr<room::ChunkEncoder> encoder;
    std::size_t next = 0;
    std::shared_ptr<struct SendJob> job;
  };
  struct PeerState {
    std::shared_ptr<room::Peer> peer;
    room::Reassembler reassembler;
    std::deque<Outgoing> outgoing;  // served round-robin, one chunk at a time
    std::vector<std::pair<Promise<double>, std::int64_t>> pongs;  // (promise, start in us)
    bool pumping = false;
  };

  RoomCore(loop::Loop& loop, std::string selfId, std::string appId, std::string roomId)
      : loop_(loop), selfId_(std::move(selfId)), appId_(std::move(appId)),
        roomId_(std::move(roomId)) {}
  void handleData(const std::string& peerId, std::span<const std::uint8_t> data);
  void deliver(const std::string& peerId, room::Message message);
  void handleInternal(const std::string& peerId, const std::string& type);
  void pump(const std::string& peerId);
  void exitPeer(const std::string& peerId, const std::string& reason);
  Future<void> sendInternal(const std::string& type, const std::string& peerId);

  loop::Loop& loop_;
  std::string selfId_, appId_, roomId_;
  std::weak_ptr<Room> room_;
  std::map<std::string, ActionState> actions_;
  std::map<std::string, PeerState> peers_;
  std::function<void(const std::string&)> onPeerJoin_, onPeerLeave_;
  std::function<void(const std::string&)> onPeerLeft_;
  std::function<void()> onSelfLeave_;
  std::vector<std::uint8_t> scratch_;
  bool left_ = false;
  Room::Stats stats_;
};

}  // namespace trystero

// The room of room.js: connected peers, actions over the data channel (chunking, backpressure,
// progress, reassembly), the internal actions (@_ping, @_pong, @_signal, @_stream, @_track,
// @_leave) and leaving. Loop thread only; the public Room forwards to it from any thread.
//
// Standby connections. With several relays trystero makes one connection per relay to the same
// peer and each side keeps the first whose channel opens, destroying the others; when the two
// sides pick different ones each destroys the other's and both lose the peer until the next
// announce. Here a further connection to a connected peer is kept as a standby instead: data on
// it is delivered as from that peer (the remote may be using it as its primary), and when the
// primary closes an open standby is promoted silently (no leave/join). Standbys do not live
// forever, and two native peers converge on one connection: after the grace period only the
// side with the smaller selfId destroys its standbys; the other side does so only after 3x the
// grace period, as a fallback. So a connection one side holds as its primary and the other as a
// standby is closed by at most one side at a time, and the side that loses its primary that way
// still holds the other side's primary as a standby to promote. JS peers destroy their extra
// connections at once, so against them the native side simply promotes when needed. When the
// primary closes with no open standby but another connection to that peer is still on its way
// (the signaller says so), the peer is kept for up to the grace period waiting for it: the
// remote may have closed our primary because it keeps that other one, and its close can
// overtake that connection's open.
//
// A primary that dies young (within a third of the grace period after it became the primary)
// while a standby is there was most likely the connection the remote discarded on its side
// (a JS peer drops what arrives on it): the messages completed on it are sent again on the
// promoted connection. Later deaths (a native peer ending its standby) send nothing again.
//
// Listening. A data channel can be open on our side while the remote does not read it: a JS
// peer attaches its room to a connection only when its own `open` event fires, and drops what
// arrives before (wrtc in Node delivers a message that follows the channel's opening before
// `open`), or reads only the connection it kept after a glare and drops the other's data. So a
// new primary carries nothing but @_ping probes until the remote answers on some connection:
// data on the primary proves the remote reads it; data on a standby while the primary is
// silent proves the remote uses that one, which then becomes the primary. Only then do
// messages go out (and their futures resolve), so none is written where nobody reads.
//
// Reassembly is per connection: a sender never splits one message across connections (JS peers
// cannot; this code restarts instead, see primaryClosed()), so a message cut short with a dead
// connection can be dropped with it and never mixes with a copy sent on another one.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "loop/loop.hpp"
#include "room/chunk_codec.hpp"
#include "room/peer.hpp"
#include "trystero/trystero.hpp"

namespace trystero {

class RoomCore : public std::enable_shared_from_this<RoomCore> {
 public:
  static std::shared_ptr<RoomCore> create(
      loop::Loop& loop, std::string selfId, std::string appId, std::string roomId,
      std::function<void(const std::string&)> onPeerLeft, std::function<void()> onSelfLeave,
      std::chrono::milliseconds standbyGrace = std::chrono::milliseconds(3000));
  ~RoomCore();

  loop::Loop& loop() { return loop_; }
  const std::string& appId() const { return appId_; }
  const std::string& roomId() const { return roomId_; }

  // The public handle: made once, then returned while the user holds it.
  std::shared_ptr<Room> makeRoom();
  std::shared_ptr<Room> room() const { return room_.lock(); }

  // From the signaller: a peer whose data channel just opened. False when it was not taken
  // (room left, or that peer is connected already): the caller destroys it.
  bool addPeer(std::shared_ptr<room::Peer> peer, const std::string& peerId);
  // From the signaller: a further open connection to a connected peer, kept as a standby (see
  // above). False when it was not taken (room left, peer unknown, connection not open, or too
  // many standbys): the caller destroys it.
  bool addStandby(std::shared_ptr<room::Peer> peer, const std::string& peerId);
  // From the signaller: a new open connection to a connected peer whose room no longer holds
  // the one we hold (it left and joined again). That peer leaves (pending sends to it fail)
  // and joins again on the new connection. False when it was not taken (room left).
  bool replacePeer(std::shared_ptr<room::Peer> peer, const std::string& peerId);
  // From the signaller: whether a connection to this peer is still on its way.
  void setPendingConnectionCheck(std::function<bool(const std::string&)> f) {
    hasPendingConnection_ = std::move(f);
  }
  // Connections held for a peer: 0 (not connected), 1 (its primary), more with standbys.
  std::size_t connectionCount(const std::string& peerId) const;
  // Test hook: the peer's primary connection (to tell which one it is), or null.
  const room::Peer* primaryForTest(const std::string& peerId) const;
  // Test hook: destroys the peer's primary connection and handles it as closed (a standby, if
  // open, takes over; else the peer leaves).
  void dropPrimaryForTest(const std::string& peerId);

  // Everything below runs on the loop thread.
  void registerAction(const std::string& type);
  Future<void> send(const std::string& type, Payload data, const Targets& targets, Metadata meta,
                    std::function<void(double, const std::string&)> onProgress);
  void setReceiver(const std::string& type, ReceiveHandler handler);
  void setProgress(const std::string& type, ProgressHandler handler);
  void setOnPeerJoin(std::function<void(const std::string&)> f) { onPeerJoin_ = std::move(f); }
  void setOnPeerLeave(std::function<void(const std::string&)> f) { onPeerLeave_ = std::move(f); }
  void setOnPeerTrack(PeerTrackHandler f) { onPeerTrack_ = std::move(f); }
  void setOnPeerStream(PeerStreamHandler f) { onPeerStream_ = std::move(f); }

  // Media we send (Room::addStream and friends). Loop thread.
  Future<void> addTracks(const std::vector<std::shared_ptr<LocalTrack::State>>& tracks,
                         const std::string& streamId, const Targets& targets, const Metadata& meta,
                         bool asStream);
  void removeTracks(const std::vector<std::shared_ptr<LocalTrack::State>>& tracks,
                    const Targets& targets);
  Future<void> replaceTrack(const std::shared_ptr<LocalTrack::State>& from,
                            const std::shared_ptr<LocalTrack::State>& to, const Targets& targets,
                            const Metadata& meta);
  enum class TrackSend { kSent, kNotYet, kGone };
  // One frame of a local track to one peer's section: sent, not accepted yet, or the section (or
  // peer) is gone for good.
  TrackSend sendTrackFrame(const std::string& peerId, const std::string& mid,
                           const MediaFrame& frame);
  Future<double> ping(const std::string& peerId);
  std::vector<std::string> peers() const;
  Future<void> leave();
  Room::Stats stats() const { return stats_; }
  // From the signaller, which has no stats of its own.
  void countDroppedSignal() { ++stats_.droppedSignals; }
  void countRefusedConnection() { ++stats_.refusedConnections; }

 private:
  struct ActionState {
    std::uint8_t nonce = 0;
    ReceiveHandler onReceive;
    ProgressHandler onProgress;
  };
  // One send to one peer: a cursor over a shared encoder. A null job: a message sent again
  // after a promotion (no progress, nobody waiting).
  struct Outgoing {
    std::shared_ptr<room::ChunkEncoder> encoder;
    std::size_t next = 0;
    std::shared_ptr<struct SendJob> job;
    bool probe = false;  // a @_ping asking whether the remote reads this connection
    // A description for one connection (@_signal), or the metadata of media added on it
    // (@_stream, @_track): it goes on that one only.
    const room::Peer* connection = nullptr;
    std::uint64_t mediaGroup = 0;  // metadata: the MediaGroup it announces
    bool mediaOffer = false;       // an offer of ours (its answer lets the next group go)
  };
  // Metadata of the peer's next stream / track (@_stream, @_track), per connection: one slot
  // each, as the JS, filled by the message that comes before the offer on that connection.
  struct NextMediaMeta {
    Metadata stream, track;
  };
  // A further connection to a connected peer, with its own reassembly state.
  struct Standby {
    std::shared_ptr<room::Peer> peer;
    room::Reassembler reassembler;
    NextMediaMeta nextMeta;
    // Taken by each of the peer's sections on it as it was announced, for when it is promoted.
    std::map<std::string, NextMediaMeta> metaBySection;
    loop::Timer timer;  // its end (grace or fallback)
  };
  // One addStream / addTrack call to one peer, while its tracks wait for their turn (see
  // "Media we send" below).
  struct MediaGroup {
    std::uint64_t id = 0;  // in call order
    std::vector<std::shared_ptr<LocalTrack::State>> tracks;
    std::string streamId;
    bool asStream = false;  // added by addStream (metadata as @_stream), else by addTrack
    Metadata meta;
    std::optional<Outgoing> metaMessage;  // sent just before the tracks go on the connection
  };
  // One track of ours on the primary's connection.
  struct LocalSend {
    std::shared_ptr<LocalTrack::State> track;
    std::uint64_t group = 0;
    std::uint64_t order = 0;  // of addition, across groups
    std::string streamId;
    bool asStream = false;
    Metadata meta;
  };
  struct PeerState {
    std::shared_ptr<room::Peer> peer;  // the primary: every send goes here
    room::Reassembler reassembler;     // of data arriving on the primary
    NextMediaMeta nextMeta;            // of media arriving on the primary
    // Of sections announced while the primary was a standby, not fired yet (see Standby).
    std::map<std::string, NextMediaMeta> metaBySection;
    std::vector<Standby> standbys;
    // Standbys being closed gracefully: what still arrives on them is delivered.
    std::vector<Standby> closing;
    // Set while the primary is closed and another connection is awaited (sends wait too).
    loop::Timer awaiting;
    // Messages completed on the primary while it is young (see above), and the end of that.
    std::vector<Outgoing> sentYoung;
    bool young = false;
    loop::Timer youngTimer;
    std::deque<Outgoing> outgoing;  // served round-robin, one chunk at a time
    // Whether the remote reads the primary (see "Listening" above); until then only probes go
    // out on it.
    bool listening = false;
    int probes = 0;
    loop::Timer probeTimer;
    std::vector<std::pair<Promise<double>, std::int64_t>> pongs;  // (promise, start in us)
    bool pumping = false;
    // Media the peer sends on the primary: its tracks by mid, once accepted.
    std::map<std::string, std::shared_ptr<RemoteTrack::State>> tracks;
    // Media we send. A peer keeps one pending metadata slot per kind (as the JS), so each group
    // goes out (metadata, then its sections in an offer) only once the peer answered the offer
    // for the one before: the groups wait in order, while there is no connection too. On the
    // primary: our tracks by mid, with how they were added (a promoted standby offers them
    // again, each group waiting its turn as at first).
    bool sendingMedia = false;
    std::map<std::string, LocalSend> localTracks;
    std::deque<MediaGroup> waitingMedia;
    std::vector<std::string> unansweredMids;  // of the last group put on the connection
    loop::Timer answerWait;                   // in case that answer never comes
  };

  RoomCore(loop::Loop& loop, std::string selfId, std::string appId, std::string roomId)
      : loop_(loop),
        selfId_(std::move(selfId)),
        appId_(std::move(appId)),
        roomId_(std::move(roomId)) {}
  void handleData(const std::string& peerId, const room::Peer* from,
                  std::span<const std::uint8_t> data);
  void deliver(const std::string& peerId, const room::Peer* from, room::Message message);
  void handleInternal(const std::string& peerId, const room::Peer* from,
                      const room::Message& message);
  void renegotiate(const std::string& peerId, const room::Peer* from, const room::Message& message);
  // The connection (primary or standby) a message came on; null if it is neither.
  static std::shared_ptr<room::Peer> connectionFrom(const PeerState& state, const room::Peer* from);
  // The standby (kept or closing) a message came on; null if it is neither.
  static Standby* standbyOf(PeerState& state, const room::Peer* from);
  // A connection accepts the peer's audio and video from now on; what comes on it reaches our
  // tracks while it is the primary.
  void receiveMediaOn(const std::string& peerId, const std::shared_ptr<room::Peer>& connection);
  // An offer or answer for that connection, sent on it.
  void signalOn(const std::string& peerId, const std::shared_ptr<room::Peer>& connection,
                const std::string& type, const std::string& sdp);
  std::vector<std::string> presentPeers(const Targets& targets) const;
  void endRemoteTracks(PeerState& state);
  std::shared_ptr<room::ChunkEncoder> encode(const std::string& type, const Payload& data,
                                             const Metadata& meta);
  std::shared_ptr<room::ChunkEncoder> encodeMediaMeta(bool asStream, const nlohmann::json& meta);
  void remoteTrack(const std::string& peerId, const rtc::PeerConnection::RemoteMedia& media);
  void sendMediaTo(const std::string& peerId, PeerState& state);
  // Puts the next waiting group on the primary's connection, metadata first, unless the peer
  // has not answered for the one before.
  void offerWaitingMedia(const std::string& peerId);
  // (Re)starts the wait for the answer to our offer of the group on the connection.
  void awaitAnswer(const std::string& peerId, PeerState& state);
  // A timer that runs `then` if this core and the peer are still there.
  loop::Timer peerTimer(std::chrono::milliseconds delay, const std::string& peerId,
                        std::function<void(RoomCore&, PeerState&)> then);
  // An answer of the peer's was applied on that connection.
  void mediaAnswered(const std::string& peerId, const room::Peer* connection);
  // The primary changed: descriptions queued for another connection go there if it lives on as
  // a standby, else nowhere. Returns the media metadata bound to the old one (carryMediaOver
  // sends it again).
  std::vector<Outgoing> redirectSignals(const std::string& peerId, PeerState& state,
                                        const std::shared_ptr<room::Peer>& formerPrimary);
  static bool sendWhole(room::Peer& connection, const room::ChunkEncoder& encoder);
  // A standby became the primary: the peer's tracks on the old one ended, ours wait to go
  // again (with their metadata: strandedMeta), ahead of the groups waiting already.
  void carryMediaOver(const std::string& peerId, PeerState& state,
                      const std::shared_ptr<room::Peer>& former,
                      std::vector<Outgoing> strandedMeta);
  void rejectWaitingMedia(PeerState& state, const std::string& reason);
  // The primary's connection, for media; nullptr when there is none (or it is destroyed).
  static rtc::PeerConnection* connectionOf(const PeerState& state) {
    return state.peer ? state.peer->connection() : nullptr;
  }
  void offerMedia(const std::string& peerId, const std::weak_ptr<room::Peer>& peer);
  void pump(const std::string& peerId);
  void exitPeer(const std::string& peerId, const std::string& reason);
  // Makes peer the primary of peerId (handlers, backpressure, its young period).
  void attachPrimary(const std::string& peerId, const std::shared_ptr<room::Peer>& peer);
  // The primary closed: promotes an open standby, or the peer leaves.
  void primaryClosed(const std::string& peerId);
  // Removes one standby (closed, or its time is up) and destroys it.
  void dropStandby(const std::string& peerId, const room::Peer* peer, bool graceful = false);
  // Sends a probe on the primary, and again every interval until the remote answers.
  void probe(const std::string& peerId);
  // The remote reads the primary: what waited goes out.
  void heard(const std::string& peerId);
  // Makes an open standby the primary; the old primary becomes a standby (when it is open) or
  // is destroyed.
  // Registers a standby (its handlers and its end).
  void addStandbyState(const std::string& peerId, Standby standby);
  void swapPrimary(const std::string& peerId, const room::Peer* standby);
  void destroyConnections(PeerState& state);
  Future<void> sendInternal(const std::string& type, const std::string& peerId);

  loop::Loop& loop_;
  std::string selfId_, appId_, roomId_;
  std::weak_ptr<Room> room_;
  std::map<std::string, ActionState> actions_;
  std::map<std::string, PeerState> peers_;
  std::function<void(const std::string&)> onPeerJoin_, onPeerLeave_;
  PeerTrackHandler onPeerTrack_;
  PeerStreamHandler onPeerStream_;
  std::function<void(const std::string&)> onPeerLeft_;
  std::function<void()> onSelfLeave_;
  std::function<bool(const std::string&)> hasPendingConnection_;
  std::vector<std::uint8_t> scratch_;
  std::uint64_t mediaGroups_ = 0;
  std::uint64_t localSends_ = 0;
  // User code (future continuations, callbacks) reached while the primary is being switched
  // waits here until the switch is complete (see Hold), so it never sees a half-done state.
  int holding_ = 0;
  std::vector<std::function<void()>> deferred_;
  class Hold;
  void userCode(std::function<void()> f);
  bool left_ = false;
  loop::Timer leaving_;  // the next step of leave(): the leave message's time, then the drain
  std::chrono::milliseconds standbyGrace_{3000};
  Room::Stats stats_;
};

}  // namespace trystero

// trystero-cpp: serverless WebRTC rooms, wire-compatible with trystero@0.22.0.
//
// Threading: all network state lives on one internal thread. Callbacks you register run on
// that thread: keep them short, or hand work to your own thread. Every public call is safe
// from any thread, including from inside a callback. A Future's get()/wait() called on the
// network thread (inside a callback) before the result is ready throws std::logic_error
// instead of deadlocking: use then() there. Callbacks must not throw: an exception that leaves
// one ends the process (std::terminate), as it would leave the network thread's loop.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace trystero {

// ---------------------------------------------------------------------------------------------
// Configuration

struct IceServer {
  std::vector<std::string> urls;  // "stun:host:port", "turn:host:port?transport=tcp", "turns:..."
  std::string username;
  std::string credential;
};

// Counterpart of RTCConfiguration: when given, it replaces the default (public STUN) servers.
struct RtcConfig {
  std::vector<IceServer> iceServers;
  enum class IceTransportPolicy { All, Relay } iceTransportPolicy = IceTransportPolicy::All;
};

struct Config {
  std::string appId;                   // required
  std::string password;                // encrypts SDP; peers with another password cannot join
  std::vector<std::string> relayUrls;  // replaces the strategy's default relays
  int relayRedundancy = 0;             // how many default relays to use; 0: the strategy's default
  std::optional<RtcConfig> rtcConfig;
  std::vector<IceServer> turnConfig;  // appended to the ICE servers
  std::string supabaseKey;
  std::string rootPath;
  // Native extra, firebase: a credential for databases whose rules require sign-in (a Firebase
  // ID token or a token minted with the database's secret), presented after every connect.
  std::string firebaseAuthToken;
  bool manualRelayReconnection = false;
  // Native extra: gather loopback candidates (needed when loopback is the only network, e.g.
  // tests in a network namespace).
  bool allowLoopback = false;
};

struct JoinError {
  std::string error;
  std::string appId;
  std::string peerId;
  std::string roomId;
};

// This process's peer id: 20 characters, shared by all rooms.
const std::string& selfId();

// One signalling relay connection of a strategy (what getRelaySockets() lists).
struct RelaySocketInfo {
  enum class State { Connecting, Open, Waiting, Closed };
  std::string url;
  State state = State::Connecting;
  std::uint64_t opens = 0;       // successful connections so far
  std::uint64_t reconnects = 0;  // connection attempts after the first
  std::uint64_t messagesIn = 0;
  std::uint64_t messagesOut = 0;
};

// While paused, relay sockets that drop stay closed; resuming reconnects them at once.
// Any thread.
void pauseRelayReconnection();
void resumeRelayReconnection();

// ---------------------------------------------------------------------------------------------
// Payloads: JS's three kinds. Text is sent raw, JSON as JSON text, binary as bytes.

using Bytes = std::vector<std::uint8_t>;

class Payload {
 public:
  enum class Kind { Text, Json, Binary };

  Payload(std::string text) : value_(std::move(text)) {}
  Payload(const char* text) : value_(std::string(text)) {}
  Payload(nlohmann::json json) : value_(std::move(json)) {}
  Payload(Bytes bytes) : value_(std::move(bytes)) {}
  template <typename T>
  requires(std::is_arithmetic_v<T> || std::is_same_v<T, std::nullptr_t>) Payload(T value)
      : value_(nlohmann::json(value)) {}
  static Payload binary(std::span<const std::uint8_t> bytes) {
    return Payload(Bytes(bytes.begin(), bytes.end()));
  }

  Kind kind() const { return static_cast<Kind>(value_.index()); }
  bool isText() const { return kind() == Kind::Text; }
  bool isJson() const { return kind() == Kind::Json; }
  bool isBinary() const { return kind() == Kind::Binary; }
  // Throw std::bad_variant_access when the kind differs.
  const std::string& text() const { return std::get<std::string>(value_); }
  const nlohmann::json& json() const { return std::get<nlohmann::json>(value_); }
  const Bytes& bytes() const { return std::get<Bytes>(value_); }

  bool operator==(const Payload&) const = default;

 private:
  std::variant<std::string, nlohmann::json, Bytes> value_;
};

// Who an action goes to: everyone (default), one peer, or a list.
class Targets {
 public:
  Targets() = default;
  Targets(std::nullopt_t) {}
  Targets(std::string peerId) : ids_{std::move(peerId)}, all_(false) {}
  Targets(const char* peerId) : ids_{peerId}, all_(false) {}
  Targets(std::vector<std::string> peerIds) : ids_(std::move(peerIds)), all_(false) {}
  bool all() const { return all_; }
  const std::vector<std::string>& ids() const { return ids_; }

 private:
  std::vector<std::string> ids_;
  bool all_ = true;
};

// ---------------------------------------------------------------------------------------------
// Futures completed by the network thread.

namespace detail {
bool onNetworkThread();
template <typename T>
struct FutureState {
  std::mutex mutex;
  std::condition_variable cv;
  bool ready = false;
  std::optional<T> value;
  std::exception_ptr error;
  std::vector<std::function<void()>> continuations;
};
template <>
struct FutureState<void> {
  std::mutex mutex;
  std::condition_variable cv;
  bool ready = false;
  std::exception_ptr error;
  std::vector<std::function<void()>> continuations;
};
}  // namespace detail

template <typename T>
class Promise;

template <typename T>
class Future {
 public:
  Future() = default;
  bool valid() const { return state_ != nullptr; }
  bool ready() const {
    std::lock_guard lock(state_->mutex);
    return state_->ready;
  }
  void wait() const {
    std::unique_lock lock(state_->mutex);
    if (!state_->ready && detail::onNetworkThread()) {
      throw std::logic_error(
          "trystero: waiting on a Future on the network thread would deadlock; use then()");
    }
    state_->cv.wait(lock, [&] { return state_->ready; });
  }
  template <typename Rep, typename Period>
  bool waitFor(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock lock(state_->mutex);
    if (!state_->ready && detail::onNetworkThread()) {
      throw std::logic_error(
          "trystero: waiting on a Future on the network thread would deadlock; use then()");
    }
    return state_->cv.wait_for(lock, timeout, [&] { return state_->ready; });
  }
  // The value (or rethrows the failure).
  decltype(auto) get() const {
    wait();
    if (state_->error) std::rethrow_exception(state_->error);
    if constexpr (!std::is_void_v<T>) return static_cast<const T&>(*state_->value);
  }
  // Runs f(const Future&) once ready: at once on this thread if it already is, otherwise on
  // the thread that completes it (the network thread).
  void then(std::function<void(const Future<T>&)> f) const {
    {
      std::lock_guard lock(state_->mutex);
      if (!state_->ready) {
        state_->continuations.push_back([f, self = *this] { f(self); });
        return;
      }
    }
    f(*this);
  }

 private:
  friend class Promise<T>;
  explicit Future(std::shared_ptr<detail::FutureState<T>> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::FutureState<T>> state_;
};

template <typename T>
class Promise {
 public:
  Promise() : state_(std::make_shared<detail::FutureState<T>>()) {}
  Future<T> future() const { return Future<T>(state_); }
  template <typename... V>
  void resolve(V&&... value) {
    complete([&] {
      if constexpr (!std::is_void_v<T>) state_->value.emplace(std::forward<V>(value)...);
    });
  }
  void reject(std::exception_ptr error) {
    complete([&] { state_->error = error; });
  }
  void reject(const std::string& message) {
    reject(std::make_exception_ptr(std::runtime_error(message)));
  }
  bool settled() const {
    std::lock_guard lock(state_->mutex);
    return state_->ready;
  }

 private:
  template <typename F>
  void complete(F&& set) {
    std::vector<std::function<void()>> continuations;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->ready) return;
      set();
      state_->ready = true;
      continuations.swap(state_->continuations);
    }
    state_->cv.notify_all();
    for (auto& f : continuations) f();
  }
  std::shared_ptr<detail::FutureState<T>> state_;
};

// ---------------------------------------------------------------------------------------------
// Actions

using Metadata = std::optional<nlohmann::json>;
// (fraction 0..1, peer id, metadata)
using ProgressHandler = std::function<void(double, const std::string&, const Metadata&)>;
using ReceiveHandler = std::function<void(const Payload&, const std::string&, const Metadata&)>;

class RoomCore;

// Sends data to targets; the future completes when every chunk went to every target (and fails
// when a target vanished). meta is only allowed with binary data (as in JS).
class ActionSender {
 public:
  Future<void> operator()(Payload data, Targets targets = {}, Metadata meta = std::nullopt,
                          std::function<void(double, const std::string&)> onProgress = {}) const;

 private:
  friend class Room;
  ActionSender(std::weak_ptr<RoomCore> core, std::string type)
      : core_(std::move(core)), type_(std::move(type)) {}
  std::weak_ptr<RoomCore> core_;
  std::string type_;
};

class ActionReceiver {
 public:
  void operator()(ReceiveHandler handler) const;

 private:
  friend class Room;
  ActionReceiver(std::weak_ptr<RoomCore> core, std::string type)
      : core_(std::move(core)), type_(std::move(type)) {}
  std::weak_ptr<RoomCore> core_;
  std::string type_;
};

class ActionProgress {
 public:
  void operator()(ProgressHandler handler) const;

 private:
  friend class Room;
  ActionProgress(std::weak_ptr<RoomCore> core, std::string type)
      : core_(std::move(core)), type_(std::move(type)) {}
  std::weak_ptr<RoomCore> core_;
  std::string type_;
};

// auto [sendDrink, getDrink, onDrinkProgress] = room->makeAction("drink");
struct Action {
  ActionSender send;
  ActionReceiver receive;
  ActionProgress progress;
};

// ---------------------------------------------------------------------------------------------
// Media a peer sends (audio and video tracks of trystero's addStream/addTrack)

// One encoded frame of a remote track: a VP8 picture, an H.264 access unit (Annex B), or one
// Opus packet.
struct MediaFrame {
  Bytes data;
  std::uint32_t rtpTimestamp = 0;  // in the track's clock rate
  bool keyframe = false;           // video: decodable without earlier frames; audio: always
};

// A track a peer sends us, from onPeerTrack. Any thread may set the handler; frames arrive on
// the network thread, complete and in order. Video packets lost on the way are asked for again;
// a frame lost for good is skipped, and the track asks the sender for a keyframe, where decoding
// picks up again.
class RemoteTrack {
 public:
  struct State;
  explicit RemoteTrack(std::shared_ptr<State> state) : state_(std::move(state)) {}

  const std::string& id() const;     // the sender's track id (a=msid), may be empty
  const std::string& kind() const;   // "audio" or "video"
  const std::string& codec() const;  // "opus", "VP8" or "H264"
  std::uint32_t clockRate() const;   // of rtpTimestamp: 48000 (Opus), 90000 (video)
  void onFrame(std::function<void(const MediaFrame&)> f);
  // Frames completed so far, and frames known lost.
  std::uint64_t framesReceived() const;
  std::uint64_t framesLost() const;
  // Asks the sender for a keyframe (RTCP PLI), e.g. to start decoding or forwarding mid-stream.
  // Any thread.
  void requestKeyframe();
  // The track ended: the sender removed it (removeTrack/removeStream), the peer left, or we left
  // the room. No frame follows. The handler runs once, on the network thread; set after the
  // end, it runs at once on the calling thread.
  bool ended() const;
  void onEnded(std::function<void()> f);

 private:
  std::shared_ptr<State> state_;
};

// A track we send (the counterpart of a MediaStreamTrack handed to addStream/addTrack): encoded
// frames pushed into it go to every peer it was added to, each peer with its own RTP state
// (SSRC, sequence numbers, timestamp base). The codec is fixed per track: "opus" (audio), "VP8"
// or "H264" (video, Annex B access units).
class LocalTrack {
 public:
  struct State;
  // Throws std::invalid_argument for another kind or codec. id defaults to a random one.
  static std::shared_ptr<LocalTrack> create(const std::string& kind, const std::string& codec,
                                            const std::string& id = {});
  explicit LocalTrack(std::shared_ptr<State> state) : state_(std::move(state)) {}

  const std::string& id() const;
  const std::string& kind() const;
  const std::string& codec() const;
  std::uint32_t clockRate() const;  // of MediaFrame::rtpTimestamp: 48000 (Opus), 90000 (video)
  // Sends one encoded frame to every peer that accepted the track; until a peer's answer
  // accepted it, that peer gets nothing (start with a keyframe once onKeyframeRequest fires).
  // Any thread; frames go out in the order pushed. keyframe is informational.
  void sendFrame(MediaFrame frame);
  // A peer wants a keyframe: it began receiving the track, or asked (PLI/FIR) after a loss.
  // Network thread; may be set from any thread.
  void onKeyframeRequest(std::function<void(const std::string& peerId)> f);
  // Frames sent to at least one peer so far.
  std::uint64_t framesSent() const;
  const std::shared_ptr<State>& state() const { return state_; }

 private:
  std::shared_ptr<State> state_;
};

// A group of tracks sent together (a MediaStream): the receiver sees them under one stream id
// (a=msid), as one stream in onPeerStream.
struct LocalStream {
  std::string id;  // defaults (empty) to a random id when added
  std::vector<std::shared_ptr<LocalTrack>> tracks;
};

// onPeerTrack(track, streamId, peerId, meta) and then onPeerStream(streamId, peerId, meta) fire
// for every track a peer adds, as trystero@0.22.0 fires them: meta is what the sender passed to
// addTrack / addStream (sent before the track), used once and then cleared, so for a stream of
// audio and video onPeerStream fires twice, with the metadata on the first call only. The stream
// is named by its id (the JS hands over a MediaStream). Network thread.
using PeerTrackHandler =
    std::function<void(std::shared_ptr<RemoteTrack> track, const std::string& streamId,
                       const std::string& peerId, const Metadata& meta)>;
using PeerStreamHandler = std::function<void(const std::string& streamId, const std::string& peerId,
                                             const Metadata& meta)>;

// ---------------------------------------------------------------------------------------------
// Rooms

class Room {
 public:
  ~Room();
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  // Action types are at most 12 bytes of UTF-8; throws std::invalid_argument otherwise.
  // Calling it again with the same type returns the same action.
  Action makeAction(const std::string& type);

  void onPeerJoin(std::function<void(const std::string& peerId)> f);
  void onPeerLeave(std::function<void(const std::string& peerId)> f);
  // Media from peers (see PeerTrackHandler). Until one of these is set, the audio and video a
  // peer offers are declined (the peer's connection and data carry on), so that a program that
  // does not read media does not receive it.
  void onPeerTrack(PeerTrackHandler f);
  void onPeerStream(PeerStreamHandler f);

  // Media we send, as trystero@0.22.0's addStream/addTrack: for each target peer the metadata
  // (if any) goes first on @_stream / @_track, then the tracks are added to the connection,
  // which renegotiates over the data channel (perfect negotiation, as peer.js). Each call goes to
  // a peer only once it answered the offer for the call before (the peer has one metadata slot
  // per kind), in call order. The future completes once the metadata went out to every target
  // (at once without metadata), and fails if a target leaves or the media is removed first, or if
  // every track of the call already goes to a target (its metadata is then not sent: it would
  // pair with the next stream). The tracks reach the peer in the order given. Targets default to
  // every peer in the room now; peers joining later need their own call (in onPeerJoin, as in the
  // JS README). An empty stream id is replaced by a random one.
  Future<void> addStream(const LocalStream& stream, Targets targets = {},
                         Metadata meta = std::nullopt);
  Future<void> addTrack(const std::shared_ptr<LocalTrack>& track, const LocalStream& stream,
                        Targets targets = {}, Metadata meta = std::nullopt);
  // Stop sending (the section goes inactive in the next negotiation); no message of their own.
  void removeStream(const LocalStream& stream, Targets targets = {});
  void removeTrack(const std::shared_ptr<LocalTrack>& track, Targets targets = {});
  // As trystero@0.22.0's replaceTrack (RTCRtpSender.replaceTrack): newTrack's frames go out in
  // place of oldTrack's to the target peers that were sent oldTrack, on the same section, with
  // no renegotiation; the receiver sees its track carry on (no onPeerTrack), with RTP timestamps
  // carried on from the old track's, and newTrack gets a keyframe request. The metadata (if any)
  // goes first on @_track, as the JS sends it. Throws std::invalid_argument unless both tracks
  // have the same kind and codec (the section's codec is negotiated).
  Future<void> replaceTrack(const std::shared_ptr<LocalTrack>& oldTrack,
                            const std::shared_ptr<LocalTrack>& newTrack, Targets targets = {},
                            Metadata meta = std::nullopt);

  // Round-trip time in milliseconds. Fails if the peer leaves first.
  Future<double> ping(const std::string& peerId);
  std::vector<std::string> getPeers() const;
  // Tells the peers, waits 99 ms as the JS does, then closes every connection. The same room
  // can be joined again afterwards (a new Room).
  Future<void> leave();

  const std::string& roomId() const;
  const std::string& appId() const;

  // Counters for bounded-memory protections (dropped chunks, oversized transmissions, ...).
  struct Stats {
    std::uint64_t droppedChunks = 0;
    std::uint64_t droppedTransmissions = 0;
    // Of those, action payloads and metadata nested deeper than 256 arrays/objects (logged).
    std::uint64_t droppedDeepJson = 0;
    // Signalling messages dropped: malformed, oversized, or a peer id longer than 128 bytes.
    std::uint64_t droppedSignals = 0;
    // Announces and offers from new peers refused because the process holds too many
    // connections still being set up, or is short of file descriptors (then logged).
    std::uint64_t refusedConnections = 0;
  };
  Stats stats() const;

 private:
  friend class RoomCore;
  explicit Room(std::shared_ptr<RoomCore> core);
  std::shared_ptr<RoomCore> core_;
};

// Handler for wrong passwords and similar join failures.
using JoinErrorHandler = std::function<void(const JoinError&)>;

// RAII handle: leaves the room when it goes out of scope (the C++ idiom for the JS hooks).
class ScopedRoom {
 public:
  explicit ScopedRoom(std::shared_ptr<Room> room) : room_(std::move(room)) {}
  ~ScopedRoom() {
    if (room_) room_->leave();
  }
  ScopedRoom(ScopedRoom&&) = default;
  ScopedRoom& operator=(ScopedRoom&&) = default;
  Room* operator->() const { return room_.get(); }
  Room& operator*() const { return *room_; }
  const std::shared_ptr<Room>& get() const { return room_; }

 private:
  std::shared_ptr<Room> room_;
};

}  // namespace trystero

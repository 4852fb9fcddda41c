// The public Room and action objects: thread-safe forwarding onto the network thread.
#include "crypto/crypto.hpp"
#include "room/id.hpp"
#include "room/local_track.hpp"
#include "room/room_core.hpp"

namespace trystero {

namespace detail {
bool onNetworkThread() { return loop::Loop::shared().isLoopThread(); }
}  // namespace detail

const std::string& selfId() { return room::selfId(); }

namespace {

void validateType(const std::string& type) {
  if (type.empty()) throw std::invalid_argument("trystero: action type argument is required");
  if (type.size() > room::kTypeBytes) {
    throw std::invalid_argument("trystero: action type string \"" + type + "\" (" +
                                std::to_string(type.size()) + "b) exceeds byte limit (12). " +
                                "Hint: choose a shorter name.");
  }
}

template <typename T>
Future<T> failed(const std::string& message) {
  Promise<T> promise;
  promise.reject(message);
  return promise.future();
}

// A promise handed to the network thread. If the task holding it is destroyed without running
// (the loop stopped at exit), the future fails instead of never completing.
template <typename T>
struct Forwarded {
  Promise<T> promise;
  ~Forwarded() { promise.reject("trystero: the network thread stopped before the call ran"); }
};

// Runs start (returning the call's future) on the network thread and hands back a future of its
// outcome, without ever waiting for that thread: a caller whose own callbacks are slow (a full
// queue, a slow disk) would otherwise deadlock against it. Posting keeps the calling thread's
// order, since every other call from that thread goes through the same queue.
template <typename Start>
Future<void> onNetworkThread(RoomCore& core, Start start) {
  if (core.loop().isLoopThread()) return start();
  auto forward = std::make_shared<Forwarded<void>>();
  auto result = forward->promise.future();
  core.loop().post([forward, start = std::move(start)]() mutable {
    start().then([forward](const Future<void>& done) {
      try {
        done.get();
        forward->promise.resolve();
      } catch (...) {
        forward->promise.reject(std::current_exception());
      }
    });
  });
  return result;
}

// As onNetworkThread, for a call with no outcome: at once on the network thread (in order with
// the calls made there inline), else posted.
template <typename Run>
void onNetworkThreadNoWait(RoomCore& core, Run run) {
  if (core.loop().isLoopThread()) return run();
  core.loop().post(std::move(run));
}

std::vector<std::shared_ptr<LocalTrack::State>> trackStates(const LocalStream& stream) {
  std::vector<std::shared_ptr<LocalTrack::State>> states;
  for (const auto& track : stream.tracks) {
    if (!track) throw std::invalid_argument("trystero: a stream holds a null track");
    states.push_back(track->state());
  }
  return states;
}

}  // namespace

Room::Room(std::shared_ptr<RoomCore> core) : core_(std::move(core)) {}

Room::~Room() {
  // A room nobody holds any more cannot be used: leave it, as the JS does on page unload.
  auto core = core_;
  core->loop().post([core] { core->leave(); });
}

Action Room::makeAction(const std::string& type) {
  validateType(type);
  auto core = core_;
  core->loop().invoke([&] { core->registerAction(type); });
  return Action{ActionSender(core, type), ActionReceiver(core, type), ActionProgress(core, type)};
}

void Room::onPeerJoin(std::function<void(const std::string&)> f) {
  auto core = core_;
  core->loop().invoke([&] { core->setOnPeerJoin(std::move(f)); });
}

void Room::onPeerLeave(std::function<void(const std::string&)> f) {
  auto core = core_;
  core->loop().invoke([&] { core->setOnPeerLeave(std::move(f)); });
}

void Room::onPeerTrack(PeerTrackHandler f) {
  auto core = core_;
  core->loop().invoke([&] { core->setOnPeerTrack(std::move(f)); });
}

void Room::onPeerStream(PeerStreamHandler f) {
  auto core = core_;
  core->loop().invoke([&] { core->setOnPeerStream(std::move(f)); });
}

Future<void> Room::addStream(const LocalStream& stream, Targets targets, Metadata meta) {
  auto states = trackStates(stream);
  auto streamId = stream.id.empty() ? crypto::generateId(20) : stream.id;
  auto core = core_;
  return onNetworkThread(*core, [core, states, streamId, targets, meta] {
    return core->addTracks(states, streamId, targets, meta, true);
  });
}

Future<void> Room::addTrack(const std::shared_ptr<LocalTrack>& track, const LocalStream& stream,
                            Targets targets, Metadata meta) {
  if (!track) throw std::invalid_argument("trystero: addTrack needs a track");
  auto streamId = stream.id.empty() ? crypto::generateId(20) : stream.id;
  auto core = core_;
  return onNetworkThread(*core, [core, state = track->state(), streamId, targets, meta] {
    return core->addTracks({state}, streamId, targets, meta, false);
  });
}

void Room::removeStream(const LocalStream& stream, Targets targets) {
  auto states = trackStates(stream);
  auto core = core_;
  onNetworkThreadNoWait(*core, [core, states, targets] { core->removeTracks(states, targets); });
}

void Room::removeTrack(const std::shared_ptr<LocalTrack>& track, Targets targets) {
  if (!track) return;
  auto core = core_;
  onNetworkThreadNoWait(
      *core, [core, state = track->state(), targets] { core->removeTracks({state}, targets); });
}

Future<void> Room::replaceTrack(const std::shared_ptr<LocalTrack>& oldTrack,
                                const std::shared_ptr<LocalTrack>& newTrack, Targets targets,
                                Metadata meta) {
  if (!oldTrack || !newTrack)
    throw std::invalid_argument("trystero: replaceTrack needs two tracks");
  if (oldTrack->kind() != newTrack->kind() || oldTrack->codec() != newTrack->codec()) {
    throw std::invalid_argument("trystero: replaceTrack needs tracks of one kind and codec, not " +
                                oldTrack->kind() + "/" + oldTrack->codec() + " and " +
                                newTrack->kind() + "/" + newTrack->codec());
  }
  auto core = core_;
  return onNetworkThread(*core, [core, from = oldTrack->state(), to = newTrack->state(), targets,
                                 meta] { return core->replaceTrack(from, to, targets, meta); });
}

Future<double> Room::ping(const std::string& peerId) {
  if (peerId.empty())
    throw std::invalid_argument("trystero: ping() must be called with target peer ID");
  auto core = core_;
  return core->loop().invoke([&] { return core->ping(peerId); });
}

std::vector<std::string> Room::getPeers() const {
  auto core = core_;
  return core->loop().invoke([&] { return core->peers(); });
}

Future<void> Room::leave() {
  auto core = core_;
  return core->loop().invoke([&] { return core->leave(); });
}

const std::string& Room::roomId() const { return core_->roomId(); }
const std::string& Room::appId() const { return core_->appId(); }

Room::Stats Room::stats() const {
  auto core = core_;
  return core->loop().invoke([&] { return core->stats(); });
}

Future<void> ActionSender::operator()(
    Payload data, Targets targets, Metadata meta,
    std::function<void(double, const std::string&)> onProgress) const {
  if (meta && !meta->is_object()) {
    throw std::invalid_argument("trystero: action meta argument must be an object");
  }
  if (meta && !data.isBinary()) {
    throw std::invalid_argument("trystero: action meta argument can only be used with binary data");
  }
  auto core = core_.lock();
  if (!core) return failed<void>("trystero: the room is gone");
  return onNetworkThread(
      *core, [core, type = type_, data = std::move(data), targets, meta = std::move(meta),
              onProgress = std::move(onProgress)]() mutable {
        return core->send(type, std::move(data), targets, std::move(meta), std::move(onProgress));
      });
}

void ActionReceiver::operator()(ReceiveHandler handler) const {
  if (auto core = core_.lock()) {
    core->loop().invoke([&] { core->setReceiver(type_, std::move(handler)); });
  }
}

void ActionProgress::operator()(ProgressHandler handler) const {
  if (auto core = core_.lock()) {
    core->loop().invoke([&] { core->setProgress(type_, std::move(handler)); });
  }
}

}  // namespace trystero

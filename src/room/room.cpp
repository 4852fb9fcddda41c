// The public Room and action objects: thread-safe forwarding onto the network thread.
#include "room/id.hpp"
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
  if (core->loop().isLoopThread()) {
    return core->send(type_, std::move(data), targets, std::move(meta), std::move(onProgress));
  }
  // Never wait for the network thread here: a caller whose own callbacks are slow (a full
  // queue, a slow disk) would otherwise deadlock against it. Posting keeps the calling
  // thread's order, since every other call from that thread goes through the same queue.
  auto forward = std::make_shared<Forwarded<void>>();
  auto result = forward->promise.future();
  core->loop().post([core, forward, type = type_, data = std::move(data), targets,
                     meta = std::move(meta), onProgress = std::move(onProgress)]() mutable {
    core->send(type, std::move(data), targets, std::move(meta), std::move(onProgress))
        .then([forward](const Future<void>& sent) {
          try {
            sent.get();
            forward->promise.resolve();
          } catch (...) {
            forward->promise.reject(std::current_exception());
          }
        });
  });
  return result;
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

// Helpers shared by the room tests that meet through a real relay (nostr, mqtt, torrent):
// polling (eventually.hpp), a test Config, identities on the shared loop, and the node servers of
// tests/interop/relays.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "room/signaller.hpp"
#include "support/child_process.hpp"
#include "support/eventually.hpp"
#include "trystero/trystero.hpp"

namespace trystero::testing {

// A Config for tests: no public STUN, loopback candidates allowed.
Config testConfig(std::string appId, std::vector<std::string> relayUrls, std::string password = "");

// tests/interop in the source tree.
std::filesystem::path interopDir();
// node from $NODE, else from $PATH; empty when there is none.
std::string findNode();
// Why node scripts needing these tests/interop/node_modules packages cannot run here, or empty.
std::string nodeUnavailable(std::initializer_list<const char*> modules);

// A server script of tests/interop/relays run by node, which prints "listening PORT" first.
// Stopped when destroyed: stdin closed, then killed by its PID.
class NodeServer {
 public:
  // what names the server in the error thrown when it does not start.
  NodeServer(const std::string& what, const std::string& script,
             const std::vector<std::string>& args = {});
  ~NodeServer();
  int port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

 private:
  ChildProcess process_;
  int port_ = 0;
};

struct Identity {
  std::shared_ptr<room::Signaller> signaller;
  std::string id;
};

// Makes the strategy of a new identity (on the loop thread).
using StrategyFactory =
    std::function<std::unique_ptr<room::Strategy>(loop::Loop& loop, const std::string& selfId)>;

// A new id and its signaller on the shared loop (offer pool of 2).
Identity makeIdentity(const Config& config, const StrategyFactory& makeStrategy);

std::shared_ptr<Room> join(Identity& identity, const Config& config, const std::string& roomId,
                           JoinErrorHandler onError = {});

// Pairs of strings collected from callbacks on other threads.
struct Inbox {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> items;  // (peer id or topic, text)
  void add(std::string a, std::string b) {
    std::lock_guard lock(mutex);
    items.emplace_back(std::move(a), std::move(b));
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return items.size();
  }
  std::vector<std::pair<std::string, std::string>> copy() {
    std::lock_guard lock(mutex);
    return items;
  }
};

// What one room received of its peers' media: tracks and streams as announced, frames per kind.
// Filled on the loop thread; read under `mutex`. The handlers hold the inbox (listenForMedia
// takes it shared), so a track's last frame or end never outlives it.
struct MediaInbox {
  std::mutex mutex;
  std::vector<std::pair<std::string, Metadata>> tracks;   // kind, meta
  std::vector<std::string> trackIds;                      // the sender's
  std::vector<std::pair<std::string, Metadata>> streams;  // stream id, meta
  std::map<std::string, std::vector<MediaFrame>> frames;  // by kind
  std::vector<std::shared_ptr<RemoteTrack>> held;
  std::vector<std::string> ended;  // kinds

  std::size_t frameCount(const std::string& kind);
  std::size_t trackCount();
  std::vector<std::string> endedKinds();
};
// Sets the room's onPeerTrack and onPeerStream to record into `inbox`.
void listenForMedia(Room& room, const std::shared_ptr<MediaInbox>& inbox);

// Media between two rooms that see each other (gtest assertions): each adds a stream (VP8 video
// and Opus audio) toward the other with metadata; each gets onPeerTrack for both kinds and
// onPeerStream with the metadata, then 20 frames of each kind whole and in order; removeStream
// on both ends every track. The rooms' media handlers are cleared before it returns.
void expectMediaBothWays(Room& a, const std::string& aId, Room& b, const std::string& bId);

}  // namespace trystero::testing

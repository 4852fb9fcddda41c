#include "support/room_helpers.hpp"

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "room/config.hpp"
#include "room/id.hpp"

namespace trystero::testing {

using namespace std::chrono_literals;

Config testConfig(std::string appId, std::vector<std::string> relayUrls, std::string password) {
  Config config;
  config.appId = std::move(appId);
  config.password = std::move(password);
  config.relayUrls = std::move(relayUrls);
  config.rtcConfig = RtcConfig{};  // no public STUN in tests
  config.allowLoopback = true;
  return config;
}

std::filesystem::path interopDir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "interop";
}

std::string findNode() {
  if (const char* env = std::getenv("NODE"); env && access(env, X_OK) == 0) return env;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/usr/local/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = std::filesystem::path(dir) / "node";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

std::string nodeUnavailable(std::initializer_list<const char*> modules) {
  if (findNode().empty()) return "node not found";
  for (const char* module : modules) {
    if (!std::filesystem::exists(interopDir() / "node_modules" / module / "package.json")) {
      return std::string("tests/interop/node_modules/") + module + " missing";
    }
  }
  return {};
}

namespace {

std::vector<std::string> nodeArgv(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{findNode(), (interopDir() / "relays" / script).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

NodeServer::NodeServer(const std::string& what, const std::string& script,
                       const std::vector<std::string>& args)
    : process_(nodeArgv(script, args)) {
  auto line = process_.readLine(15s);
  if (!line || line->rfind("listening ", 0) != 0) {
    throw std::runtime_error(what + " did not start: " + line.value_or("(nothing)"));
  }
  port_ = std::stoi(line->substr(10));
}

NodeServer::~NodeServer() { process_.finish(3s); }

Identity makeIdentity(const Config& config, const StrategyFactory& makeStrategy) {
  auto& loop = loop::Loop::shared();
  Identity identity;
  identity.id = crypto::generateId(20);
  loop.invoke([&] {
    room::Timing timing;
    timing.offerPoolSize = 2;
    identity.signaller =
        std::make_shared<room::Signaller>(loop, makeStrategy(loop, identity.id), identity.id,
                                          room::toRtcConfiguration(config), timing);
  });
  return identity;
}

std::shared_ptr<Room> join(Identity& identity, const Config& config, const std::string& roomId,
                           JoinErrorHandler onError) {
  return loop::Loop::shared().invoke(
      [&] { return identity.signaller->join(config, roomId, std::move(onError)); });
}

namespace {

struct MediaSide {
  std::mutex mutex;
  std::vector<std::pair<std::string, Metadata>> streams;                 // stream id, meta
  std::map<std::string, std::vector<std::vector<std::uint8_t>>> frames;  // by kind
  std::vector<std::string> kinds, ended;
  std::vector<std::shared_ptr<RemoteTrack>> held;
  std::atomic<int> keyframeRequests{0};

  std::size_t count(const std::string& kind) {
    std::lock_guard lock(mutex);
    return frames[kind].size();
  }
  std::size_t tracks() {
    std::lock_guard lock(mutex);
    return kinds.size();
  }
  std::size_t endedCount() {
    std::lock_guard lock(mutex);
    return ended.size();
  }
};

void listenForMedia(Room& room, const std::shared_ptr<MediaSide>& side) {
  room.onPeerTrack([side](std::shared_ptr<RemoteTrack> track, const std::string&,
                          const std::string&, const Metadata&) {
    std::lock_guard lock(side->mutex);
    side->kinds.push_back(track->kind());
    side->held.push_back(track);
    track->onFrame([side, kind = track->kind()](const MediaFrame& frame) {
      std::lock_guard lock(side->mutex);
      side->frames[kind].push_back(frame.data);
    });
    track->onEnded([side, kind = track->kind()] {
      std::lock_guard lock(side->mutex);
      side->ended.push_back(kind);
    });
  });
  room.onPeerStream([side](const std::string& streamId, const std::string&, const Metadata& meta) {
    std::lock_guard lock(side->mutex);
    side->streams.emplace_back(streamId, meta);
  });
}

std::vector<std::uint8_t> numberedFrame(std::size_t size, int index, bool keyframe) {
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 7 + index);
  data[0] = keyframe ? 0x10 : 0x11;  // VP8: bit 0 clear on keyframes
  data[1] = static_cast<std::uint8_t>(index);
  return data;
}

}  // namespace

void expectMediaBothWays(Room& a, const std::string& aId, Room& b, const std::string& bId) {
  auto aGot = std::make_shared<MediaSide>(), bGot = std::make_shared<MediaSide>();
  listenForMedia(a, aGot);
  listenForMedia(b, bGot);
  LocalStream fromA{"stream-a",
                    {LocalTrack::create("video", "VP8"), LocalTrack::create("audio", "opus")}};
  LocalStream fromB{"stream-b",
                    {LocalTrack::create("video", "VP8"), LocalTrack::create("audio", "opus")}};
  for (auto [stream, counter] : {std::pair{&fromA, bGot}, std::pair{&fromB, aGot}}) {
    stream->tracks[0]->onKeyframeRequest(
        [side = counter](const std::string&) { side->keyframeRequests++; });
  }
  a.addStream(fromA, bId, nlohmann::json{{"from", "a"}});
  b.addStream(fromB, aId, nlohmann::json{{"from", "b"}});
  // Each receiver asks for a keyframe once its video track is there.
  EXPECT_TRUE(eventually([&] {
    return aGot->tracks() == 2 && bGot->tracks() == 2 && aGot->keyframeRequests > 0 &&
           bGot->keyframeRequests > 0;
  })) << aGot->tracks()
      << " " << bGot->tracks();
  for (const auto& side : {aGot, bGot}) {
    std::lock_guard lock(side->mutex);
    std::vector<std::string> kinds = side->kinds;
    std::sort(kinds.begin(), kinds.end());
    EXPECT_EQ(kinds, (std::vector<std::string>{"audio", "video"}));
    ASSERT_FALSE(side->streams.empty());
    auto expected =
        side == bGot
            ? std::make_pair(std::string("stream-a"), Metadata(nlohmann::json{{"from", "a"}}))
            : std::make_pair(std::string("stream-b"), Metadata(nlohmann::json{{"from", "b"}}));
    EXPECT_EQ(side->streams.front(), expected);
  }
  constexpr int kFrames = 20;
  for (int batch = 0; batch < kFrames / 5; ++batch) {
    for (int i = batch * 5; i < batch * 5 + 5; ++i) {
      for (auto* stream : {&fromA, &fromB}) {
        stream->tracks[0]->sendFrame(
            {numberedFrame(1800, i, i == 0), static_cast<std::uint32_t>(i * 3000), i == 0});
        stream->tracks[1]->sendFrame(
            {numberedFrame(90, i, true), static_cast<std::uint32_t>(i * 960), true});
      }
    }
    const std::size_t want = static_cast<std::size_t>(batch + 1) * 5;
    ASSERT_TRUE(eventually(
        [&] {
          return aGot->count("video") == want && bGot->count("video") == want &&
                 aGot->count("audio") == want && bGot->count("audio") == want;
        },
        std::chrono::seconds(10)))
        << aGot->count("video") << " " << bGot->count("video") << " " << aGot->count("audio") << " "
        << bGot->count("audio");
  }
  for (const auto& side : {aGot, bGot}) {
    std::lock_guard lock(side->mutex);
    for (int i = 0; i < kFrames; ++i) {
      EXPECT_EQ(side->frames["video"][i], numberedFrame(1800, i, i == 0)) << i;
      EXPECT_EQ(side->frames["audio"][i], numberedFrame(90, i, true)) << i;
    }
  }
  a.removeStream(fromA);
  b.removeStream(fromB);
  EXPECT_TRUE(eventually([&] { return aGot->endedCount() == 2 && bGot->endedCount() == 2; }));
  a.onPeerTrack(nullptr);
  a.onPeerStream(nullptr);
  b.onPeerTrack(nullptr);
  b.onPeerStream(nullptr);
}

}  // namespace trystero::testing

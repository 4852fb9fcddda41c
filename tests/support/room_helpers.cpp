#include "support/room_helpers.hpp"

#include <unistd.h>

#include <array>
#include <atomic>
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

std::size_t MediaInbox::frameCount(const std::string& kind) {
  std::lock_guard lock(mutex);
  return frames[kind].size();
}

std::size_t MediaInbox::trackCount() {
  std::lock_guard lock(mutex);
  return tracks.size();
}

std::vector<std::string> MediaInbox::endedKinds() {
  std::lock_guard lock(mutex);
  return ended;
}

void listenForMedia(Room& room, const std::shared_ptr<MediaInbox>& inbox) {
  room.onPeerTrack([inbox](std::shared_ptr<RemoteTrack> track, const std::string&,
                           const std::string&, const Metadata& meta) {
    std::lock_guard lock(inbox->mutex);
    inbox->tracks.emplace_back(track->kind(), meta);
    inbox->trackIds.push_back(track->id());
    inbox->held.push_back(track);
    track->onEnded([inbox, kind = track->kind()] {
      std::lock_guard lock(inbox->mutex);
      inbox->ended.push_back(kind);
    });
    track->onFrame([inbox, kind = track->kind()](const MediaFrame& frame) {
      std::lock_guard lock(inbox->mutex);
      inbox->frames[kind].push_back(frame);
    });
  });
  room.onPeerStream([inbox](const std::string& streamId, const std::string&, const Metadata& meta) {
    std::lock_guard lock(inbox->mutex);
    inbox->streams.emplace_back(streamId, meta);
  });
}

namespace {

std::vector<std::uint8_t> numberedFrame(std::size_t size, int index, bool keyframe) {
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 7 + index);
  data[0] = keyframe ? 0x10 : 0x11;  // VP8: bit 0 clear on keyframes
  data[1] = static_cast<std::uint8_t>(index);
  return data;
}

}  // namespace

void expectMediaBothWays(Room& a, const std::string& aId, Room& b, const std::string& bId) {
  auto aGot = std::make_shared<MediaInbox>(), bGot = std::make_shared<MediaInbox>();
  listenForMedia(a, aGot);
  listenForMedia(b, bGot);
  LocalStream fromA{"stream-a",
                    {LocalTrack::create("video", "VP8"), LocalTrack::create("audio", "opus")}};
  LocalStream fromB{"stream-b",
                    {LocalTrack::create("video", "VP8"), LocalTrack::create("audio", "opus")}};
  // Keyframe requests from b (a's stream), from a (b's).
  auto keyframeRequests = std::make_shared<std::array<std::atomic<int>, 2>>();
  fromA.tracks[0]->onKeyframeRequest(
      [keyframeRequests](const std::string&) { (*keyframeRequests)[1]++; });
  fromB.tracks[0]->onKeyframeRequest(
      [keyframeRequests](const std::string&) { (*keyframeRequests)[0]++; });
  a.addStream(fromA, bId, nlohmann::json{{"from", "a"}});
  b.addStream(fromB, aId, nlohmann::json{{"from", "b"}});
  // Each receiver asks for a keyframe once its video track is there.
  EXPECT_TRUE(eventually([&] {
    return aGot->trackCount() == 2 && bGot->trackCount() == 2 && (*keyframeRequests)[0] > 0 &&
           (*keyframeRequests)[1] > 0;
  })) << aGot->trackCount()
      << " " << bGot->trackCount();
  for (const auto& side : {aGot, bGot}) {
    std::lock_guard lock(side->mutex);
    std::vector<std::string> kinds;
    for (const auto& track : side->tracks) kinds.push_back(track.first);
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
          return aGot->frameCount("video") == want && bGot->frameCount("video") == want &&
                 aGot->frameCount("audio") == want && bGot->frameCount("audio") == want;
        },
        std::chrono::seconds(10)))
        << aGot->frameCount("video") << " " << bGot->frameCount("video") << " "
        << aGot->frameCount("audio") << " " << bGot->frameCount("audio");
  }
  for (const auto& side : {aGot, bGot}) {
    std::lock_guard lock(side->mutex);
    for (int i = 0; i < kFrames; ++i) {
      EXPECT_EQ(side->frames["video"][i].data, numberedFrame(1800, i, i == 0)) << i;
      EXPECT_EQ(side->frames["audio"][i].data, numberedFrame(90, i, true)) << i;
    }
  }
  a.removeStream(fromA);
  b.removeStream(fromB);
  EXPECT_TRUE(
      eventually([&] { return aGot->endedKinds().size() == 2 && bGot->endedKinds().size() == 2; }));
  a.onPeerTrack(nullptr);
  a.onPeerStream(nullptr);
  b.onPeerTrack(nullptr);
  b.onPeerStream(nullptr);
}

}  // namespace trystero::testing

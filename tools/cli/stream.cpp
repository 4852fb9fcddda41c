// `trystero stream FILE.ivf [FILE.ogg] --room R [--loop] [--meta JSON]`: plays media files into
// the room as one stream (VP8 from IVF, Opus from Ogg Opus), paced in real time by the files'
// timestamps. Every peer gets a playback of its own from the beginning, so that each starts
// with the file's first keyframe (a file cannot make a new one when a peer joins late): the
// stream is added when the peer joins, with the metadata (default {"files": [names]}), and the
// frames start when the peer accepted the video (its first keyframe request; audio alone starts
// at once). Without --loop the stream is removed when the files end; with --loop they start
// over, RTP time running on. Runs until interrupted (Ctrl-C).
//
// Threads: the network thread only marks playbacks started; the player thread paces frames out
// (sendFrame never waits); joins, leaves and removing streams happen on the main thread.
#include <trystero/media_file.hpp>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "commands.hpp"

namespace trystero::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

// One file's track toward one peer.
struct Lane {
  std::unique_ptr<MediaFileReader> reader;
  std::shared_ptr<LocalTrack> track;
  std::optional<MediaFileReader::Frame> pending;
  microseconds offset{0};     // where this pass over the file starts on the playback's timeline
  microseconds lastTime{0};   // of the last frame read in this pass
  microseconds frameStep{0};  // between its last two frames: the gap before a loop starts over
  std::uint64_t framesSent = 0;
  bool done = false;
};

struct Playback {
  std::string peerId;
  LocalStream stream;
  std::vector<Lane> lanes;
  std::optional<Clock::time_point> start;  // set once the peer accepted the stream
  int loops = 0;
  bool finished = false;
};

// What the player thread and the network thread's keyframe requests share; the requests hold it
// weakly, so one that comes after the player is gone finds nothing.
struct PlayerState {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, std::shared_ptr<Playback>> playbacks;  // by peer
  bool stopping = false;
};

class Player {
 public:
  Player(std::vector<std::string> files, bool loop, std::shared_ptr<EventQueue> queue,
         std::function<void(const Playback&)> onFinished)
      : files_(std::move(files)),
        loop_(loop),
        queue_(std::move(queue)),
        onFinished_(std::move(onFinished)),
        thread_([this] { run(); }) {}

  ~Player() {
    {
      std::lock_guard lock(state_->mutex);
      state_->stopping = true;
    }
    state_->changed.notify_all();
    thread_.join();
  }

  // Main thread. A fresh playback of every file for the peer, its stream ready to add.
  LocalStream add(const std::string& peerId, int number) {
    auto playback = std::make_shared<Playback>();
    playback->peerId = peerId;
    playback->stream.id = "trystero-stream-" + shortId(peerId) + "-" + std::to_string(number);
    bool video = false;
    for (const auto& file : files_) {
      Lane lane;
      lane.reader = std::make_unique<MediaFileReader>(file);
      lane.track = LocalTrack::create(lane.reader->kind(), lane.reader->codec());
      video = video || lane.reader->kind() == "video";
      if (lane.reader->kind() == "video") {
        lane.track->onKeyframeRequest(
            [weakState = std::weak_ptr(state_),
             weak = std::weak_ptr(playback)](const std::string&) { started(weakState, weak); });
      }
      playback->stream.tracks.push_back(lane.track);
      playback->lanes.push_back(std::move(lane));
    }
    for (auto& lane : playback->lanes) advance(lane);
    if (!video) playback->start = Clock::now();
    {
      std::lock_guard lock(state_->mutex);
      state_->playbacks[peerId] = playback;
    }
    state_->changed.notify_all();
    return playback->stream;
  }

  // Main thread: the peer left.
  void remove(const std::string& peerId) {
    std::lock_guard lock(state_->mutex);
    state_->playbacks.erase(peerId);
  }

 private:
  // Network thread: the peer's answer accepted the video (or it asks again after a loss, which a
  // file cannot answer with a new keyframe).
  static void started(const std::weak_ptr<PlayerState>& weakState,
                      const std::weak_ptr<Playback>& weak) {
    auto state = weakState.lock();
    if (!state) return;
    {
      std::lock_guard lock(state->mutex);
      auto playback = weak.lock();
      if (!playback || playback->start) return;
      playback->start = Clock::now();
    }
    state->changed.notify_all();
  }

  // Reads the lane's next frame, starting the file over at its end with --loop.
  void advance(Lane& lane) const {
    lane.pending = lane.reader->next();
    if (!lane.pending && loop_ && !lane.reader->failed() && lane.framesSent > 0) {
      lane.offset += lane.lastTime + lane.frameStep;
      lane.lastTime = microseconds{0};
      lane.reader->rewind();
      lane.pending = lane.reader->next();
    }
    if (!lane.pending) {
      lane.done = true;
      return;
    }
    if (lane.pending->time > lane.lastTime) lane.frameStep = lane.pending->time - lane.lastTime;
    lane.lastTime = lane.pending->time;
  }

  void run() {
    std::unique_lock lock(state_->mutex);
    while (!state_->stopping) {
      // The frame due first among the playbacks that started.
      Playback* nextPlayback = nullptr;
      Lane* nextLane = nullptr;
      Clock::time_point due = Clock::time_point::max();
      for (auto& [peerId, playback] : state_->playbacks) {
        if (!playback->start || playback->finished) continue;
        for (auto& lane : playback->lanes) {
          if (lane.done) continue;
          const auto at = *playback->start + lane.offset + lane.pending->time;
          if (at < due) {
            due = at;
            nextPlayback = playback.get();
            nextLane = &lane;
          }
        }
      }
      if (!nextLane) {
        state_->changed.wait(lock);
        continue;
      }
      if (Clock::now() < due) {
        state_->changed.wait_until(lock, due);
        continue;
      }
      MediaFrame frame = std::move(nextLane->pending->frame);
      const auto ticks = nextLane->offset.count() * nextLane->reader->clockRate() / 1000000;
      frame.rtpTimestamp += static_cast<std::uint32_t>(ticks);
      nextLane->track->sendFrame(std::move(frame));
      nextLane->framesSent++;
      const microseconds before = nextLane->offset;
      advance(*nextLane);
      if (nextLane->offset != before && nextLane == &nextPlayback->lanes.front()) {
        nextPlayback->loops++;
      }
      const bool allDone = std::all_of(nextPlayback->lanes.begin(), nextPlayback->lanes.end(),
                                       [](const Lane& lane) { return lane.done; });
      if (allDone) {
        nextPlayback->finished = true;
        auto finishedPlayback = state_->playbacks.at(nextPlayback->peerId);
        queue_->push(
            [finishedPlayback, onFinished = onFinished_] { onFinished(*finishedPlayback); });
      }
    }
  }

  const std::vector<std::string> files_;
  const bool loop_;
  std::shared_ptr<EventQueue> queue_;
  std::function<void(const Playback&)> onFinished_;
  std::shared_ptr<PlayerState> state_ = std::make_shared<PlayerState>();
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace

int runStream(const Options& options, Output& out) {
  // Every file opens (and is one of the formats) before the room is joined.
  nlohmann::json names = nlohmann::json::array();
  int videos = 0, audios = 0;
  for (const auto& file : options.arguments) {
    MediaFileReader reader(file);
    (reader.kind() == "video" ? videos : audios)++;
    names.push_back(std::filesystem::path(file).filename().string());
  }
  if (videos > 1 || audios > 1)
    throw UsageError("stream plays one video and one audio file at most");
  Metadata meta = nlohmann::json{{"files", names}};
  if (!options.meta.empty()) {
    meta = nlohmann::json::parse(options.meta, nullptr, false);
    if (meta->is_discarded()) throw UsageError("--meta wants JSON, not '" + options.meta + "'");
  }

  Session session(options, out);
  int numbers = 0;
  std::map<std::string, LocalStream> streams;  // by peer; main thread
  Player player(options.arguments, options.loop, session.queue(),
                [&out, &session, &streams](const Playback& playback) {
                  std::uint64_t frames = 0;
                  for (const auto& lane : playback.lanes) frames += lane.framesSent;
                  out.event({{"event", "played"}, {"peerId", playback.peerId}, {"frames", frames}},
                            "played to " + shortId(playback.peerId) + ": " +
                                std::to_string(frames) + " frames");
                  auto it = streams.find(playback.peerId);
                  if (it == streams.end()) return;
                  session.room().removeStream(it->second, playback.peerId);
                  streams.erase(it);
                });
  session.onJoin = [&](const std::string& peerId) {
    auto stream = player.add(peerId, numbers++);
    session.room().addStream(stream, peerId, meta);
    streams[peerId] = stream;
    out.event({{"event", "streaming"}, {"peerId", peerId}, {"streamId", stream.id}},
              "streaming to " + shortId(peerId));
  };
  session.onLeave = [&](const std::string& peerId) {
    player.remove(peerId);
    streams.erase(peerId);
  };
  if (!out.json()) {
    out.line({}, "* streaming " + names.dump() + " into room '" + options.room + "' as " +
                     selfId() + (options.loop ? ", looping" : "") + "; Ctrl-C ends");
  }
  int code = session.runUntil([] { return false; }, true);
  return code == kInterrupted ? kOk : code;
}

}  // namespace trystero::cli

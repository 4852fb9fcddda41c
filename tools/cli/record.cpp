// `trystero record --room R [--dir D]`: every track the peers send (browsers' addStream /
// addTrack) is written to D as a file players open — VP8 to .ivf, Opus to .ogg, H.264 to .h264
// — named <peer>-<stream>-<kind>-<n>, with a .json beside it (written when the file is
// complete) holding the peer, stream, track, codec and the metadata the sender passed to
// addStream (streamMeta) or addTrack (trackMeta). Runs until interrupted (Ctrl-C); files are
// completed when their track ends (the sender removed it or left) and at the end.
#include <trystero/media_file.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "commands.hpp"

namespace trystero::cli {

namespace {

// Keeps the file name to what a stream id may hold safely: letters, digits, '-' and '_'.
std::string fileSafe(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, 40)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    out += ok ? c : '_';
  }
  return out.empty() ? "track" : out;
}

struct Recording {
  std::unique_ptr<MediaFileWriter> writer;
  std::string path, base;
  nlohmann::json about;  // the sidecar's content
};

}  // namespace

int runRecord(const Options& options, Output& out) {
  std::filesystem::create_directories(options.dir);
  Session session(options, out);
  auto queue = session.queue();
  // Main thread only, like every command's state.
  std::map<int, Recording> recordings;
  std::map<std::pair<std::string, std::string>, nlohmann::json> streamMeta;  // peer, stream
  int nextId = 0;
  auto finish = [&out, &recordings](int id, const std::string& why) {
    auto it = recordings.find(id);
    if (it == recordings.end()) return;
    const bool ok = it->second.writer->finish();
    it->second.about["frames"] = it->second.writer->framesWritten();
    std::ofstream(it->second.base + ".json") << it->second.about.dump(2) << "\n";
    out.event({{"event", "recorded"},
               {"path", it->second.path},
               {"frames", it->second.writer->framesWritten()},
               {"ok", ok},
               {"why", why}},
              "recorded " + it->second.path + ": " +
                  std::to_string(it->second.writer->framesWritten()) + " frames (" + why + ")");
    recordings.erase(it);
  };

  session.room().onPeerTrack([queue, &out, &options, &recordings, &streamMeta, &nextId, finish](
                                 std::shared_ptr<RemoteTrack> track, const std::string& streamId,
                                 const std::string& peerId, const Metadata& meta) {
    // Network thread: the file is opened on the main thread; frames follow it there in order.
    track->requestKeyframe();
    auto id = std::make_shared<int>(-1);
    queue->push([&, track, streamId, peerId, meta, id] {
      const auto extension = MediaFileWriter::extensionFor(track->codec());
      if (extension.empty()) return;
      const auto base =
          (std::filesystem::path(options.dir) / (shortId(peerId) + "-" + fileSafe(streamId) + "-" +
                                                 track->kind() + "-" + std::to_string(nextId)))
              .string();
      Recording recording{std::make_unique<MediaFileWriter>(base + extension, track->codec()),
                          base + extension, base,
                          nlohmann::json{{"peerId", peerId},
                                         {"streamId", streamId},
                                         {"trackId", track->id()},
                                         {"kind", track->kind()},
                                         {"codec", track->codec()},
                                         {"file", base + extension},
                                         {"trackMeta", meta.value_or(nullptr)},
                                         {"streamMeta", nullptr}}};
      if (auto known = streamMeta.find({peerId, streamId}); known != streamMeta.end()) {
        recording.about["streamMeta"] = known->second;
      }
      out.event({{"event", "recording"},
                 {"path", recording.path},
                 {"peerId", peerId},
                 {"kind", track->kind()},
                 {"codec", track->codec()}},
                "recording " + track->kind() + " of " + shortId(peerId) + " to " + recording.path);
      *id = nextId++;
      recordings.emplace(*id, std::move(recording));
    });
    track->onFrame([queue, id, &recordings](const MediaFrame& frame) {
      queue->push(
          [id, frame, &recordings] {
            auto it = recordings.find(*id);
            if (it != recordings.end()) it->second.writer->write(frame);
          },
          frame.data.size());
    });
    track->onEnded([queue, id, finish] { queue->push([id, finish] { finish(*id, "ended"); }); });
  });
  // As the JS fires it: after each track's onPeerTrack, the stream's metadata on the first call.
  session.room().onPeerStream([queue, &recordings, &streamMeta](const std::string& streamId,
                                                                const std::string& peerId,
                                                                const Metadata& meta) {
    if (!meta) return;
    queue->push([&recordings, &streamMeta, streamId, peerId, meta] {
      if (streamMeta.size() >= 1024) streamMeta.clear();  // a peer adding streams forever
      streamMeta[{peerId, streamId}] = *meta;
      for (auto& [id, recording] : recordings) {
        if (recording.about["peerId"] == peerId && recording.about["streamId"] == streamId) {
          recording.about["streamMeta"] = *meta;
        }
      }
    });
  });
  if (!out.json()) {
    out.line({}, "* recording room '" + options.room + "' into " + options.dir + " as " + selfId() +
                     "; Ctrl-C ends");
  }
  int code = session.runUntil([] { return false; }, true);
  while (!recordings.empty()) finish(recordings.begin()->first, "stopped");
  return code == kInterrupted ? kOk : code;
}

}  // namespace trystero::cli

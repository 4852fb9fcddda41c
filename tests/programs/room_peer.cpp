// A native room peer for the room-level interop suite, driven by JSON lines on stdin/stdout
// (tests/interop/ROOM_PROTOCOL.md). It uses the public API only (but for one test hook,
// drop-incoming-rtp): trystero/trystero.hpp and the strategy headers that exist in this tree (each
// guarded with __has_include, so the program builds before a strategy lands; `--list-strategies`
// says which ones were compiled in).
//
//   room_peer --strategy nostr|mqtt|torrent|firebase|supabase --app-id A --room R
//             [--password P] --relay URL... [--supabase-key K] [--defer-join]
//   (firebase/supabase: --app-id is the database/project URL; the supabase key defaults to
//   "local-anon-key", as node_peer's)
//   room_peer --list-strategies
//
// stdout carries protocol lines only; diagnostics go to stderr. stdin is read on its own
// thread; library callbacks run on the library's network thread and only format and print.
#include <glib.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <trystero/trystero.hpp>

#include "loop/loop.hpp"
#include "room/peer.hpp"
#include "room/registry.hpp"
#include "room/room_core.hpp"
#include "rtc/peer_connection.hpp"
#ifdef TRYSTERO_HAVE_CODECS
#include <trystero/codecs.hpp>
#endif

#if __has_include(<trystero/nostr.hpp>)
#include <trystero/nostr.hpp>
#define ROOM_PEER_HAS_NOSTR 1
#endif
#if __has_include(<trystero/mqtt.hpp>)
#include <trystero/mqtt.hpp>
#define ROOM_PEER_HAS_MQTT 1
#endif
#if __has_include(<trystero/firebase.hpp>)
#include <trystero/firebase.hpp>
#define ROOM_PEER_HAS_FIREBASE 1
#endif
#if __has_include(<trystero/torrent.hpp>)
#include <trystero/torrent.hpp>
#define ROOM_PEER_HAS_TORRENT 1
#endif
#if __has_include(<trystero/supabase.hpp>)
#include <trystero/supabase.hpp>
#define ROOM_PEER_HAS_SUPABASE 1
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Output

std::mutex outputMutex;

void emit(const json& message) {
  // Replace invalid UTF-8 (a peer may send anything as text) instead of throwing.
  std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard lock(outputMutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// Events answering a command carry its id; commands without one get events without one.
json withId(json event, const json& id) {
  if (!id.is_null()) event["id"] = id;
  return event;
}

void emitError(const std::string& message, const json& id = nullptr) {
  json e = {{"event", "error"}, {"message", message}};
  if (!id.is_null()) e["id"] = id;
  emit(e);
}

// ---------------------------------------------------------------------------------------------
// Helpers

std::uint8_t patternByte(std::uint64_t index, std::uint64_t seed) {
  return static_cast<std::uint8_t>((index * 31 + seed) & 0xFF);
}

std::string sha256Hex(const trystero::Bytes& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xF];
  }
  return out;
}

// Wall-clock milliseconds since the Unix epoch (fractional): comparable across the processes of
// one machine, so a sender's start and a receiver's end can be subtracted (benchmark commands).
double epochMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double elapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

const char* stateName(trystero::RelaySocketInfo::State state) {
  switch (state) {
    case trystero::RelaySocketInfo::State::Connecting:
      return "connecting";
    case trystero::RelaySocketInfo::State::Open:
      return "open";
    case trystero::RelaySocketInfo::State::Waiting:
      return "waiting";
    case trystero::RelaySocketInfo::State::Closed:
      return "closed";
  }
  return "unknown";
}

json socketsToJson(const std::vector<trystero::RelaySocketInfo>& sockets) {
  json list = json::array();
  for (const auto& s : sockets) {
    list.push_back({{"url", s.url},
                    {"state", stateName(s.state)},
                    {"opens", s.opens},
                    {"reconnects", s.reconnects},
                    {"messagesIn", s.messagesIn},
                    {"messagesOut", s.messagesOut}});
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// Strategies compiled into this program, chosen at run time by name.

struct StrategyEntry {
  std::function<std::shared_ptr<trystero::Room>(const trystero::Config&, const std::string&,
                                                trystero::JoinErrorHandler)>
      join;
  std::function<std::vector<trystero::RelaySocketInfo>()> relaySockets;
  // Strategies with getOccupants (firebase).
  std::function<trystero::Future<std::vector<std::string>>(const trystero::Config&,
                                                           const std::string&)>
      occupants;
};

std::map<std::string, StrategyEntry> strategies() {
  std::map<std::string, StrategyEntry> m;
#ifdef ROOM_PEER_HAS_NOSTR
  m["nostr"] = {[](const trystero::Config& c, const std::string& r, trystero::JoinErrorHandler e) {
                  return trystero::nostr::joinRoom(c, r, e);
                },
                [] { return trystero::nostr::getRelaySockets(); },
                {}};
#endif
#ifdef ROOM_PEER_HAS_MQTT
  m["mqtt"] = {[](const trystero::Config& c, const std::string& r, trystero::JoinErrorHandler e) {
                 return trystero::mqtt::joinRoom(c, r, e);
               },
               [] { return trystero::mqtt::getRelaySockets(); },
               {}};
#endif
#ifdef ROOM_PEER_HAS_FIREBASE
  m["firebase"] = {
      [](const trystero::Config& c, const std::string& r, trystero::JoinErrorHandler e) {
        return trystero::firebase::joinRoom(c, r, e);
      },
      [] { return trystero::firebase::getRelaySockets(); },
      [](const trystero::Config& c, const std::string& r) {
        return trystero::firebase::getOccupants(c, r);
      }};
#endif
#ifdef ROOM_PEER_HAS_TORRENT
  m["torrent"] = {[](const trystero::Config& c, const std::string& r,
                     trystero::JoinErrorHandler e) { return trystero::torrent::joinRoom(c, r, e); },
                  [] { return trystero::torrent::getRelaySockets(); },
                  {}};
#endif
#ifdef ROOM_PEER_HAS_SUPABASE
  m["supabase"] = {
      [](const trystero::Config& c, const std::string& r, trystero::JoinErrorHandler e) {
        return trystero::supabase::joinRoom(c, r, e);
      },
      [] { return trystero::supabase::getRelaySockets(); },
      {}};
#endif
  return m;
}

// ---------------------------------------------------------------------------------------------
// The peer

struct ProgressCount {
  std::uint64_t count = 0;
  double last = 0;
};

#ifdef TRYSTERO_HAVE_CODECS
// ---------------------------------------------------------------------------------------------
// A media source of our own (add-stream): a VP8 picture of red, green, blue and white quadrants
// (as the browser peer's canvas) with a black bar moving along the middle, 15 a second, and an
// Opus tone of 440 Hz, encoded in real time on a thread of its own until destroyed.

class GeneratedMedia {
 public:
  GeneratedMedia(int width, int height)
      : video_(trystero::LocalTrack::create("video", "VP8")),
        audio_(trystero::LocalTrack::create("audio", "opus")),
        encoder_(std::make_shared<trystero::codecs::Vp8Encoder>(
            trystero::codecs::Vp8Encoder::Settings{.width = width,
                                                   .height = height,
                                                   .kilobitsPerSecond = 400,
                                                   .framesPerSecond = 15})),
        width_(width),
        height_(height) {
    video_->onKeyframeRequest([weak = std::weak_ptr(encoder_)](const std::string&) {
      if (auto encoder = weak.lock()) encoder->requestKeyframe();
    });
    thread_ = std::thread([this] { run(); });
  }
  ~GeneratedMedia() {
    running_ = false;
    thread_.join();
  }
  const std::shared_ptr<trystero::LocalTrack>& video() const { return video_; }
  const std::shared_ptr<trystero::LocalTrack>& audio() const { return audio_; }

 private:
  trystero::codecs::I420Picture picture(int tick) const {
    static constexpr std::uint8_t kQuadrants[4][3] = {
        {81, 90, 240}, {145, 54, 34}, {41, 240, 110}, {235, 128, 128}};  // BT.601 studio
    auto p = trystero::codecs::I420Picture::filled(width_, height_, 16, 128, 128);
    const int cw = (width_ + 1) / 2;
    for (int row = 0; row < height_; ++row) {
      for (int col = 0; col < width_; ++col) {
        const auto& c = kQuadrants[(row >= height_ / 2) * 2 + (col >= width_ / 2)];
        const bool bar = row >= height_ / 2 - 4 && row < height_ / 2 + 4 &&
                         col >= (tick * 4) % width_ && col < (tick * 4) % width_ + 8;
        p.y[static_cast<std::size_t>(row) * width_ + col] = bar ? 16 : c[0];
        p.u[static_cast<std::size_t>(row / 2) * cw + col / 2] = bar ? 128 : c[1];
        p.v[static_cast<std::size_t>(row / 2) * cw + col / 2] = bar ? 128 : c[2];
      }
    }
    return p;
  }

  void run() {
    trystero::codecs::OpusEncoder opus(1);
    std::vector<std::int16_t> tone(trystero::codecs::OpusEncoder::kSamplesPerPacket);
    const auto start = std::chrono::steady_clock::now();
    for (int tick = 0; running_; ++tick) {  // every 20 ms: a packet of sound, 3 in 10 a picture
      const auto samples = static_cast<std::uint32_t>(tick) * 960;
      for (std::size_t i = 0; i < tone.size(); ++i) {
        tone[i] = static_cast<std::int16_t>(
            8000 * std::sin(2 * 3.14159265358979 * 440 * (samples + i) / 48000.0));
      }
      if (auto packet = opus.encode(tone, samples)) audio_->sendFrame(std::move(*packet));
      if (tick % 10 == 0 || tick % 10 == 3 || tick % 10 == 7) {
        const auto rtpTime = static_cast<std::uint32_t>(tick) * 1800;
        if (auto frame = encoder_->encode(picture(tick), rtpTime))
          video_->sendFrame(std::move(*frame));
      }
      std::this_thread::sleep_until(start + std::chrono::milliseconds(20) * (tick + 1));
    }
  }

  std::shared_ptr<trystero::LocalTrack> video_, audio_;
  std::shared_ptr<trystero::codecs::Vp8Encoder>
      encoder_;  // the encoding thread's, but for keyframe requests
  const int width_, height_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};
#endif

class RoomPeer {
 public:
  RoomPeer(StrategyEntry strategy, std::string name)
      : strategy_(std::move(strategy)), name_(std::move(name)) {}

  // --defer-join: remembers the config and prints standby; the `join` command joins later.
  void standby(const trystero::Config& config, const std::string& roomId) {
    config_ = config;
    roomId_ = roomId;
    emit({{"event", "standby"},
          {"selfId", trystero::selfId()},
          {"impl", "cpp"},
          {"strategy", name_},
          {"roomId", roomId},
          {"appId", config.appId},
          {"at", epochMs()}});
  }

  // Joins (again, after leave: same config and room, same selfId) and prints ready.
  bool join(const trystero::Config& config, const std::string& roomId) {
    config_ = config;
    roomId_ = roomId;
    {
      // Actions belong to a room: a new room needs make-action again.
      std::lock_guard lock(actionsMutex_);
      actions_.clear();
    }
    {
      std::lock_guard lock(received_->mutex);
      received_->expecting.clear();
    }
    // When each peer first joined, counted from the joinRoom call (join-times).
    auto clock = std::make_shared<JoinClock>();
    {
      std::lock_guard lock(joinClockMutex_);
      joinClock_ = clock;
    }
    clock->joinAt = epochMs();
    clock->started = std::chrono::steady_clock::now();
    try {
      room_ = strategy_.join(config, roomId, [](const trystero::JoinError& e) {
        emit({{"event", "join-error"},
              {"error", e.error},
              {"appId", e.appId},
              {"peerId", e.peerId},
              {"roomId", e.roomId}});
      });
    } catch (const std::exception& e) {
      emitError(std::string("joinRoom threw: ") + e.what());
      return false;
    }
    if (!room_) {
      emitError("joinRoom returned no room");
      return false;
    }
    // --greet: a "greet" action sent to each peer from inside onPeerJoin (as trystero's own
    // tests do); deliveries print `greet`, the future's outcome `greet-sent` / `greet-failed`.
    std::optional<trystero::ActionSender> sendGreet;
    if (greet_) {
      auto greet = room_->makeAction("greet");
      greet.receive(
          [](const trystero::Payload& text, const std::string& peerId, const trystero::Metadata&) {
            emit({{"event", "greet"}, {"peerId", peerId}, {"text", text.text()}});
          });
      sendGreet = greet.send;
    }
    room_->onPeerJoin([clock, sendGreet, greetings = greetings_](const std::string& id) {
      {
        std::lock_guard lock(clock->mutex);
        clock->peers.try_emplace(id, elapsedMs(clock->started));
      }
      emit({{"event", "peer-join"}, {"peerId", id}});
      if (!sendGreet) return;
      auto text = "greet " + trystero::selfId() + " #" + std::to_string(++*greetings);
      (*sendGreet)(text, id).then([id, text](const trystero::Future<void>& sent) {
        try {
          sent.get();
          emit({{"event", "greet-sent"}, {"peerId", id}, {"text", text}});
        } catch (const std::exception& e) {
          emit({{"event", "greet-failed"}, {"peerId", id}, {"text", text}, {"error", e.what()}});
        }
      });
    });
    room_->onPeerLeave([](const std::string& id) {
      emit({{"event", "peer-leave"}, {"peerId", id}});
    });
    // Every track a peer sends is read and counted (media-stats).
    room_->onPeerTrack([tracks = tracks_, weakRoom = std::weak_ptr(room_)](
                           std::shared_ptr<trystero::RemoteTrack> track,
                           const std::string& streamId, const std::string& peerId,
                           const trystero::Metadata& meta) {
      auto counted = std::make_shared<CountedTrack>();
      counted->peerId = peerId;
      counted->track = track;
#ifdef TRYSTERO_HAVE_CODECS
      if (track->codec() == "VP8") counted->vp8 = std::make_unique<trystero::codecs::Vp8Decoder>();
      if (track->codec() == "opus")
        counted->opus = std::make_unique<trystero::codecs::OpusDecoder>();
#endif
      std::shared_ptr<trystero::LocalTrack> echo;
      if (tracks->echo) {
        echo = trystero::LocalTrack::create(track->kind(), track->codec());
        // Our receiver wants a keyframe: so do we, from the sender.
        echo->onKeyframeRequest([weakTrack = std::weak_ptr(track)](const std::string&) {
          if (auto source = weakTrack.lock()) source->requestKeyframe();
        });
        {
          std::lock_guard lock(tracks->mutex);
          tracks->echoes.push_back(echo);
        }
        if (auto room = weakRoom.lock()) {
          room->addStream({"echo-" + streamId, {echo}}, peerId,
                          nlohmann::json{{"echo", track->kind()}});
        }
      }
      track->onEnded([peerId, kind = track->kind(), trackId = track->id()] {
        emit({{"event", "track-ended"}, {"peerId", peerId}, {"kind", kind}, {"trackId", trackId}});
      });
      auto started = std::make_shared<bool>(false);  // network thread only
      const bool vp8 = track->codec() == "VP8";
      track->onFrame([counted, echo, started, vp8](const trystero::MediaFrame& frame) {
        counted->frames++;
        if (frame.keyframe) counted->keyframes++;
        // RFC 6386 9.1: a keyframe's start code, then 14-bit width and height.
        const auto& d = frame.data;
        if (vp8 && frame.keyframe && d.size() >= 10 && d[3] == 0x9d && d[4] == 0x01 &&
            d[5] == 0x2a) {
          counted->width = (d[6] | (d[7] << 8)) & 0x3fff;
          counted->height = (d[8] | (d[9] << 8)) & 0x3fff;
        }
        counted->bytes += frame.data.size();
        counted->decode(frame);
        if (!echo || (!*started && !frame.keyframe)) return;
        *started = true;
        echo->sendFrame(frame);
      });
      {
        std::lock_guard lock(tracks->mutex);
        tracks->list.push_back(counted);
      }
      emit({{"event", "peer-track"},
            {"peerId", peerId},
            {"kind", track->kind()},
            {"codec", track->codec()},
            {"trackId", track->id()},
            {"streamId", streamId},
            {"meta", meta.value_or(nullptr)}});
    });
    room_->onPeerStream(
        [](const std::string& streamId, const std::string& peerId, const trystero::Metadata& meta) {
          emit({{"event", "peer-stream"},
                {"peerId", peerId},
                {"streamId", streamId},
                {"meta", meta.value_or(nullptr)}});
        });
    emit({{"event", "ready"},
          {"selfId", trystero::selfId()},
          {"impl", "cpp"},
          {"strategy", name_},
          {"roomId", room_->roomId()},
          {"appId", room_->appId()}});
    return true;
  }

  // Returns false on quit.
  bool handle(const json& msg) {
    const json id = msg.value("id", json());
    const std::string cmd = msg.value("cmd", "");
    try {
      if (!room_ && cmd != "join" && cmd != "quit" && cmd != "get-occupants") {
        emitError("not joined yet (--defer-join: send join first): " + cmd, id);
      } else if (cmd == "make-action") {
        makeActions(msg, id);
      } else if (cmd == "send") {
        send(msg, id);
      } else if (cmd == "ping") {
        ping(msg.at("peerId").get<std::string>(), id);
      } else if (cmd == "get-peers") {
        json peers = room_->getPeers();
        emit(withId({{"event", "peers"}, {"peers", peers}}, id));
      } else if (cmd == "get-occupants") {
        getOccupants(id);
      } else if (cmd == "get-relay-sockets") {
        emit(withId(
            {{"event", "relay-sockets"}, {"sockets", socketsToJson(strategy_.relaySockets())}},
            id));
      } else if (cmd == "leave") {
        auto started = std::chrono::steady_clock::now();
        room_->leave().then([id, started](const trystero::Future<void>& f) {
          try {
            f.get();
            emit(withId({{"event", "left"}, {"ms", elapsedMs(started)}}, id));
          } catch (const std::exception& e) {
            emitError(std::string("leave failed: ") + e.what(), id);
          }
        });
      } else if (cmd == "join") {
        join(config_, roomId_);
      } else if (cmd == "stats") {
        auto st = room_->stats();
        emit(withId({{"event", "stats"},
                     {"droppedChunks", st.droppedChunks},
                     {"droppedTransmissions", st.droppedTransmissions},
                     {"droppedDeepJson", st.droppedDeepJson},
                     {"droppedSignals", st.droppedSignals},
                     {"refusedConnections", st.refusedConnections}},
                    id));
      } else if (cmd == "drop-incoming-rtp") {
        dropIncomingRtp(msg, id);
      } else if (cmd == "echo-media") {
        tracks_->echo = true;
        emit(withId({{"event", "echoing"}}, id));
      } else if (cmd == "add-stream" || cmd == "replace-track" || cmd == "remove-stream" ||
                 cmd == "add-track" || cmd == "remove-track") {
#ifdef TRYSTERO_HAVE_CODECS
        generatedMedia(cmd, msg, id);
#else
        emitError(cmd + " needs room_peer built with trystero_codecs (libvpx, libopus)", id);
#endif
      } else if (cmd == "media-stats") {
        json list = json::array();
        std::lock_guard lock(tracks_->mutex);
        for (const auto& t : tracks_->list) {
          json decoded;
          {
            std::lock_guard decodedLock(t->decodedMutex);
            decoded = t->decoded;
          }
          list.push_back({{"peerId", t->peerId},
                          {"decoded", decoded},
                          {"kind", t->track->kind()},
                          {"codec", t->track->codec()},
                          {"frames", t->frames.load()},
                          {"keyframes", t->keyframes.load()},
                          {"bytes", t->bytes.load()},
                          {"lost", t->track->framesLost()},
                          {"ended", t->track->ended()},
                          {"width", t->width.load()},
                          {"height", t->height.load()}});
        }
        json echoed = json::array();
        for (const auto& e : tracks_->echoes) {
          echoed.push_back({{"kind", e->kind()}, {"framesSent", e->framesSent()}});
        }
        emit(withId({{"event", "media-stats"},
                     {"tracks", list},
                     {"echoes", echoed},
                     {"droppedIncoming", droppedIncoming_->load()}},
                    id));
      } else if (cmd == "join-times") {
        joinTimes(id);
      } else if (cmd == "expect-bulk" || cmd == "expect-many") {
        expect(msg, id, cmd == "expect-many");
      } else if (cmd == "send-bulk") {
        sendBulk(msg, id);
      } else if (cmd == "send-many") {
        sendMany(msg, id);
      } else if (cmd == "quit") {
        return false;
      } else {
        emitError("unknown command: " + cmd, id);
      }
    } catch (const std::exception& e) {
      emitError("command " + cmd + " failed: " + e.what(), id);
    }
    return true;
  }

  void close() { room_.reset(); }

 private:
  void makeActions(const json& msg, const json& id) {
    json made = json::array();
    for (const auto& t : msg.at("types")) {
      const std::string type = t.get<std::string>();
      auto action = room_->makeAction(type);
      // The callbacks hold the shared state, not `this`: they may still run while the program
      // shuts down.
      action.progress(
          [state = received_, type](double p, const std::string& peer, const trystero::Metadata&) {
            std::lock_guard lock(state->mutex);
            if (state->expecting.count(type)) return;  // benchmark receive: no bookkeeping
            auto& c = state->progress[{type, peer}];
            ++c.count;
            c.last = p;
          });
      action.receive([state = received_, type](const trystero::Payload& data,
                                               const std::string& peer,
                                               const trystero::Metadata& meta) {
        onReceive(*state, type, data, peer, meta);
      });
      {
        std::lock_guard lock(actionsMutex_);
        actions_.insert_or_assign(type, action);
      }
      made.push_back(type);
    }
    emit(withId({{"event", "actions"}, {"types", made}}, id));
  }

  // A benchmark receive (expect-bulk / expect-many): the action's deliveries are checked and
  // summarised in one line instead of a receive line each.
  struct Expectation {
    json id;
    bool many = false;
    std::uint64_t count = 0;  // many: messages expected
    std::uint64_t received = 0;
    std::uint64_t outOfOrder = 0;  // {"i": n} with n != its position
    std::uint64_t bad = 0;         // not an object with a numeric "i"
    double firstAt = 0;
    std::string peerId;
  };

  // Receiver-side progress calls per (action type, sender), summarised when the transmission
  // completes (the receive callback follows the last chunk's progress call).
  struct ReceiveState {
    std::mutex mutex;
    std::map<std::pair<std::string, std::string>, ProgressCount> progress;
    std::map<std::string, Expectation> expecting;  // by action type
  };

  // Handles a delivery of an expected type; false when the type is not expected.
  static bool onExpected(ReceiveState& state, const std::string& type,
                         const trystero::Payload& data, const std::string& peer,
                         const trystero::Metadata& meta) {
    const double at = epochMs();
    Expectation done;
    {
      std::lock_guard lock(state.mutex);
      auto it = state.expecting.find(type);
      if (it == state.expecting.end()) return false;
      auto& x = it->second;
      if (x.many) {
        if (x.received == 0) {
          x.firstAt = at;
          x.peerId = peer;
        }
        const json* value = data.kind() == trystero::Payload::Kind::Json ? &data.json() : nullptr;
        if (!value || !value->is_object() || !value->contains("i") ||
            !value->at("i").is_number_unsigned()) {
          ++x.bad;
        } else if (value->at("i").get<std::uint64_t>() != x.received) {
          ++x.outOfOrder;
        }
        if (++x.received < x.count) return true;
      }
      done = std::move(x);
      state.expecting.erase(it);
    }
    if (done.many) {
      emit(withId({{"event", "received-many"},
                   {"type", type},
                   {"peerId", done.peerId},
                   {"count", done.received},
                   {"outOfOrder", done.outOfOrder},
                   {"bad", done.bad},
                   {"firstAt", done.firstAt},
                   {"lastAt", at}},
                  done.id));
      return true;
    }
    json e = {{"event", "received-bulk"},
              {"type", type},
              {"peerId", peer},
              {"meta", meta ? *meta : json()},
              {"at", at}};
    if (data.kind() == trystero::Payload::Kind::Binary) {
      auto hashStarted = std::chrono::steady_clock::now();
      e["kind"] = "binary";
      e["size"] = data.bytes().size();
      e["sha256"] = sha256Hex(data.bytes());
      e["hashMs"] = elapsedMs(hashStarted);
    } else {
      e["kind"] = data.kind() == trystero::Payload::Kind::Text ? "text" : "json";
    }
    emit(withId(std::move(e), done.id));
    return true;
  }

  static void onReceive(ReceiveState& state, const std::string& type, const trystero::Payload& data,
                        const std::string& peer, const trystero::Metadata& meta) {
    if (onExpected(state, type, data, peer, meta)) return;
    ProgressCount progress;
    {
      std::lock_guard lock(state.mutex);
      auto it = state.progress.find({type, peer});
      if (it != state.progress.end()) {
        progress = it->second;
        state.progress.erase(it);
      }
    }
    json progressJson = {{"count", progress.count}, {"last", progress.last}};
    emit({{"event", "progress-summary"},
          {"type", type},
          {"peerId", peer},
          {"count", progress.count},
          {"last", progress.last}});
    json e = {{"event", "receive"},
              {"type", type},
              {"peerId", peer},
              {"meta", meta ? *meta : json()},
              {"progress", progressJson}};
    switch (data.kind()) {
      case trystero::Payload::Kind::Text:
        e["kind"] = "text";
        e["value"] = data.text();
        break;
      case trystero::Payload::Kind::Json:
        e["kind"] = "json";
        e["value"] = data.json();
        break;
      case trystero::Payload::Kind::Binary:
        e["kind"] = "binary";
        e["size"] = data.bytes().size();
        e["sha256"] = sha256Hex(data.bytes());
        break;
    }
    emit(e);
  }

  void send(const json& msg, const json& id) {
    const std::string type = msg.at("type").get<std::string>();
    std::optional<trystero::Action> action;
    {
      std::lock_guard lock(actionsMutex_);
      auto it = actions_.find(type);
      if (it != actions_.end()) action = it->second;
    }
    if (!action) {
      emitError("send: no action " + type + " (make-action first)", id);
      return;
    }
    const std::string kind = msg.value("kind", "json");
    std::optional<trystero::Payload> payload;
    if (kind == "text") {
      payload.emplace(msg.at("value").get<std::string>());
    } else if (kind == "json") {
      payload.emplace(nlohmann::json(msg.at("value")));
    } else if (kind == "binary") {
      const auto& b = msg.at("binary");
      const auto size = b.at("size").get<std::uint64_t>();
      const auto seed = b.value("seed", std::uint64_t{0});
      trystero::Bytes bytes(size);
      for (std::uint64_t i = 0; i < size; ++i) bytes[i] = patternByte(i, seed);
      payload.emplace(std::move(bytes));
    } else {
      emitError("send: unknown kind " + kind, id);
      return;
    }
    trystero::Targets targets;
    if (msg.contains("targets") && !msg["targets"].is_null()) {
      targets = trystero::Targets(msg["targets"].get<std::vector<std::string>>());
    }
    trystero::Metadata meta;
    if (msg.contains("meta") && !msg["meta"].is_null()) meta = msg["meta"];

    struct SendProgress {
      std::mutex mutex;
      std::map<std::string, ProgressCount> byPeer;
    };
    auto progress = std::make_shared<SendProgress>();
    auto started = std::chrono::steady_clock::now();
    auto future = action->send(std::move(*payload), targets, meta,
                               [progress](double p, const std::string& peer) {
                                 std::lock_guard lock(progress->mutex);
                                 auto& c = progress->byPeer[peer];
                                 ++c.count;
                                 c.last = p;
                               });
    future.then([id, type, progress, started](const trystero::Future<void>& f) {
      double ms = elapsedMs(started);
      json byPeer = json::object();
      {
        std::lock_guard lock(progress->mutex);
        for (const auto& [peer, c] : progress->byPeer) {
          byPeer[peer] = {{"count", c.count}, {"last", c.last}};
        }
      }
      try {
        f.get();
        emit(withId({{"event", "sent"}, {"type", type}, {"ms", ms}, {"progress", byPeer}}, id));
      } catch (const std::exception& e) {
        emit(withId({{"event", "send-failed"},
                     {"type", type},
                     {"ms", ms},
                     {"error", e.what()},
                     {"progress", byPeer}},
                    id));
      }
    });
  }

  // ---- benchmark commands (bench/rooms): data generated here, receipts summarised in one line

  std::optional<trystero::Action> findAction(const json& msg, const json& id, const char* cmd) {
    const std::string type = msg.at("type").get<std::string>();
    std::lock_guard lock(actionsMutex_);
    auto it = actions_.find(type);
    if (it != actions_.end()) return it->second;
    emitError(std::string(cmd) + ": no action " + type + " (make-action first)", id);
    return std::nullopt;
  }

#ifdef TRYSTERO_HAVE_CODECS
  // add-stream {peerId?, meta?, width?, height?}: our generated stream toward the peer (all
  // peers without one), "stream-added" once its metadata went out. replace-track {peerId?,
  // width, height}: a new generated video takes the stream's video's place (Room::replaceTrack).
  // remove-stream {peerId?}. add-track {peerId?, meta?, width?, height?} / remove-track {peerId?}:
  // a generated video of its own with Room::addTrack / removeTrack.
  void generatedMedia(const std::string& cmd, const json& msg, const json& id) {
    trystero::Targets targets;
    if (msg.contains("peerId")) targets = trystero::Targets(msg["peerId"].get<std::string>());
    const int width = msg.value("width", 160), height = msg.value("height", 120);
    trystero::Metadata meta;
    if (msg.contains("meta")) meta = msg["meta"];
    if (cmd == "add-track") {
      // A generated video alone, in a stream of its own (Room::addTrack).
      if (!extra_) extra_ = std::make_shared<GeneratedMedia>(width, height);
      trystero::LocalStream stream{"native-track-" + trystero::selfId().substr(0, 8), {}};
      room_->addTrack(extra_->video(), stream, targets, meta)
          .then([id, streamId = stream.id](const trystero::Future<void>& f) {
            try {
              f.get();
              emit(withId({{"event", "track-added"}, {"streamId", streamId}}, id));
            } catch (const std::exception& e) {
              emitError(std::string("add-track: ") + e.what(), id);
            }
          });
      return;
    }
    if (cmd == "remove-track") {
      if (!extra_) return emitError("remove-track: no add-track before", id);
      room_->removeTrack(extra_->video(), targets);
      emit(withId({{"event", "track-removed"}}, id));
      return;
    }
    if (cmd == "add-stream") {
      if (!generated_) {
        generated_ = std::make_shared<GeneratedMedia>(width, height);
        generatedStream_ = {"native-" + trystero::selfId().substr(0, 8),
                            {generated_->video(), generated_->audio()}};
      }
      room_->addStream(generatedStream_, targets, meta)
          .then([id, streamId = generatedStream_.id](const trystero::Future<void>& f) {
            try {
              f.get();
              emit(withId({{"event", "stream-added"}, {"streamId", streamId}}, id));
            } catch (const std::exception& e) {
              emitError(std::string("add-stream: ") + e.what(), id);
            }
          });
    } else if (!generated_) {
      emitError(cmd + ": no add-stream before", id);
    } else if (cmd == "replace-track") {
      auto replacement = std::make_shared<GeneratedMedia>(width, height);
      room_->replaceTrack(generated_->video(), replacement->video(), targets);
      generatedStream_.tracks = {replacement->video(), generated_->audio()};
      retired_.push_back(generated_);  // its audio is still the stream's
      generated_ = replacement;
      emit(withId({{"event", "track-replaced"}, {"width", width}, {"height", height}}, id));
    } else {
      room_->removeStream(generatedStream_, targets);
      emit(withId({{"event", "stream-removed"}}, id));
    }
  }
#endif

  static trystero::Targets targetsOf(const json& msg) {
    if (msg.contains("targets") && !msg["targets"].is_null()) {
      return trystero::Targets(msg["targets"].get<std::vector<std::string>>());
    }
    return {};
  }

  // drop-incoming-rtp {peerId, kind, every | burst}: a test hook inside the library (the one
  // place this program goes past the public API): from now on, each packet of `kind` from the
  // peer whose sequence number is a multiple of `every` is lost on the way, once (its resend
  // passes); or, with `burst`, the next `burst` packets of `kind` are.
  void dropIncomingRtp(const json& msg, const json& id) {
    const std::string peerId = msg.value("peerId", "");
    const std::string kind = msg.value("kind", "video");
    const int every = std::max(2, msg.value("every", 10));
    const int burst = msg.value("burst", 0);
    const bool hooked = trystero::loop::Loop::shared().invoke([&] {
      auto core = trystero::room::coreOf(name_, config_.appId, roomId_);
      const auto* primary = core ? core->primaryForTest(peerId) : nullptr;
      auto* connection = primary ? primary->connection() : nullptr;
      if (!connection) return false;
      if (burst > 0) {
        connection->dropIncomingRtpForTest(
            [kind, left = std::make_shared<int>(burst), count = droppedIncoming_](
                const std::string& k, std::uint16_t) {
              if (k != kind || *left <= 0) return false;
              --*left;
              ++*count;
              return true;
            });
        return true;
      }
      auto dropped = std::make_shared<std::set<std::uint16_t>>();  // network thread only
      connection->dropIncomingRtpForTest([kind, every, dropped, count = droppedIncoming_](
                                             const std::string& k, std::uint16_t sequence) {
        if (k != kind || sequence % every != 0 || !dropped->insert(sequence).second) {
          return false;
        }
        ++*count;
        return true;
      });
      return true;
    });
    if (!hooked) return emitError("drop-incoming-rtp: no connection to " + peerId, id);
    emit(withId({{"event", "dropping-incoming-rtp"}, {"peerId", peerId}}, id));
  }

  void joinTimes(const json& id) {
    std::shared_ptr<JoinClock> clock;
    {
      std::lock_guard lock(joinClockMutex_);
      clock = joinClock_;
    }
    json peers = json::object();
    std::lock_guard lock(clock->mutex);
    for (const auto& [peer, ms] : clock->peers) peers[peer] = ms;
    emit(withId({{"event", "join-times"}, {"joinAt", clock->joinAt}, {"peers", peers}}, id));
  }

  void expect(const json& msg, const json& id, bool many) {
    const std::string type = msg.at("type").get<std::string>();
    Expectation x;
    x.id = id;
    x.many = many;
    if (many) x.count = msg.at("count").get<std::uint64_t>();
    {
      std::lock_guard lock(received_->mutex);
      received_->expecting.insert_or_assign(type, std::move(x));
    }
    emit(withId({{"event", "expecting"}, {"type", type}}, id));
  }

  void sendBulk(const json& msg, const json& id) {
    auto action = findAction(msg, id, "send-bulk");
    if (!action) return;
    const std::string type = msg.at("type").get<std::string>();
    const auto size = msg.at("size").get<std::uint64_t>();
    const auto seed = msg.value("seed", std::uint64_t{0});
    trystero::Bytes bytes(size);
    for (std::uint64_t i = 0; i < size; ++i) bytes[i] = patternByte(i, seed);
    trystero::Metadata meta;
    if (msg.contains("meta") && !msg["meta"].is_null()) meta = msg["meta"];
    const double startAt = epochMs();
    const auto started = std::chrono::steady_clock::now();
    auto future = action->send(trystero::Payload(std::move(bytes)), targetsOf(msg), meta);
    future.then([id, type, size, startAt, started](const trystero::Future<void>& f) {
      const double ms = elapsedMs(started);
      try {
        f.get();
        emit(withId({{"event", "bulk-sent"},
                     {"type", type},
                     {"size", size},
                     {"startAt", startAt},
                     {"ms", ms}},
                    id));
      } catch (const std::exception& e) {
        emit(withId({{"event", "send-failed"}, {"type", type}, {"ms", ms}, {"error", e.what()}},
                    id));
      }
    });
  }

  // count sends of {"i": n}, n = 0..count-1, one after the other without waiting for the futures
  // (this thread: the stdin reader, a thread of the application as far as the library knows).
  void sendMany(const json& msg, const json& id) {
    auto action = findAction(msg, id, "send-many");
    if (!action) return;
    const std::string type = msg.at("type").get<std::string>();
    const auto count = msg.at("count").get<std::uint64_t>();
    const trystero::Targets targets = targetsOf(msg);
    struct State {
      std::atomic<std::uint64_t> remaining;
      std::atomic<std::uint64_t> failed{0};
      std::mutex mutex;
      std::string firstError;
    };
    auto state = std::make_shared<State>();
    state->remaining = count + 1;  // + 1: released after the loop, so the line comes once
    const double startAt = epochMs();
    const auto started = std::chrono::steady_clock::now();
    auto finish = [state, id, type, count, startAt, started] {
      if (--state->remaining != 0) return;
      json e = {{"event", "sent-many"},     {"type", type},
                {"count", count},           {"startAt", startAt},
                {"ms", elapsedMs(started)}, {"failed", state->failed.load()}};
      std::lock_guard lock(state->mutex);
      if (!state->firstError.empty()) e["error"] = state->firstError;
      emit(withId(std::move(e), id));
    };
    for (std::uint64_t i = 0; i < count; ++i) {
      auto future = action->send(trystero::Payload(json{{"i", i}}), targets);
      future.then([state, finish](const trystero::Future<void>& f) {
        try {
          f.get();
        } catch (const std::exception& e) {
          if (state->failed++ == 0) {
            std::lock_guard lock(state->mutex);
            state->firstError = e.what();
          }
        }
        finish();
      });
    }
    finish();
  }

  void ping(const std::string& peer, const json& id) {
    room_->ping(peer).then([id, peer](const trystero::Future<double>& f) {
      try {
        emit(withId({{"event", "ping"}, {"peerId", peer}, {"rtt", f.get()}}, id));
      } catch (const std::exception& e) {
        emit(withId({{"event", "ping-failed"}, {"peerId", peer}, {"error", e.what()}}, id));
      }
    });
  }

  // get-occupants: the strategy's getOccupants for our config and room (without joining).
  void getOccupants(const json& id) {
    if (!strategy_.occupants) return emitError(name_ + " has no getOccupants", id);
    strategy_.occupants(config_, roomId_)
        .then([id](const trystero::Future<std::vector<std::string>>& f) {
          try {
            emit(withId({{"event", "occupants"}, {"occupants", f.get()}}, id));
          } catch (const std::exception& e) {
            emitError(std::string("getOccupants failed: ") + e.what(), id);
          }
        });
  }

  struct JoinClock {
    std::mutex mutex;
    double joinAt = 0;  // epochMs() of the joinRoom call
    std::chrono::steady_clock::time_point started;
    std::map<std::string, double> peers;  // first onPeerJoin of each peer, ms after joinRoom
  };

  StrategyEntry strategy_;
  std::string name_;
  std::mutex joinClockMutex_;
  std::shared_ptr<JoinClock> joinClock_ = std::make_shared<JoinClock>();
  trystero::Config config_;
  std::string roomId_;
  std::shared_ptr<trystero::Room> room_;
  // Tracks peers sent, with what arrived on each (frames come on the network thread).
  struct CountedTrack {
    std::string peerId;
    std::shared_ptr<trystero::RemoteTrack> track;
    std::atomic<std::uint64_t> frames{0}, keyframes{0}, bytes{0};
    std::atomic<int> width{0}, height{0};  // of the last VP8 keyframe
    // What decoding shows (media-stats "decoded"): the last picture's size and the mean Y, U, V
    // of its quadrants' middles, or the last Opus packet's RMS level.
    std::mutex decodedMutex;
    json decoded;
#ifdef TRYSTERO_HAVE_CODECS
    std::unique_ptr<trystero::codecs::Vp8Decoder> vp8;  // network thread only
    std::unique_ptr<trystero::codecs::OpusDecoder> opus;
    void decode(const trystero::MediaFrame& frame) {
      json seen;
      if (vp8) {
        auto picture = vp8->decode(frame);
        if (!picture) return;
        const int qw = picture->width / 2, qh = picture->height / 2;
        json quadrants = json::array();
        for (int q = 0; q < 4; ++q) {
          auto m = picture->mean((q % 2) * qw + qw / 4, (q / 2) * qh + qh / 4, qw / 2, qh / 2);
          quadrants.push_back({std::lround(m.y), std::lround(m.u), std::lround(m.v)});
        }
        seen = {{"frames", vp8->framesDecoded()},
                {"failed", vp8->framesFailed()},
                {"width", picture->width},
                {"height", picture->height},
                {"quadrants", quadrants}};
      } else if (opus) {
        auto samples = opus->decode(frame);
        if (samples.empty()) return;
        double sum = 0;
        for (auto x : samples) sum += double(x) * x;
        seen = {{"rms", std::lround(std::sqrt(sum / samples.size()))}};
      }
      std::lock_guard lock(decodedMutex);
      if (seen.contains("rms") && decoded.contains("packets")) {
        seen["packets"] = decoded["packets"].get<std::uint64_t>() + 1;
      } else if (seen.contains("rms")) {
        seen["packets"] = 1;
      }
      decoded = std::move(seen);
    }
#else
    void decode(const trystero::MediaFrame&) {}
#endif
  };
  struct Tracks {
    std::mutex mutex;
    std::vector<std::shared_ptr<CountedTrack>> list;
    // echo-media: each track a peer sends goes back to it, from its next keyframe on.
    std::atomic<bool> echo{false};
    std::vector<std::shared_ptr<trystero::LocalTrack>> echoes;  // guarded by mutex
  };
  std::shared_ptr<Tracks> tracks_ = std::make_shared<Tracks>();
#ifdef TRYSTERO_HAVE_CODECS
  // add-stream's source and stream (main thread); replaced sources keep running (their audio).
  std::shared_ptr<GeneratedMedia> generated_;
  std::vector<std::shared_ptr<GeneratedMedia>> retired_;
  std::shared_ptr<GeneratedMedia> extra_;  // add-track's source
  trystero::LocalStream generatedStream_;
#endif
  std::shared_ptr<std::atomic<std::uint64_t>> droppedIncoming_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  // Network thread only (onPeerJoin): how many greetings went out.
  std::shared_ptr<int> greetings_ = std::make_shared<int>(0);

 public:
  bool greet_ = false;

 private:
  std::mutex actionsMutex_;
  std::map<std::string, trystero::Action> actions_;
  std::shared_ptr<ReceiveState> received_ = std::make_shared<ReceiveState>();
};

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --strategy NAME --app-id A --room R [--password P] --relay URL...\n"
               "          [--defer-join] [--greet]\n"
               "       %s --list-strategies\n",
               argv0, argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // stdout carries protocol lines only: GLib writes debug messages to stdout by default.
  g_log_writer_default_set_use_stderr(TRUE);
  std::string strategyName, appId, roomId, password, supabaseKey = "local-anon-key";
  std::vector<std::string> relays;
  bool deferJoin = false;
  bool greet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "room_peer: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--list-strategies") {
      json names = json::array();
      for (const auto& [name, entry] : strategies()) names.push_back(name);
      emit({{"strategies", names}});
      return 0;
    } else if (a == "--strategy") {
      strategyName = next();
    } else if (a == "--app-id") {
      appId = next();
    } else if (a == "--room") {
      roomId = next();
    } else if (a == "--password") {
      password = next();
    } else if (a == "--relay") {
      relays.push_back(next());
    } else if (a == "--supabase-key") {
      supabaseKey = next();
    } else if (a == "--defer-join") {
      deferJoin = true;
    } else if (a == "--greet") {
      greet = true;
    } else {
      return usage(argv[0]);
    }
  }
  if (strategyName.empty() || appId.empty() || roomId.empty()) return usage(argv[0]);
  auto all = strategies();
  auto it = all.find(strategyName);
  if (it == all.end()) {
    emitError("strategy not compiled into room_peer: " + strategyName);
    return 3;
  }

  trystero::Config config;
  config.appId = appId;
  config.password = password;
  config.relayUrls = relays;
  config.supabaseKey = supabaseKey;
  config.rtcConfig = trystero::RtcConfig{};  // no STUN: loopback only
  config.allowLoopback = true;

  RoomPeer peer(it->second, strategyName);
  peer.greet_ = greet;
  if (deferJoin) {
    peer.standby(config, roomId);
  } else if (!peer.join(config, roomId)) {
    return 1;
  }

  // stdin on its own thread; the main thread waits for it to see quit or end of input.
  std::mutex doneMutex;
  std::condition_variable doneCv;
  bool done = false;
  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      json msg = json::parse(line, nullptr, false);
      if (msg.is_discarded() || !msg.is_object()) {
        emitError("stdin line is not a JSON object: " + line.substr(0, 200));
        continue;
      }
      if (!peer.handle(msg)) break;
    }
    std::lock_guard lock(doneMutex);
    done = true;
    doneCv.notify_all();
  });
  {
    std::unique_lock lock(doneMutex);
    doneCv.wait(lock, [&] { return done; });
  }
  reader.join();
  peer.close();
  emit({{"event", "bye"}});
  return 0;
}

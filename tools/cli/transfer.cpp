// `trystero send` / `trystero receive`: files over the action "file", in parts of at most 4 MiB
// (a message must fit the receivers' reassembly limit, and memory stays bounded on both sides)
// with metadata {name, size, sha256, offset, length, index, files}. The receiver writes each
// part at its offset into a temporary file, checks SHA-256 at the end, renames it into place
// and answers on "file-ack" {index, name, ok, sha256}; the sender's exit code reflects the acks.
// A binary sent without that metadata (e.g. by a browser app) is saved as one whole file.
// Flow control: the receiver acknowledges every part once written ("file-part" {index,
// offset}); towards a peer that does, the sender keeps at most kPartsInFlight parts not yet
// acknowledged, so a slow disk slows the sender instead of filling the receiver's memory.
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "commands.hpp"

namespace trystero::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kPartBytes = 4 * 1024 * 1024;
constexpr std::size_t kPartsInFlight = 2;
constexpr auto kAckTimeout = std::chrono::seconds(60);

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void update(const void* data, std::size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &size);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

struct OutgoingFile {
  fs::path path;
  std::string name;
  std::uint64_t size = 0;
  std::string sha256;
};

OutgoingFile describe(const std::string& argument) {
  OutgoingFile file;
  file.path = argument;
  std::error_code error;
  if (!fs::is_regular_file(file.path, error)) {
    throw UsageError("cannot send '" + argument + "': not a readable regular file");
  }
  file.size = fs::file_size(file.path, error);
  file.name = file.path.filename().string();
  std::ifstream in(file.path, std::ios::binary);
  if (!in) throw UsageError("cannot read '" + argument + "'");
  Sha256 sha;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    sha.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  file.sha256 = sha.hex();
  return file;
}

// A file name from the network, made safe to create inside the target directory.
std::string safeName(std::string name) {
  auto slash = name.find_last_of("/\\");
  if (slash != std::string::npos) name = name.substr(slash + 1);
  for (auto& c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  }
  if (name.size() > 200) name = name.substr(name.size() - 200);
  if (name.empty() || name == "." || name == ".." || name.front() == '.') name = "_" + name;
  return name;
}

fs::path freePath(const fs::path& dir, const std::string& name) {
  fs::path candidate = dir / name;
  auto stem = fs::path(name).stem().string();
  auto extension = fs::path(name).extension().string();
  for (int n = 1; fs::exists(candidate); ++n) {
    candidate = dir / (stem + " (" + std::to_string(n) + ")" + extension);
  }
  return candidate;
}

template <typename T>
T metaNumber(const Metadata& meta, const char* key, T fallback) {
  if (!meta || !meta->is_object() || !meta->contains(key) || !(*meta)[key].is_number_unsigned()) {
    return fallback;
  }
  return (*meta)[key].get<T>();
}

std::string metaString(const Metadata& meta, const char* key) {
  if (!meta || !meta->is_object() || !meta->contains(key) || !(*meta)[key].is_string()) return "";
  return (*meta)[key].get<std::string>();
}

}  // namespace

int runSend(const Options& options, Output& out) {
  std::vector<OutgoingFile> files;
  for (const auto& argument : options.arguments) files.push_back(describe(argument));

  Session session(options, out);
  auto fileAction = session.room().makeAction(kFileAction);
  auto ackAction = session.room().makeAction(kFileAckAction);
  auto partAction = session.room().makeAction(kFilePartAckAction);
  auto queue = session.queue();

  std::vector<std::string> targets;
  std::map<std::string, std::uint64_t> partsAcked;  // by peer, once it acknowledges parts
  std::uint64_t partsSent = 0;
  partAction.receive(
      [queue, &partsAcked](const Payload&, const std::string& peerId, const Metadata&) {
        queue->push([&partsAcked, peerId] { ++partsAcked[peerId]; });
      });
  // Towards peers that acknowledge parts: at most kPartsInFlight unacknowledged.
  auto withinWindow = [&] {
    return std::all_of(targets.begin(), targets.end(), [&](const std::string& id) {
      auto it = partsAcked.find(id);
      return it == partsAcked.end() || partsSent <= it->second + kPartsInFlight;
    });
  };
  std::map<std::string, std::set<std::size_t>> acked;  // by peer: file indexes verified
  bool failed = false;
  ackAction.receive([queue, &targets, &acked, &failed, &out, &files](
                        const Payload& payload, const std::string& peerId, const Metadata&) {
    if (!payload.isJson() || !payload.json().is_object()) return;
    auto ack = payload.json();
    queue->push([ack, peerId, &targets, &acked, &failed, &out, &files] {
      if (std::find(targets.begin(), targets.end(), peerId) == targets.end()) return;
      auto index = ack.value("index", std::size_t{0});
      if (index >= files.size()) return;
      if (ack.value("ok", false)) {
        acked[peerId].insert(index);
      } else {
        failed = true;
        out.error("peer " + shortId(peerId) + " could not verify " + files[index].name + ": " +
                  ack.value("error", std::string("checksum mismatch")));
      }
    });
  });
  session.onLeave = [&](const std::string& peerId) {
    if (std::find(targets.begin(), targets.end(), peerId) == targets.end()) return;
    if (acked[peerId].size() == files.size()) return;
    out.error("peer " + shortId(peerId) + " left before every file arrived");
    session.stop(kFailed);
  };

  if (!out.json()) {
    out.event({}, "waiting for " + std::to_string(options.peers) + " peer(s) in room '" +
                      options.room + "' (" + options.strategy + ") ...");
  }
  int code = session.runUntil([&] { return session.peers().size() >= options.peers; }, true);
  if (code != kOk) return code;
  targets.assign(session.peers().begin(),
                 session.peers().begin() + static_cast<std::ptrdiff_t>(options.peers));
  out.event({{"event", "sending"}, {"peers", targets}, {"files", files.size()}}, "");

  for (std::size_t index = 0; index < files.size(); ++index) {
    const auto& file = files[index];
    auto progress = std::make_shared<Progress>(out, file.name, file.size);
    auto doneByPeer = std::make_shared<std::map<std::string, std::uint64_t>>();
    std::ifstream in(file.path, std::ios::binary);
    std::deque<Future<void>> inflight;
    std::uint64_t offset = 0;
    do {
      auto length = std::min(kPartBytes, file.size - offset);
      Bytes bytes(length);
      in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(length));
      if (static_cast<std::uint64_t>(in.gcount()) != length) {
        out.error("'" + file.path.string() + "' changed while it was being sent");
        return kFailed;
      }
      nlohmann::json meta{
          {"name", file.name},     {"size", file.size},    {"type", "application/octet-stream"},
          {"sha256", file.sha256}, {"offset", offset},     {"length", length},
          {"index", index},        {"files", files.size()}};
      auto partOffset = offset;
      auto onProgress = [queue, progress, doneByPeer, partOffset, length](
                            double fraction, const std::string& peerId) {
        queue->push([=] {
          (*doneByPeer)[peerId] =
              partOffset + static_cast<std::uint64_t>(fraction * static_cast<double>(length));
          std::uint64_t least = UINT64_MAX;
          for (const auto& [id, done] : *doneByPeer) least = std::min(least, done);
          progress->update(least);
        });
      };
      code = session.runUntil(withinWindow, false);
      if (code != kOk) {
        progress->finish(false);
        return code;
      }
      inflight.push_back(
          fileAction.send(Payload(std::move(bytes)), Targets(targets), meta, onProgress));
      ++partsSent;
      offset += length;
      while (inflight.size() >= kPartsInFlight || (offset >= file.size && !inflight.empty())) {
        code = session.runUntil([&] { return inflight.front().ready(); }, false);
        if (code != kOk) {
          progress->finish(false);
          return code;
        }
        try {
          inflight.front().get();
        } catch (const std::exception& e) {
          progress->finish(false);
          out.error("sending " + file.name + " failed: " + e.what());
          return kFailed;
        }
        inflight.pop_front();
      }
    } while (offset < file.size);
    progress->update(file.size);
    progress->finish(true);
    out.event({{"event", "sent"},
               {"name", file.name},
               {"bytes", file.size},
               {"seconds", progress->seconds()},
               {"megabytesPerSecond", progress->megabytesPerSecond()},
               {"sha256", file.sha256}},
              "");
  }

  auto ackDeadline = std::chrono::steady_clock::now() + kAckTimeout;
  code = session.runUntil(
      [&] {
        if (failed) return true;
        if (std::chrono::steady_clock::now() > ackDeadline) return true;
        return std::all_of(targets.begin(), targets.end(),
                           [&](const std::string& id) { return acked[id].size() == files.size(); });
      },
      false);
  if (code != kOk) return code;
  if (failed) return kFailed;
  for (const auto& id : targets) {
    if (acked[id].size() != files.size()) {
      out.error("peer " + shortId(id) + " did not confirm every file within " +
                std::to_string(kAckTimeout.count()) + " s");
      return kFailed;
    }
  }
  out.event({{"event", "verified"}, {"peers", targets}},
            "all " + std::to_string(files.size()) + " file(s) arrived and were verified by " +
                std::to_string(targets.size()) + " peer(s)");
  return kOk;
}

namespace {

// One file coming in from one peer.
struct IncomingFile {
  std::string peerId, name;
  fs::path finalPath, tempPath;
  std::uint64_t size = 0, written = 0;
  std::set<std::uint64_t> offsets;  // parts already written (a repeated part is ignored)
  std::string expectedSha;
  std::size_t index = 0;
  std::fstream stream;
  std::shared_ptr<Progress> progress;
};

std::string fileSha256(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  Sha256 sha;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    sha.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  return sha.hex();
}

}  // namespace

int runReceive(const Options& options, Output& out) {
  fs::path dir = options.dir;
  std::error_code error;
  fs::create_directories(dir, error);
  if (!fs::is_directory(dir, error))
    throw UsageError("--dir '" + options.dir + "' is not a directory");

  Session session(options, out);
  auto fileAction = session.room().makeAction(kFileAction);
  auto ackAction = session.room().makeAction(kFileAckAction);
  auto partAction = session.room().makeAction(kFilePartAckAction);
  auto queue = session.queue();

  std::map<std::string, std::unique_ptr<IncomingFile>> incoming;  // by peer/index/name
  std::map<std::string, std::size_t> finished;                    // by peer: files done
  std::size_t unnamed = 0;
  std::vector<Future<void>> acks;
  bool batchDone = false, anyFailed = false;

  auto fail = [&](const std::string& key, const std::string& message) {
    anyFailed = true;
    out.error(message);
    if (auto it = incoming.find(key); it != incoming.end()) {
      if (it->second->progress) it->second->progress->finish(false);
      it->second->stream.close();
      fs::remove(it->second->tempPath, error);
      incoming.erase(it);
    }
    if (!options.keep) session.stop(kFailed);
  };

  auto handlePart = [&](const std::string& peerId, const Metadata& meta, const Bytes& bytes) {
    std::string name = metaString(meta, "name");
    auto offset = metaNumber<std::uint64_t>(meta, "offset", 0);
    auto size = metaNumber<std::uint64_t>(meta, "size", bytes.size());
    auto index = metaNumber<std::size_t>(meta, "index", 0);
    if (name.empty())
      name = "received-" + shortId(peerId) + "-" + std::to_string(++unnamed) + ".bin";
    // Parts of one file may arrive out of order (messages in flight together interleave).
    std::string key = peerId + "/" + std::to_string(index) + "/" + name;
    auto it = incoming.find(key);
    if (it == incoming.end()) {
      auto file = std::make_unique<IncomingFile>();
      file->peerId = peerId;
      file->name = safeName(name);
      file->size = size;
      file->expectedSha = metaString(meta, "sha256");
      file->index = index;
      file->finalPath = freePath(dir, file->name);
      file->tempPath = dir / ("." + file->name + "." + shortId(peerId) + ".trystero-part");
      file->stream.open(file->tempPath,
                        std::ios::binary | std::ios::in | std::ios::out | std::ios::trunc);
      if (!file->stream) {
        out.error("cannot write " + file->tempPath.string());
        session.stop(kFailed);
        return;
      }
      file->progress = std::make_shared<Progress>(out, file->name, size);
      out.event({{"event", "receiving"}, {"name", file->name}, {"bytes", size}, {"peerId", peerId}},
                "");
      it = incoming.emplace(key, std::move(file)).first;
    }
    auto& file = *it->second;
    if (file.offsets.count(offset)) return;
    if (offset > file.size || bytes.size() > file.size - offset ||
        file.written + bytes.size() > file.size) {
      return fail(key,
                  "peer " + shortId(peerId) + " sent more of " + file.name + " than announced");
    }
    file.offsets.insert(offset);
    file.stream.seekp(static_cast<std::streamoff>(offset));
    file.stream.write(reinterpret_cast<const char*>(bytes.data()),
                      static_cast<std::streamsize>(bytes.size()));
    file.written += bytes.size();
    partAction.send(nlohmann::json{{"index", file.index}, {"offset", offset}}, Targets(peerId));
    file.progress->update(file.written);
    if (file.written < file.size) return;

    bool written = static_cast<bool>(file.stream.flush());
    file.stream.close();
    auto digest = fileSha256(file.tempPath);
    bool ok = written && (file.expectedSha.empty() || digest == file.expectedSha);
    nlohmann::json ack{{"index", file.index}, {"name", file.name}, {"ok", ok}, {"sha256", digest}};
    if (ok) {
      fs::rename(file.tempPath, file.finalPath, error);
      if (error) {
        ok = false;
        ack["ok"] = false;
        ack["error"] = "cannot write " + file.finalPath.string();
      }
    } else {
      ack["error"] = "checksum mismatch";
      fs::remove(file.tempPath, error);
    }
    acks.push_back(ackAction.send(ack, Targets(peerId)));
    file.progress->finish(ok);
    out.event({{"event", "received"},
               {"name", file.name},
               {"path", file.finalPath.string()},
               {"bytes", file.size},
               {"sha256", digest},
               {"verified", ok},
               {"peerId", peerId},
               {"seconds", file.progress->seconds()},
               {"megabytesPerSecond", file.progress->megabytesPerSecond()}},
              ok ? "saved " + file.finalPath.string() +
                       (file.expectedSha.empty() ? "" : " (sha256 verified)")
                 : "");
    if (!ok) {
      anyFailed = true;
      out.error(file.name + ": " + ack.value("error", std::string("failed")));
    }
    auto files = metaNumber<std::size_t>(meta, "files", 1);
    incoming.erase(it);
    if (++finished[peerId] >= files && !options.keep) batchDone = true;
  };

  fileAction.receive([queue, &handlePart](const Payload& payload, const std::string& peerId,
                                          const Metadata& meta) {
    Bytes bytes = payload.isBinary() ? payload.bytes()
                  : payload.isText() ? Bytes(payload.text().begin(), payload.text().end())
                                     : Bytes();
    auto size = bytes.size();
    queue->push(
        [&handlePart, peerId, meta, bytes = std::move(bytes)] { handlePart(peerId, meta, bytes); },
        size);
  });
  // Receiver-side progress is per part; the bar shows whole parts written (updated above).
  session.onLeave = [&](const std::string& peerId) {
    std::vector<std::string> lost;
    for (const auto& [key, file] : incoming) {
      if (file->peerId == peerId) lost.push_back(key);
    }
    for (const auto& key : lost)
      fail(key, "peer " + shortId(peerId) + " left during " + incoming[key]->name);
  };

  if (!out.json()) {
    out.event({}, "waiting for files in room '" + options.room + "' (" + options.strategy +
                      ") as " + selfId() + " ...");
  }
  int code = session.runUntil([&] { return !session.peers().empty(); }, true);
  if (code != kOk) return code;
  code = session.runUntil([&] { return batchDone; }, false);
  if (code == kOk) {
    // The acknowledgements must be out before we leave (a sender that left fails them).
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    session.runUntil(
        [&] {
          return std::chrono::steady_clock::now() > until ||
                 std::all_of(acks.begin(), acks.end(),
                             [](const Future<void>& f) { return f.ready(); });
        },
        false);
  }
  for (auto& [key, file] : incoming) {
    file->stream.close();
    fs::remove(file->tempPath, error);
  }
  if (code != kOk) return code;
  return anyFailed ? kFailed : kOk;
}

}  // namespace trystero::cli

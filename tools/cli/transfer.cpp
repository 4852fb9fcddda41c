// `trystero send` / `trystero receive`: files over the action "file", in parts of at most 4 MiB
// (a message must fit the receivers' reassembly limit, and memory stays bounded on both sides)
// with metadata {name, size, sha256, offset, length, index, files}. The receiver writes each
// part at its offset into a temporary file, checks SHA-256 at the end, renames it into place
// and answers on "file-ack" {index, name, ok, sha256}; the sender's exit code reflects the acks.
// A binary sent without that metadata (e.g. by a browser app) is saved as one whole file.
// Flow control: the receiver acknowledges every part once written ("file-part" {index,
// offset}); towards a peer that does, the sender keeps at most kPartsInFlight parts not yet
// acknowledged, so a slow disk slows the sender instead of filling the receiver's memory.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
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
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    std::size_t length = 0;  // counts the NUL
    OPENSSL_buf2hexstr_ex(hex, sizeof hex, &length, digest, size, '\0');
    std::string out(hex, length > 0 ? length - 1 : 0);
    // sha256sum's lowercase (OpenSSL writes uppercase).
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return static_cast<char>(std::tolower(c)); });
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

// `trystero send`: the files, the peers they go to and what those peers acknowledged.
class Sender {
 public:
  Sender(const Options& options, Output& out, std::vector<OutgoingFile> files);
  int run();

 private:
  void onAck(const Payload& payload, const std::string& peerId);
  void onLeave(const std::string& peerId);
  bool isTarget(const std::string& peerId) const;
  bool verifiedBy(const std::string& peerId) { return acked_[peerId].size() == files_.size(); }
  // Towards peers that acknowledge parts: at most kPartsInFlight unacknowledged.
  bool withinWindow() const;
  int sendFile(std::size_t index);
  std::function<void(double, const std::string&)> progressReporter(
      std::shared_ptr<Progress> progress, std::uint64_t offset, std::uint64_t length);
  // Waits for the oldest part in flight to be sent; fails the file's progress when it fails.
  int settleOldest(std::deque<Future<void>>& inflight, Progress& progress,
                   const OutgoingFile& file);
  int awaitVerification();

  const Options& options_;
  Output& out_;
  std::vector<OutgoingFile> files_;
  Session session_;
  Action fileAction_;
  Action ackAction_;
  Action partAction_;
  std::vector<std::string> targets_;
  std::map<std::string, std::uint64_t> partsAcked_;  // by peer, once it acknowledges parts
  std::uint64_t partsSent_ = 0;
  std::map<std::string, std::set<std::size_t>> acked_;  // by peer: file indexes verified
  // Progress of the file being sent, by peer (its progress is the least of them).
  std::shared_ptr<std::map<std::string, std::uint64_t>> doneByPeer_;
  bool failed_ = false;
};

Sender::Sender(const Options& options, Output& out, std::vector<OutgoingFile> files)
    : options_(options),
      out_(out),
      files_(std::move(files)),
      session_(options, out),
      fileAction_(session_.room().makeAction(kFileAction)),
      ackAction_(session_.room().makeAction(kFileAckAction)),
      partAction_(session_.room().makeAction(kFilePartAckAction)) {
  session_.receive(partAction_, [this](const Payload&, const std::string& peerId, const Metadata&) {
    ++partsAcked_[peerId];
  });
  session_.receive(ackAction_, [this](const Payload& payload, const std::string& peerId,
                                      const Metadata&) { onAck(payload, peerId); });
  session_.onLeave = [this](const std::string& peerId) { onLeave(peerId); };
}

bool Sender::isTarget(const std::string& peerId) const {
  return std::find(targets_.begin(), targets_.end(), peerId) != targets_.end();
}

void Sender::onAck(const Payload& payload, const std::string& peerId) {
  if (!payload.isJson() || !payload.json().is_object()) return;
  const auto& ack = payload.json();
  if (!isTarget(peerId)) return;
  auto index = ack.value("index", std::size_t{0});
  if (index >= files_.size()) return;
  if (ack.value("ok", false)) {
    acked_[peerId].insert(index);
  } else {
    failed_ = true;
    out_.error("peer " + shortId(peerId) + " could not verify " + files_[index].name + ": " +
               ack.value("error", std::string("checksum mismatch")));
  }
}

void Sender::onLeave(const std::string& peerId) {
  if (!isTarget(peerId) || verifiedBy(peerId)) return;
  out_.error("peer " + shortId(peerId) + " left before every file arrived");
  session_.stop(kFailed);
}

bool Sender::withinWindow() const {
  return std::all_of(targets_.begin(), targets_.end(), [&](const std::string& id) {
    auto it = partsAcked_.find(id);
    return it == partsAcked_.end() || partsSent_ <= it->second + kPartsInFlight;
  });
}

int Sender::run() {
  if (!out_.json()) {
    out_.event({}, "waiting for " + std::to_string(options_.peers) + " peer(s) in room '" +
                       options_.room + "' (" + options_.strategy + ") ...");
  }
  int code = session_.waitForPeers(options_.peers);
  if (code != kOk) return code;
  targets_.assign(session_.peers().begin(),
                  session_.peers().begin() + static_cast<std::ptrdiff_t>(options_.peers));
  out_.event({{"event", "sending"}, {"peers", targets_}, {"files", files_.size()}}, "");
  for (std::size_t index = 0; index < files_.size(); ++index) {
    code = sendFile(index);
    if (code != kOk) return code;
  }
  return awaitVerification();
}

// Runs on the network thread: only queues the update.
std::function<void(double, const std::string&)> Sender::progressReporter(
    std::shared_ptr<Progress> progress, std::uint64_t offset, std::uint64_t length) {
  return [queue = session_.queue(), progress, doneByPeer = doneByPeer_, offset, length](
             double fraction, const std::string& peerId) {
    queue->push([=] {
      (*doneByPeer)[peerId] =
          offset + static_cast<std::uint64_t>(fraction * static_cast<double>(length));
      std::uint64_t least = UINT64_MAX;
      for (const auto& [id, done] : *doneByPeer) least = std::min(least, done);
      progress->update(least);
    });
  };
}

// Parts of at most kPartBytes, at most kPartsInFlight of them in flight.
int Sender::sendFile(std::size_t index) {
  const auto& file = files_[index];
  auto progress = std::make_shared<Progress>(out_, file.name, file.size);
  doneByPeer_ = std::make_shared<std::map<std::string, std::uint64_t>>();
  std::ifstream in(file.path, std::ios::binary);
  std::deque<Future<void>> inflight;
  std::uint64_t offset = 0;
  do {
    auto length = std::min(kPartBytes, file.size - offset);
    Bytes bytes(length);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(length));
    if (static_cast<std::uint64_t>(in.gcount()) != length) {
      out_.error("'" + file.path.string() + "' changed while it was being sent");
      return kFailed;
    }
    nlohmann::json meta{
        {"name", file.name},     {"size", file.size},     {"type", "application/octet-stream"},
        {"sha256", file.sha256}, {"offset", offset},      {"length", length},
        {"index", index},        {"files", files_.size()}};
    int code = session_.runUntil([this] { return withinWindow(); }, false);
    if (code != kOk) {
      progress->finish(false);
      return code;
    }
    inflight.push_back(fileAction_.send(Payload(std::move(bytes)), Targets(targets_), meta,
                                        progressReporter(progress, offset, length)));
    ++partsSent_;
    offset += length;
    while (inflight.size() >= kPartsInFlight || (offset >= file.size && !inflight.empty())) {
      code = settleOldest(inflight, *progress, file);
      if (code != kOk) return code;
    }
  } while (offset < file.size);
  progress->update(file.size);
  progress->finish(true);
  out_.event({{"event", "sent"},
              {"name", file.name},
              {"bytes", file.size},
              {"seconds", progress->seconds()},
              {"megabytesPerSecond", progress->megabytesPerSecond()},
              {"sha256", file.sha256}},
             "");
  return kOk;
}

int Sender::settleOldest(std::deque<Future<void>>& inflight, Progress& progress,
                         const OutgoingFile& file) {
  int code = session_.waitFor(inflight.front());
  if (code != kOk) {
    progress.finish(false);
    return code;
  }
  try {
    inflight.front().get();
  } catch (const std::exception& e) {
    progress.finish(false);
    out_.error("sending " + file.name + " failed: " + e.what());
    return kFailed;
  }
  inflight.pop_front();
  return kOk;
}

int Sender::awaitVerification() {
  auto deadline = std::chrono::steady_clock::now() + kAckTimeout;
  int code = session_.runUntil(
      [this] {
        return failed_ || std::all_of(targets_.begin(), targets_.end(),
                                      [this](const std::string& id) { return verifiedBy(id); });
      },
      deadline);
  if (code != kOk) return code;
  if (failed_) return kFailed;
  for (const auto& id : targets_) {
    if (!verifiedBy(id)) {
      out_.error("peer " + shortId(id) + " did not confirm every file within " +
                 std::to_string(kAckTimeout.count()) + " s");
      return kFailed;
    }
  }
  out_.event({{"event", "verified"}, {"peers", targets_}},
             "all " + std::to_string(files_.size()) + " file(s) arrived and were verified by " +
                 std::to_string(targets_.size()) + " peer(s)");
  return kOk;
}

}  // namespace

int runSend(const Options& options, Output& out) {
  std::vector<OutgoingFile> files;
  for (const auto& argument : options.arguments) files.push_back(describe(argument));
  return Sender(options, out, std::move(files)).run();
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

// `trystero receive`: the files coming in, by peer/index/name, and what was done with them.
class Receiver {
 public:
  Receiver(const Options& options, Output& out, fs::path dir);
  int run();

 private:
  using Incoming = std::map<std::string, std::unique_ptr<IncomingFile>>;
  void handlePart(const std::string& peerId, const Metadata& meta,
                  std::span<const std::uint8_t> bytes);
  // The file a part belongs to, its temporary file opened on its first part; end() when that
  // cannot be written.
  Incoming::iterator fileFor(const std::string& key, const std::string& peerId,
                             const std::string& name, const Metadata& meta, std::uint64_t size);
  // The whole file arrived: verify it, move it into place, acknowledge.
  void finish(Incoming::iterator it, const Metadata& meta);
  void fail(const std::string& key, const std::string& message);
  void onLeave(const std::string& peerId);
  // The acknowledgements must be out before we leave (a sender that left fails them).
  void flushAcks();
  void removeUnfinished();

  const Options& options_;
  Output& out_;
  fs::path dir_;
  Session session_;
  Action fileAction_;
  Action ackAction_;
  Action partAction_;
  Incoming incoming_;
  std::map<std::string, std::size_t> finished_;  // by peer: files done
  std::size_t unnamed_ = 0;
  std::vector<Future<void>> acks_;
  bool batchDone_ = false;
  bool anyFailed_ = false;
};

Receiver::Receiver(const Options& options, Output& out, fs::path dir)
    : options_(options),
      out_(out),
      dir_(std::move(dir)),
      session_(options, out),
      fileAction_(session_.room().makeAction(kFileAction)),
      ackAction_(session_.room().makeAction(kFileAckAction)),
      partAction_(session_.room().makeAction(kFilePartAckAction)) {
  session_.receive(
      fileAction_,
      [this](const Payload& payload, const std::string& peerId, const Metadata& meta) {
        handlePart(peerId, meta, payloadData(payload));
      },
      /*counted=*/true);
  // Receiver-side progress is per part; the bar shows whole parts written (handlePart).
  session_.onLeave = [this](const std::string& peerId) { onLeave(peerId); };
}

int Receiver::run() {
  if (!out_.json()) {
    out_.event({}, "waiting for files in room '" + options_.room + "' (" + options_.strategy +
                       ") as " + selfId() + " ...");
  }
  int code = session_.waitForPeers(1);
  if (code != kOk) return code;
  code = session_.runUntil([this] { return batchDone_; }, false);
  if (code == kOk) flushAcks();
  removeUnfinished();
  if (code != kOk) return code;
  return anyFailed_ ? kFailed : kOk;
}

void Receiver::handlePart(const std::string& peerId, const Metadata& meta,
                          std::span<const std::uint8_t> bytes) {
  std::string name = metaString(meta, "name");
  auto offset = metaNumber<std::uint64_t>(meta, "offset", 0);
  auto size = metaNumber<std::uint64_t>(meta, "size", bytes.size());
  auto index = metaNumber<std::size_t>(meta, "index", 0);
  if (name.empty()) {
    name = "received-" + shortId(peerId) + "-" + std::to_string(++unnamed_) + ".bin";
  }
  // Parts of one file may arrive out of order (messages in flight together interleave).
  std::string key = peerId + "/" + std::to_string(index) + "/" + name;
  auto it = fileFor(key, peerId, name, meta, size);
  if (it == incoming_.end()) return;
  auto& file = *it->second;
  if (file.offsets.count(offset)) return;
  if (offset > file.size || bytes.size() > file.size - offset ||
      file.written + bytes.size() > file.size) {
    return fail(key, "peer " + shortId(peerId) + " sent more of " + file.name + " than announced");
  }
  file.offsets.insert(offset);
  file.stream.seekp(static_cast<std::streamoff>(offset));
  file.stream.write(reinterpret_cast<const char*>(bytes.data()),
                    static_cast<std::streamsize>(bytes.size()));
  file.written += bytes.size();
  partAction_.send(nlohmann::json{{"index", file.index}, {"offset", offset}}, Targets(peerId));
  file.progress->update(file.written);
  if (file.written < file.size) return;
  finish(it, meta);
}

Receiver::Incoming::iterator Receiver::fileFor(const std::string& key, const std::string& peerId,
                                               const std::string& name, const Metadata& meta,
                                               std::uint64_t size) {
  if (auto it = incoming_.find(key); it != incoming_.end()) return it;
  auto file = std::make_unique<IncomingFile>();
  file->peerId = peerId;
  file->name = safeName(name);
  file->size = size;
  file->expectedSha = metaString(meta, "sha256");
  file->index = metaNumber<std::size_t>(meta, "index", 0);
  file->finalPath = freePath(dir_, file->name);
  file->tempPath = dir_ / ("." + file->name + "." + shortId(peerId) + ".trystero-part");
  file->stream.open(file->tempPath,
                    std::ios::binary | std::ios::in | std::ios::out | std::ios::trunc);
  if (!file->stream) {
    out_.error("cannot write " + file->tempPath.string());
    session_.stop(kFailed);
    return incoming_.end();
  }
  file->progress = std::make_shared<Progress>(out_, file->name, size);
  out_.event({{"event", "receiving"}, {"name", file->name}, {"bytes", size}, {"peerId", peerId}},
             "");
  return incoming_.emplace(key, std::move(file)).first;
}

void Receiver::finish(Incoming::iterator it, const Metadata& meta) {
  auto& file = *it->second;
  bool written = static_cast<bool>(file.stream.flush());
  file.stream.close();
  auto digest = fileSha256(file.tempPath);
  bool ok = written && (file.expectedSha.empty() || digest == file.expectedSha);
  nlohmann::json ack{{"index", file.index}, {"name", file.name}, {"ok", ok}, {"sha256", digest}};
  std::error_code error;
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
  acks_.push_back(ackAction_.send(ack, Targets(file.peerId)));
  file.progress->finish(ok);
  out_.event({{"event", "received"},
              {"name", file.name},
              {"path", file.finalPath.string()},
              {"bytes", file.size},
              {"sha256", digest},
              {"verified", ok},
              {"peerId", file.peerId},
              {"seconds", file.progress->seconds()},
              {"megabytesPerSecond", file.progress->megabytesPerSecond()}},
             ok ? "saved " + file.finalPath.string() +
                      (file.expectedSha.empty() ? "" : " (sha256 verified)")
                : "");
  if (!ok) {
    anyFailed_ = true;
    out_.error(file.name + ": " + ack.value("error", std::string("failed")));
  }
  auto files = metaNumber<std::size_t>(meta, "files", 1);
  auto peerId = file.peerId;
  incoming_.erase(it);
  if (++finished_[peerId] >= files && !options_.keep) batchDone_ = true;
}

void Receiver::fail(const std::string& key, const std::string& message) {
  anyFailed_ = true;
  out_.error(message);
  if (auto it = incoming_.find(key); it != incoming_.end()) {
    if (it->second->progress) it->second->progress->finish(false);
    it->second->stream.close();
    std::error_code error;
    fs::remove(it->second->tempPath, error);
    incoming_.erase(it);
  }
  if (!options_.keep) session_.stop(kFailed);
}

void Receiver::onLeave(const std::string& peerId) {
  std::vector<std::string> lost;
  for (const auto& [key, file] : incoming_) {
    if (file->peerId == peerId) lost.push_back(key);
  }
  for (const auto& key : lost) {
    fail(key, "peer " + shortId(peerId) + " left during " + incoming_[key]->name);
  }
}

void Receiver::flushAcks() {
  session_.runUntil(
      [this] {
        return std::all_of(acks_.begin(), acks_.end(),
                           [](const Future<void>& f) { return f.ready(); });
      },
      std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

void Receiver::removeUnfinished() {
  std::error_code error;
  for (auto& [key, file] : incoming_) {
    file->stream.close();
    fs::remove(file->tempPath, error);
  }
}

}  // namespace

int runReceive(const Options& options, Output& out) {
  fs::path dir = options.dir;
  std::error_code error;
  fs::create_directories(dir, error);
  if (!fs::is_directory(dir, error)) {
    throw UsageError("--dir '" + options.dir + "' is not a directory");
  }
  return Receiver(options, out, std::move(dir)).run();
}

}  // namespace trystero::cli

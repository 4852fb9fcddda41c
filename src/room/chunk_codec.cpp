#include "room/chunk_codec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "crypto/crypto.hpp"
#include "util/json_limits.hpp"

namespace trystero::room {
namespace {

// What a stored chunk costs beyond its payload (vector header, allocator overhead), so that a
// flood of one-byte chunks is bounded by maxBytesInFlight as well.
constexpr std::size_t kStoredChunkOverhead = 64;

std::vector<std::uint8_t> join(std::vector<std::vector<std::uint8_t>>& chunks) {
  if (chunks.size() == 1) return std::move(chunks.front());
  std::size_t total = 0;
  for (const auto& c : chunks) total += c.size();
  std::vector<std::uint8_t> out;
  out.reserve(total);
  for (auto& c : chunks) {
    out.insert(out.end(), c.begin(), c.end());
    std::vector<std::uint8_t>().swap(c);  // release as we go
  }
  return out;
}

}  // namespace

std::uint8_t progressByte(std::size_t index, std::size_t total) {
  const double x =
      (static_cast<double>(index + 1) / static_cast<double>(total)) * 255.0;  // same ops as JS
  // Math.round: the nearest integer, halves rounded up. x is never negative here.
  double r = std::floor(x);
  if (x - r >= 0.5) r += 1.0;
  return static_cast<std::uint8_t>(std::clamp(r, 0.0, 255.0));
}

ChunkEncoder::ChunkEncoder(std::string_view type, std::uint8_t nonce, PayloadKind kind,
                           std::vector<std::uint8_t> payload, std::optional<std::string> metaJson)
    : kind_(kind), owned_(std::move(payload)), meta_(std::move(metaJson)) {
  init(type, nonce);
}

ChunkEncoder::ChunkEncoder(Borrow, std::string_view type, std::uint8_t nonce, PayloadKind kind,
                           std::span<const std::uint8_t> payload,
                           std::optional<std::string> metaJson)
    : kind_(kind),
      borrowedData_(payload.data()),
      borrowedSize_(payload.size()),
      borrowed_(true),
      meta_(std::move(metaJson)) {
  init(type, nonce);
}

ChunkEncoder ChunkEncoder::borrowing(std::string_view type, std::uint8_t nonce, PayloadKind kind,
                                     std::span<const std::uint8_t> payload,
                                     std::optional<std::string> metaJson) {
  return ChunkEncoder(Borrow{}, type, nonce, kind, payload, std::move(metaJson));
}

void ChunkEncoder::init(std::string_view type, std::uint8_t nonce) {
  if (type.empty()) throw std::invalid_argument("trystero: action type is required");
  if (type.size() > kTypeBytes) {
    throw std::invalid_argument("trystero: action type \"" + std::string(type) +
                                "\" exceeds the 12-byte limit");
  }
  if (meta_ && kind_ != PayloadKind::kBinary) {
    throw std::invalid_argument("trystero: action metadata can only be sent with binary data");
  }
  std::memcpy(header_.data(), type.data(), type.size());
  header_[kNonceIndex] = nonce;
  const std::size_t size = payload().size();
  chunkCount_ = size / kMaxChunkPayload + (size % kMaxChunkPayload != 0 ? 1 : 0) + (meta_ ? 1 : 0);
  if (chunkCount_ == 0) chunkCount_ = 1;
}

std::span<const std::uint8_t> ChunkEncoder::body(std::size_t i) const {
  if (i >= chunkCount_) throw std::out_of_range("trystero: chunk index out of range");
  if (meta_ && i == 0) {
    return {reinterpret_cast<const std::uint8_t*>(meta_->data()), meta_->size()};
  }
  const auto data = payload();
  const std::size_t offset = (meta_ ? i - 1 : i) * kMaxChunkPayload;
  if (offset >= data.size()) return {};
  return data.subspan(offset, std::min(kMaxChunkPayload, data.size() - offset));
}

std::size_t ChunkEncoder::chunkSize(std::size_t i) const { return kHeaderBytes + body(i).size(); }

void ChunkEncoder::writeChunk(std::size_t i, std::vector<std::uint8_t>& out) const {
  const auto data = body(i);
  const bool isLast = i + 1 == chunkCount_;
  const bool isMeta = meta_ && i == 0;
  // room.js sets the JSON bit for everything that is not a string, binary included.
  const bool isBinary = kind_ == PayloadKind::kBinary;
  const bool isJson = kind_ != PayloadKind::kText;
  out.resize(kHeaderBytes + data.size());
  std::memcpy(out.data(), header_.data(), kHeaderBytes);
  out[kTagIndex] = static_cast<std::uint8_t>((isLast ? kTagLast : 0) | (isMeta ? kTagMeta : 0) |
                                             (isBinary ? kTagBinary : 0) | (isJson ? kTagJson : 0));
  out[kProgressIndex] = progressByte(i, chunkCount_);
  if (!data.empty()) std::memcpy(out.data() + kHeaderBytes, data.data(), data.size());
}

std::vector<std::uint8_t> ChunkEncoder::chunk(std::size_t i) const {
  std::vector<std::uint8_t> out;
  writeChunk(i, out);
  return out;
}

std::vector<std::vector<std::uint8_t>> encodeChunks(std::string_view type, std::uint8_t nonce,
                                                    PayloadKind kind,
                                                    std::span<const std::uint8_t> payload,
                                                    std::optional<std::string> metaJson) {
  const auto encoder = ChunkEncoder::borrowing(type, nonce, kind, payload, std::move(metaJson));
  std::vector<std::vector<std::uint8_t>> out(encoder.chunkCount());
  for (std::size_t i = 0; i < out.size(); ++i) encoder.writeChunk(i, out[i]);
  return out;
}

std::optional<Chunk> parseChunk(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderBytes) return std::nullopt;
  Chunk chunk;
  chunk.type = crypto::textDecode(bytes.first(kTypeBytes));
  std::erase(chunk.type, '\0');
  chunk.nonce = bytes[kNonceIndex];
  chunk.tag = bytes[kTagIndex];
  chunk.progress = bytes[kProgressIndex];
  chunk.payload = bytes.subspan(kHeaderBytes);
  return chunk;
}

Reassembler::Reassembler(ReassemblerLimits limits) : limits_(limits) {
  limits_.maxPartials = std::max<std::size_t>(limits_.maxPartials, 1);
}

FeedResult Reassembler::feed(std::span<const std::uint8_t> bytes) {
  const auto chunk = parseChunk(bytes);
  if (!chunk) {
    ++stats_.shortChunks;
    return {};
  }
  return feed(*chunk);
}

FeedResult Reassembler::feed(const Chunk& chunk) {
  ++clock_;
  Key key{chunk.type, chunk.nonce};
  if (const auto d = dropped_.find(key); d != dropped_.end()) {
    ++stats_.discardedChunks;
    if (chunk.isLast()) {
      dropped_.erase(d);
    } else {
      d->second = clock_;
    }
    return {};
  }

  auto it = partials_.find(key);
  const bool isNew = it == partials_.end();
  const std::size_t size = chunk.payload.size();

  // Validate before touching any state.
  std::shared_ptr<const std::string> meta;
  if (chunk.isMeta()) {
    if (size > limits_.maxMetaBytes) {
      drop(key, it, chunk.isLast(), stats_.oversizedMessages);
      return {};
    }
    std::string text = crypto::textDecode(chunk.payload);
    // Checked here, before it is stored: the receiver parses it for every progress event.
    if (!util::jsonDepthWithin(text)) {
      drop(key, it, chunk.isLast(), stats_.deepMeta);
      return {};
    }
    if (!nlohmann::json::accept(text)) {
      drop(key, it, chunk.isLast(), stats_.badMeta);
      return {};
    }
    meta = std::make_shared<const std::string>(std::move(text));
  } else {
    const std::size_t held = isNew ? 0 : it->second.dataBytes;
    if (size > limits_.maxMessageBytes || held > limits_.maxMessageBytes - size) {
      drop(key, it, chunk.isLast(), stats_.oversizedMessages);
      return {};
    }
  }

  // A transmission that starts and ends with this chunk is delivered without being stored.
  const bool transient = isNew && chunk.isLast();
  std::size_t addedCharge = 0;
  std::size_t releasedCharge = 0;
  if (!transient) {
    if (chunk.isMeta()) {
      addedCharge = size;
      releasedCharge = isNew ? 0 : it->second.metaCharge;
    } else if (size != 0) {
      addedCharge = size + kStoredChunkOverhead;
    }
    if (addedCharge > releasedCharge &&
        addedCharge - releasedCharge > limits_.maxBytesInFlight - inFlight_) {
      drop(key, it, chunk.isLast(), stats_.inFlightOverflows);
      return {};
    }
  }

  Partial single;
  Partial* p = &single;
  if (!transient) {
    if (isNew) {
      if (partials_.size() >= limits_.maxPartials) evictLeastRecentlyActive();
      it = partials_.try_emplace(key).first;
    }
    p = &it->second;
    inFlight_ = inFlight_ - releasedCharge + addedCharge;
    p->charged = p->charged - releasedCharge + addedCharge;
  }
  if (chunk.isMeta()) {
    p->meta = std::move(meta);
    p->metaCharge = transient ? 0 : size;
  } else if (size != 0) {
    p->chunks.emplace_back(chunk.payload.begin(), chunk.payload.end());
    p->dataBytes += size;
  }
  p->lastActive = clock_;

  FeedResult result;
  result.progress = ProgressEvent{chunk.type, chunk.nonce, chunk.progress / 255.0, p->meta};
  if (chunk.isLast()) {
    Message message;
    message.type = chunk.type;
    message.nonce = chunk.nonce;
    message.kind = chunk.kind();
    message.bytes = join(p->chunks);
    message.meta = p->meta;
    if (!transient) {
      inFlight_ -= it->second.charged;
      partials_.erase(it);
    }
    result.message = std::move(message);
  }
  return result;
}

void Reassembler::clear() {
  partials_.clear();
  dropped_.clear();
  inFlight_ = 0;
}

void Reassembler::drop(const Key& key, PartialMap::iterator it, bool last, std::uint64_t& counter) {
  ++counter;
  if (it != partials_.end()) {
    inFlight_ -= it->second.charged;
    partials_.erase(it);
  }
  if (!last) rememberDropped(key);
}

void Reassembler::rememberDropped(const Key& key) {
  if (dropped_.size() >= limits_.maxPartials) {
    const auto oldest =
        std::min_element(dropped_.begin(), dropped_.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    dropped_.erase(oldest);
  }
  dropped_[key] = clock_;
}

void Reassembler::evictLeastRecentlyActive() {
  const auto oldest = std::min_element(
      partials_.begin(), partials_.end(),
      [](const auto& a, const auto& b) { return a.second.lastActive < b.second.lastActive; });
  if (oldest == partials_.end()) return;
  const Key key = oldest->first;
  ++stats_.evictedPartials;
  inFlight_ -= oldest->second.charged;
  partials_.erase(oldest);
  rememberDropped(key);
}

}  // namespace trystero::room

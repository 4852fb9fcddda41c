// The action wire format of trystero@0.22.0 (room.js): every data-channel message is one chunk
//
//   bytes 0-11  action type, UTF-8, zero-padded (at most 12 bytes)
//   byte  12    nonce (per action, the sender's counter, wrapping at 256)
//   byte  13    tag bits: 1 last, 2 metadata, 4 binary, 8 JSON (binary payloads set 4 AND 8)
//   byte  14    progress: round(255 * (i + 1) / total)
//   bytes 15-   payload, at most 16384 - 15 bytes per chunk (a metadata chunk may be longer)
//
// A transmission is keyed by (type, nonce). Binary sends with metadata start with one chunk
// holding the metadata JSON; an empty payload still makes one chunk. Pure data: no I/O, no
// threads; one Reassembler per peer, used from one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trystero::room {

inline constexpr std::size_t kTypeBytes = 12;
inline constexpr std::size_t kNonceIndex = 12;
inline constexpr std::size_t kTagIndex = 13;
inline constexpr std::size_t kProgressIndex = 14;
inline constexpr std::size_t kHeaderBytes = 15;
inline constexpr std::size_t kMaxChunkBytes = 16 * 1024;
inline constexpr std::size_t kMaxChunkPayload = kMaxChunkBytes - kHeaderBytes;  // 16369

inline constexpr std::uint8_t kTagLast = 1;
inline constexpr std::uint8_t kTagMeta = 2;
inline constexpr std::uint8_t kTagBinary = 4;
inline constexpr std::uint8_t kTagJson = 8;

// How the payload bytes are to be read: a raw UTF-8 string, JSON text, or bytes.
enum class PayloadKind : std::uint8_t { kText, kJson, kBinary };

// room.js's progress byte for chunk index of total: Math.round(((index + 1) / total) * 255).
std::uint8_t progressByte(std::size_t index, std::size_t total);

// Produces the chunks of one transmission on demand, so that a huge payload is never copied
// into chunk form all at once.
class ChunkEncoder {
 public:
  // Owns the payload. Throws std::invalid_argument if type is empty or longer than 12 UTF-8
  // bytes, or if metadata is given for a non-binary kind (room.js rejects both).
  ChunkEncoder(std::string_view type, std::uint8_t nonce, PayloadKind kind,
               std::vector<std::uint8_t> payload, std::optional<std::string> metaJson = {});
  // Same, but only refers to payload, which must outlive the encoder and stay unchanged.
  static ChunkEncoder borrowing(std::string_view type, std::uint8_t nonce, PayloadKind kind,
                                std::span<const std::uint8_t> payload,
                                std::optional<std::string> metaJson = {});

  std::size_t chunkCount() const { return chunkCount_; }
  // Total size of chunk i, header included.
  std::size_t chunkSize(std::size_t i) const;
  // Chunk i (0 <= i < chunkCount(), else std::out_of_range).
  std::vector<std::uint8_t> chunk(std::size_t i) const;
  // Chunk i into out (resized; reuse it to avoid an allocation per chunk).
  void writeChunk(std::size_t i, std::vector<std::uint8_t>& out) const;

  std::uint8_t nonce() const { return header_[kNonceIndex]; }
  PayloadKind kind() const { return kind_; }
  std::size_t payloadSize() const { return payload().size(); }

 private:
  struct Borrow {};
  ChunkEncoder(Borrow, std::string_view type, std::uint8_t nonce, PayloadKind kind,
               std::span<const std::uint8_t> payload, std::optional<std::string> metaJson);
  void init(std::string_view type, std::uint8_t nonce);
  std::span<const std::uint8_t> payload() const {
    return borrowed_ ? std::span<const std::uint8_t>(borrowedData_, borrowedSize_)
                     : std::span<const std::uint8_t>(owned_);
  }
  std::span<const std::uint8_t> body(std::size_t i) const;

  std::array<std::uint8_t, kHeaderBytes> header_{};
  PayloadKind kind_;
  std::vector<std::uint8_t> owned_;
  const std::uint8_t* borrowedData_ = nullptr;
  std::size_t borrowedSize_ = 0;
  bool borrowed_ = false;
  std::optional<std::string> meta_;
  std::size_t chunkCount_ = 1;
};

// All chunks at once; convenient for small messages.
std::vector<std::vector<std::uint8_t>> encodeChunks(std::string_view type, std::uint8_t nonce,
                                                    PayloadKind kind,
                                                    std::span<const std::uint8_t> payload,
                                                    std::optional<std::string> metaJson = {});

// One received chunk. payload points into the buffer given to parseChunk().
struct Chunk {
  // The type as room.js's receiver computes it: the 12 bytes decoded like TextDecoder (leading
  // BOM dropped, invalid UTF-8 as U+FFFD), then every NUL removed, wherever it is.
  std::string type;
  std::uint8_t nonce = 0;
  std::uint8_t tag = 0;
  std::uint8_t progress = 0;
  std::span<const std::uint8_t> payload;

  bool isLast() const { return (tag & kTagLast) != 0; }
  bool isMeta() const { return (tag & kTagMeta) != 0; }
  bool isBinary() const { return (tag & kTagBinary) != 0; }
  bool isJson() const { return (tag & kTagJson) != 0; }
  // Binary wins over JSON (binary chunks carry both bits).
  PayloadKind kind() const {
    return isBinary() ? PayloadKind::kBinary : isJson() ? PayloadKind::kJson : PayloadKind::kText;
  }
};

// nullopt if bytes is shorter than the 15-byte header.
std::optional<Chunk> parseChunk(std::span<const std::uint8_t> bytes);

struct ReassemblerLimits {
  // Bytes held in unfinished transmissions of this peer: data and metadata, plus a fixed charge
  // per stored chunk so that floods of tiny chunks are bounded too.
  // Room for two messages of the largest size at once plus the per-chunk charge (a 64 MiB
  // message is 4,100 chunks: 64 MiB + 256 KiB charged), so a maximal message always fits.
  std::size_t maxBytesInFlight = 129 * 1024 * 1024;
  // Unfinished transmissions at once (at least 1); a new one beyond this evicts the least
  // recently active. Also bounds how many dropped transmissions are remembered.
  std::size_t maxPartials = 256;
  // Data bytes of one message (metadata not included).
  std::size_t maxMessageBytes = 64 * 1024 * 1024;
  // Bytes of one metadata chunk.
  std::size_t maxMetaBytes = 256 * 1024;
};

// Counters of what the Reassembler refused. Every dropped transmission counts once, in the
// counter of its reason; chunks that arrive for it afterwards count in discardedChunks.
struct ReassemblerStats {
  std::uint64_t shortChunks = 0;        // fewer than 15 bytes
  std::uint64_t oversizedMessages = 0;  // over maxMessageBytes or maxMetaBytes
  std::uint64_t inFlightOverflows = 0;  // would have exceeded maxBytesInFlight
  std::uint64_t evictedPartials = 0;    // pushed out by maxPartials
  std::uint64_t badMeta = 0;            // metadata that is not JSON
  std::uint64_t deepMeta = 0;           // metadata nested beyond util::kMaxJsonDepth
  std::uint64_t discardedChunks = 0;    // later chunks of a dropped transmission

  std::uint64_t droppedTransmissions() const {
    return oversizedMessages + inFlightOverflows + evictedPartials + badMeta + deepMeta;
  }
};

// room.js calls onProgress for every chunk it accepts, with the transmission's metadata so far.
struct ProgressEvent {
  std::string type;
  std::uint8_t nonce = 0;
  double progress = 0;                      // progress byte / 255
  std::shared_ptr<const std::string> meta;  // metadata JSON text, null if none (yet)
};

struct Message {
  std::string type;
  std::uint8_t nonce = 0;
  PayloadKind kind = PayloadKind::kText;  // from the last chunk's tag, as in room.js
  std::vector<std::uint8_t> bytes;        // raw; text/JSON are read with crypto::textDecode()
  // Metadata JSON text, null if none. room.js hands it to the receiver only for binary data.
  std::shared_ptr<const std::string> meta;
};

// What one chunk produced. When both are set, deliver progress first (room.js order).
struct FeedResult {
  std::optional<ProgressEvent> progress;
  std::optional<Message> message;
};

// Rebuilds the transmissions of one peer from its chunks, in arrival order, keyed by
// (type, nonce), with bounded memory. A transmission that breaks a limit is dropped; until its
// last chunk arrives, further chunks of it are discarded (so its tail can never pose as a
// message of its own). Remembered drops are bounded by maxPartials as well.
class Reassembler {
 public:
  explicit Reassembler(ReassemblerLimits limits = {});

  // Parses and feeds one data-channel message.
  FeedResult feed(std::span<const std::uint8_t> bytes);
  // Feeds an already parsed chunk (e.g. after checking that its type is registered).
  FeedResult feed(const Chunk& chunk);

  const ReassemblerLimits& limits() const { return limits_; }
  const ReassemblerStats& stats() const { return stats_; }
  std::size_t bytesInFlight() const { return inFlight_; }
  std::size_t partialCount() const { return partials_.size(); }
  std::size_t droppedKeyCount() const { return dropped_.size(); }
  // Forgets every unfinished transmission (e.g. when the peer leaves). Stats are kept.
  void clear();

 private:
  using Key = std::pair<std::string, std::uint8_t>;
  struct Partial {
    std::vector<std::vector<std::uint8_t>> chunks;
    std::size_t dataBytes = 0;
    std::size_t charged = 0;  // what this transmission counts against maxBytesInFlight
    std::size_t metaCharge = 0;
    std::shared_ptr<const std::string> meta;
    std::uint64_t lastActive = 0;
  };
  using PartialMap = std::map<Key, Partial>;

  void drop(const Key& key, PartialMap::iterator it, bool last, std::uint64_t& counter);
  void rememberDropped(const Key& key);
  void evictLeastRecentlyActive();

  ReassemblerLimits limits_;
  ReassemblerStats stats_;
  PartialMap partials_;
  std::map<Key, std::uint64_t> dropped_;  // key -> time of last chunk
  std::size_t inFlight_ = 0;
  std::uint64_t clock_ = 0;
};

}  // namespace trystero::room

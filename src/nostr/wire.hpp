// The Nostr side of trystero@0.22.0's nostr.js, byte for byte: NIP-01 events signed with a
// BIP-340 (Schnorr, x-only) key over secp256k1, REQ/CLOSE subscriptions, and a parser for what
// relays send back. Everything here is stateless or immutable and thread-safe.
//
// JSON text is written by hand, not by nlohmann: nostr.js hashes JSON.stringify() output, so the
// event id depends on exactly how strings are escaped (see jsonQuote()) and on key order.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::nostr::wire {

// A secp256k1 key pair for BIP-340 signatures. Not copyable; the secret is wiped on destruction.
class KeyPair {
 public:
  using Secret = std::array<std::uint8_t, 32>;

  // A fresh key from the CSPRNG (what schnorr.keygen() does in nostr.js).
  static std::shared_ptr<const KeyPair> generate();
  // A given secret; null unless 0 < secret < n. For tests and vectors.
  static std::shared_ptr<const KeyPair> fromSecret(const Secret& secret);
  ~KeyPair();
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;

  // The 32-byte x-only public key as 64 lowercase hex digits (nostr.js `pubkey`).
  const std::string& publicKeyHex() const { return publicKeyHex_; }

  // BIP-340 signature of a 32-byte message with the given auxiliary randomness.
  std::array<std::uint8_t, 64> sign(const std::array<std::uint8_t, 32>& message,
                                    const std::array<std::uint8_t, 32>& auxRand) const;
  // Same with fresh auxiliary randomness from the CSPRNG (schnorr.signAsync's default).
  std::array<std::uint8_t, 64> sign(const std::array<std::uint8_t, 32>& message) const;

 private:
  struct PrivateTag {};

 public:
  KeyPair(PrivateTag, const unsigned char* keypair, std::string publicKeyHex);

 private:
  std::array<unsigned char, 96> keypair_;  // secp256k1_keypair
  std::string publicKeyHex_;
};

// This process's key pair: generated on first use, shared by every nostr room (nostr.js makes
// one per module load).
std::shared_ptr<const KeyPair> processKeyPair();

// Whether sig (64 bytes) is a valid BIP-340 signature of message (32 bytes) under the x-only key.
bool verifySignature(std::string_view publicKeyHex, std::string_view messageHex,
                     std::string_view signatureHex);

// ---------------------------------------------------------------------------------------------
// JSON text as JavaScript writes it

// JSON.stringify(string) for UTF-8 input: '"' and '\\' escaped, \b \t \n \f \r, other code
// points below U+0020 as \u00xx (lowercase hex); everything else, including U+007F, U+2028,
// U+2029 and all non-ASCII, verbatim. Invalid UTF-8 is first decoded the way TextDecoder does
// (each maximal invalid subsequence becomes U+FFFD), so the result is always valid UTF-8.
std::string jsonQuote(std::string_view utf8);

// ---------------------------------------------------------------------------------------------
// Events

// nostr.js topicToKind(): strToNum(topic, 10000) + 20000, an ephemeral kind (20000-29999).
std::uint32_t topicToKind(std::string_view topic);

// Math.floor(Date.now() / 1000).
std::int64_t nowSeconds();

struct Event {
  std::string id;      // 64 lowercase hex digits
  std::string pubkey;  // 64 lowercase hex digits
  std::int64_t createdAt = 0;
  std::int64_t kind = 0;
  std::vector<std::vector<std::string>> tags;
  std::string content;
  std::string sig;  // 128 lowercase hex digits
};

// An event object as NIP-01 types it: id, pubkey and sig lowercase hex of 32, 32 and 64 bytes,
// created_at and kind integers in 0..2^53-1 (kind at most 65535), tags arrays of strings,
// content a string. Other fields are ignored. nullopt (and, when why is given, what is wrong)
// otherwise. Never throws.
std::optional<Event> eventFromJson(const nlohmann::json& value, std::string* why = nullptr);

// The event object as relays send it, {"id","pubkey","created_at","kind","tags","content","sig"}
// in that order, strings escaped as JSON.stringify does (see jsonQuote()).
std::string serializeEvent(const Event& event);

// The NIP-01 id preimage, JSON.stringify([0, pubkey, created_at, kind, tags, content]).
std::string serializeForId(const Event& event);
// sha256 of serializeForId(), in hex.
std::string computeEventId(const Event& event);
// The id matches the content and the signature verifies under pubkey.
bool verifyEvent(const Event& event);

// nostr.js createEvent(topic, content): the complete `["EVENT",{...}]` text, keys in the JS
// order (kind, tags, created_at, content, pubkey, id, sig) with a single ["x", topic] tag.
std::string makeEventMessage(const KeyPair& key, std::string_view topic, std::string_view content,
                             std::int64_t createdAt);
// Deterministic variant (fixed auxiliary randomness) for tests and vectors.
std::string makeEventMessage(const KeyPair& key, std::string_view topic, std::string_view content,
                             std::int64_t createdAt, const std::array<std::uint8_t, 32>& auxRand);

// `["REQ",subId,{"kinds":[kind],"since":since,"#x":[topic]}]` (nostr.js subscribe()).
std::string makeReqMessage(std::string_view subId, std::string_view topic, std::int64_t since);
// `["CLOSE",subId]`.
std::string makeCloseMessage(std::string_view subId);
// The JSON of an announce, `{"peerId":"<id>"}`.
std::string makeAnnounceContent(std::string_view peerId);
// genId(64): 64 symbols of trystero's id alphabet.
std::string makeSubscriptionId();

// ---------------------------------------------------------------------------------------------
// Relay messages

// JSON text parsed into a value, refusing (before building anything) nesting deeper than
// maxDepth arrays/objects. A discarded value (is_discarded()) when malformed or too deep.
// Never throws.
nlohmann::json parseJsonBounded(std::string_view text, std::size_t maxDepth = 8);

// Relay text larger than this is dropped unread.
inline constexpr std::size_t kMaxRelayMessageBytes = 256 * 1024;

struct RelayMessage {
  enum class Type { Event, Notice, Ok, Eose, Closed, Auth, Other };
  Type type = Type::Other;
  std::string verb;       // the first element as sent
  std::string subId;      // EVENT, EOSE, CLOSED: the subscription; OK: the event id
  Event event;            // EVENT
  bool accepted = false;  // OK
  std::string message;    // NOTICE, OK, CLOSED: the relay's text; AUTH: the challenge
};

// Parses one relay message. nullopt for anything that is not a well-formed NIP-01 relay
// message: too large, not JSON, nested too deeply, not an array starting with a string, or a
// known verb with missing or mistyped fields (for EVENT: every event field present with its
// NIP-01 type, hex fields of the right length, tags arrays of strings, integer created_at and
// kind). Unknown verbs come back as Type::Other. Never throws.
std::optional<RelayMessage> parseRelayMessage(std::string_view text);

// A JSON integer that JSON.stringify writes back digit for digit (0 <= n <= 2^53 - 1), as event
// timestamps and kinds must be; nullopt otherwise.
std::optional<std::int64_t> safeInteger(const nlohmann::json& value);

}  // namespace trystero::nostr::wire

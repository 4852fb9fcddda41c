// The cryptographic and text primitives trystero's wire format is built on, matching
// trystero@0.22.0 (src/crypto.js, src/utils.js) byte for byte: SHA-1 topic strings, the
// AES-256-GCM "sealed" SDP format, strToNum and the seeded relay shuffle. Thin wrappers over
// OpenSSL EVP; everything here is stateless and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::crypto {

using Bytes = std::vector<std::uint8_t>;
using Sha1Digest = std::array<std::uint8_t, 20>;
using Sha256Digest = std::array<std::uint8_t, 32>;

Sha1Digest sha1(std::span<const std::uint8_t> data);
Sha1Digest sha1(std::string_view data);
Sha256Digest sha256(std::span<const std::uint8_t> data);
Sha256Digest sha256(std::string_view data);

// trystero's sha1(): the SHA-1 of the UTF-8 bytes, each digest byte written in lowercase base 36
// without padding, concatenated (so the result is 20 to 40 characters long).
std::string topicHash(std::string_view text);

// Cryptographically secure random bytes (OpenSSL RAND_bytes). Throws std::runtime_error if the
// generator fails.
void randomFill(std::span<std::uint8_t> out);
Bytes randomBytes(std::size_t n);

// The 62 symbols trystero draws ids from (utils.js genId), in its order.
inline constexpr std::string_view kIdAlphabet =
    "0123456789AaBbCcDdEeFfGgHhIiJjKkLlMmNnOoPpQqRrSsTtUuVvWwXxYyZz";

// n symbols drawn uniformly and independently from kIdAlphabet with the CSPRNG (rejection
// sampling, no modulo bias). Throws std::runtime_error if the generator fails.
std::string generateId(std::size_t n);

// Lowercase hex, two digits per byte, no separator (digests, keys and signatures on the wire).
std::string hexEncode(std::span<const std::uint8_t> bytes);
// Uppercase hex bytes joined by ':' (the SDP a=fingerprint format, RFC 8122).
std::string fingerprintHex(std::span<const std::uint8_t> bytes);

// Standard base64 with '=' padding (what btoa produces).
std::string base64Encode(std::span<const std::uint8_t> data);
// WHATWG "forgiving-base64 decode", i.e. exactly what atob() accepts: ASCII whitespace is
// ignored, padding is optional, non-zero trailing bits are discarded. Anything else (characters
// outside the alphabet, '=' in the middle, a length of 4n+1) yields nullopt.
std::optional<Bytes> base64Decode(std::string_view text);

// What `new TextDecoder().decode(bytes)` returns, re-encoded as UTF-8: a leading UTF-8 BOM is
// dropped and every maximal invalid subsequence becomes U+FFFD. Valid input without a BOM comes
// back unchanged.
std::string textDecode(std::span<const std::uint8_t> bytes);
std::string textDecode(std::string_view bytes);

inline constexpr std::uint64_t kMaxSafeInteger = 9007199254740991ULL;  // 2^53 - 1

// trystero's strToNum(): the sum of the UTF-16 code units of the string, modulo limit. Characters
// outside the BMP count as their two surrogates; invalid UTF-8 counts as U+FFFD. A limit of 0 is
// treated as "no limit".
std::uint64_t strToNum(std::string_view utf8, std::uint64_t limit = kMaxSafeInteger);

// trystero's shuffle(xs, seed): the seeded Fisher-Yates shuffle used to pick default relays from
// strToNum(appId). Uses the same double arithmetic as the JS (sin(seed++) * 10000, fractional
// part, floor). std::sin may differ from a JS engine's Math.sin in the last bit for some seeds;
// the shuffle only changes if that moves floor(r * i) across an integer, which the test vectors
// (300,000 seeds) never hit.
std::vector<std::string> shuffle(std::vector<std::string> items, double seed);

// The AES-256-GCM key trystero derives for a room: SHA-256("<password>:<appId>:<roomId>").
// seal()/open() produce and read "<16 IV bytes as decimals joined by ','>$<base64(ct || tag)>".
class SignalKey {
 public:
  using Iv = std::array<std::uint8_t, 16>;

  SignalKey(std::string_view password, std::string_view appId, std::string_view roomId);
  SignalKey(const SignalKey&) = default;
  SignalKey& operator=(const SignalKey&) = default;
  ~SignalKey();

  // Encrypts under a fresh random IV.
  std::string seal(std::string_view plaintext) const;
  // Deterministic variant for tests and vectors. Never reuse an IV with the same key.
  std::string seal(std::string_view plaintext, const Iv& iv) const;

  // Decrypts untrusted text. nullopt unless it has exactly one '$', exactly 16 IV fields of 1-3
  // decimal digits with values 0..255, valid base64 of at least the 16-byte tag, and the tag
  // verifies. The plaintext is returned as TextDecoder would decode it (see textDecode()).
  std::optional<std::string> open(std::string_view sealed) const;

 private:
  std::array<std::uint8_t, 32> key_;
};

}  // namespace trystero::crypto

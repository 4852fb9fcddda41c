#include "crypto/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <memory>
#include <stdexcept>

namespace trystero::crypto {
namespace {

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, const void* data, std::size_t size) {
  std::array<std::uint8_t, N> out{};
  unsigned int length = 0;
  if (EVP_Digest(data, size, out.data(), &length, md, nullptr) != 1 || length != N) {
    throw std::runtime_error("trystero: EVP_Digest failed");
  }
  return out;
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// OpenSSL's update functions take int lengths; feed larger inputs in slices.
constexpr std::size_t kMaxSlice = std::size_t{1} << 30;

constexpr std::size_t kIvBytes = 16;
constexpr std::size_t kTagBytes = 16;

// ---- UTF-8 decoding (WHATWG Encoding Standard, "UTF-8 decoder") ----------------------------
constexpr char32_t kReplacement = 0xFFFD;

// Calls f(codePoint) for every scalar value of bytes, U+FFFD for each maximal invalid subpart.
template <typename F>
void forEachCodePoint(std::span<const std::uint8_t> bytes, F&& f) {
  char32_t cp = 0;
  int needed = 0;
  int seen = 0;
  std::uint8_t lower = 0x80;
  std::uint8_t upper = 0xBF;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::uint8_t b = bytes[i];
    if (needed == 0) {
      ++i;
      if (b <= 0x7F) {
        f(static_cast<char32_t>(b));
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0x0F;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x07;
      } else {
        f(kReplacement);
      }
      continue;
    }
    if (b < lower || b > upper) {
      // The sequence so far is invalid; b is processed again as a possible lead byte.
      cp = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      f(kReplacement);
      continue;
    }
    ++i;
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    if (++seen == needed) {
      f(cp);
      cp = 0;
      needed = seen = 0;
    }
  }
  if (needed != 0) f(kReplacement);
}

void appendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::span<const std::uint8_t> asBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// ---- base64 ----------------------------------------------------------------------------
int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool isAsciiWhitespace(char c) {
  return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

// Parses "n,n,...,n" (16 fields of 1-3 digits, each <= 255).
std::optional<SignalKey::Iv> parseIv(std::string_view text) {
  SignalKey::Iv iv{};
  std::size_t field = 0;
  std::size_t pos = 0;
  while (true) {
    if (field == iv.size()) return std::nullopt;
    unsigned value = 0;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++digits > 3) return std::nullopt;
      value = value * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    if (digits == 0 || value > 255) return std::nullopt;
    iv[field++] = static_cast<std::uint8_t>(value);
    if (pos == text.size()) break;
    if (text[pos] != ',') return std::nullopt;
    ++pos;
  }
  if (field != iv.size()) return std::nullopt;
  return iv;
}

}  // namespace

Sha1Digest sha1(std::span<const std::uint8_t> data) {
  return digest<20>(EVP_sha1(), data.data(), data.size());
}
Sha1Digest sha1(std::string_view data) { return sha1(asBytes(data)); }
Sha256Digest sha256(std::span<const std::uint8_t> data) {
  return digest<32>(EVP_sha256(), data.data(), data.size());
}
Sha256Digest sha256(std::string_view data) { return sha256(asBytes(data)); }

std::string topicHash(std::string_view text) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  out.reserve(40);
  for (std::uint8_t b : sha1(text)) {
    // 255 is "73" in base 36: at most two digits, no leading zero.
    if (b >= 36) out.push_back(kDigits[b / 36]);
    out.push_back(kDigits[b % 36]);
  }
  return out;
}

void randomFill(std::span<std::uint8_t> out) {
  while (!out.empty()) {
    const std::size_t n = std::min(out.size(), kMaxSlice);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
      throw std::runtime_error("trystero: RAND_bytes failed");
    }
    out = out.subspan(n);
  }
}

Bytes randomBytes(std::size_t n) {
  Bytes out(n);
  randomFill(out);
  return out;
}

std::string base64Encode(std::span<const std::uint8_t> data) {
  // EVP_EncodeBlock takes an int length: whole 3-byte groups at a time, so that only the last
  // piece is padded.
  constexpr std::size_t kPiece = 3 * (std::size_t{1} << 20);
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (std::size_t at = 0; at < data.size(); at += kPiece) {
    const auto piece = data.subspan(at, std::min(kPiece, data.size() - at));
    const std::size_t start = out.size();
    out.resize(start + (piece.size() + 2) / 3 * 4 + 1);  // + the NUL EVP_EncodeBlock writes
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + start),
                                        piece.data(), static_cast<int>(piece.size()));
    out.resize(start + static_cast<std::size_t>(written));
  }
  return out;
}

std::string generateId(std::size_t n) {
  // 248 = 4 * 62: bytes below it map onto the alphabet without bias; the rest are redrawn.
  constexpr std::uint8_t kAcceptBelow = 4 * kIdAlphabet.size();
  std::string out;
  out.reserve(n);
  std::array<std::uint8_t, 64> pool{};
  while (out.size() < n) {
    randomFill(pool);
    for (std::uint8_t b : pool) {
      if (out.size() == n) break;
      if (b < kAcceptBelow) out.push_back(kIdAlphabet[b % kIdAlphabet.size()]);
    }
  }
  return out;
}

std::string hexEncode(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string fingerprintHex(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return {};
  std::string out(bytes.size() * 3, '\0');  // "AB:" per byte; the last ':' becomes the NUL
  std::size_t length = 0;
  if (OPENSSL_buf2hexstr_ex(out.data(), out.size(), &length, bytes.data(),
                            static_cast<long>(bytes.size()), ':') != 1) {
    throw std::runtime_error("OPENSSL_buf2hexstr_ex failed");
  }
  out.resize(length - 1);  // the length OpenSSL reports counts the NUL
  return out;
}

std::optional<Bytes> base64Decode(std::string_view text) {
  std::string data;
  data.reserve(text.size());
  for (char c : text) {
    if (!isAsciiWhitespace(c)) data.push_back(c);
  }
  if (data.size() % 4 == 0) {
    if (data.ends_with("==")) {
      data.resize(data.size() - 2);
    } else if (data.ends_with('=')) {
      data.resize(data.size() - 1);
    }
  }
  if (data.size() % 4 == 1) return std::nullopt;
  Bytes out;
  out.reserve(data.size() / 4 * 3 + 2);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : data) {
    const int v = base64Value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits == 24) {
      out.push_back(static_cast<std::uint8_t>(buffer >> 16));
      out.push_back(static_cast<std::uint8_t>(buffer >> 8));
      out.push_back(static_cast<std::uint8_t>(buffer));
      buffer = 0;
      bits = 0;
    }
  }
  if (bits == 12) {
    out.push_back(static_cast<std::uint8_t>(buffer >> 4));
  } else if (bits == 18) {
    out.push_back(static_cast<std::uint8_t>(buffer >> 10));
    out.push_back(static_cast<std::uint8_t>(buffer >> 2));
  }
  return out;
}

std::string textDecode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) {
    bytes = bytes.subspan(3);
  }
  std::string out;
  out.reserve(bytes.size());
  forEachCodePoint(bytes, [&](char32_t cp) { appendUtf8(out, cp); });
  return out;
}

std::string textDecode(std::string_view bytes) { return textDecode(asBytes(bytes)); }

std::uint64_t strToNum(std::string_view utf8, std::uint64_t limit) {
  std::uint64_t sum = 0;
  forEachCodePoint(asBytes(utf8), [&](char32_t cp) {
    if (cp < 0x10000) {
      sum += cp;
    } else {
      const char32_t v = cp - 0x10000;
      sum += 0xD800 + (v >> 10);
      sum += 0xDC00 + (v & 0x3FF);
    }
  });
  return limit == 0 ? sum : sum % limit;
}

std::vector<std::string> shuffle(std::vector<std::string> items, double seed) {
  const auto rand = [&seed] {
    const double x = std::sin(seed) * 10000.0;
    seed += 1.0;
    return x - std::floor(x);
  };
  std::size_t i = items.size();
  while (i != 0) {
    // JS: j = floor(rand() * i--), so j is drawn from the pre-decrement i.
    auto j = static_cast<std::size_t>(std::floor(rand() * static_cast<double>(i)));
    --i;
    // rand() is < 1 for every seed a JS client can produce; clamp anyway so that a rounding
    // edge can never index out of range (JS would read past the end of the array there).
    j = std::min(j, i);
    std::swap(items[i], items[j]);
  }
  return items;
}

SignalKey::SignalKey(std::string_view password, std::string_view appId, std::string_view roomId) {
  std::string material;
  material.reserve(password.size() + appId.size() + roomId.size() + 2);
  material.append(password).append(":").append(appId).append(":").append(roomId);
  key_ = sha256(material);
  OPENSSL_cleanse(material.data(), material.size());
}

SignalKey::~SignalKey() { OPENSSL_cleanse(key_.data(), key_.size()); }

std::string SignalKey::seal(std::string_view plaintext) const {
  Iv iv;
  randomFill(iv);
  return seal(plaintext, iv);
}

std::string SignalKey::seal(std::string_view plaintext, const Iv& iv) const {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const auto fail = [] { return std::runtime_error("trystero: AES-GCM encryption failed"); };
  if (!ctx) throw fail();
  // A 16-byte IV makes GCM derive J0 = GHASH(IV), exactly as WebCrypto does for iv.length != 12.
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kIvBytes), nullptr) !=
          1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), iv.data()) != 1) {
    throw fail();
  }
  Bytes sealed(plaintext.size() + kTagBytes);
  std::size_t written = 0;
  auto input = asBytes(plaintext);
  while (!input.empty()) {
    const std::size_t n = std::min(input.size(), kMaxSlice);
    int outLength = 0;
    if (EVP_EncryptUpdate(ctx.get(), sealed.data() + written, &outLength, input.data(),
                          static_cast<int>(n)) != 1) {
      throw fail();
    }
    written += static_cast<std::size_t>(outLength);
    input = input.subspan(n);
  }
  int finalLength = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), sealed.data() + written, &finalLength) != 1) throw fail();
  written += static_cast<std::size_t>(finalLength);
  if (written != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          sealed.data() + written) != 1) {
    throw fail();
  }

  std::string out;
  for (std::size_t k = 0; k < iv.size(); ++k) {
    if (k != 0) out.push_back(',');
    out += std::to_string(iv[k]);
  }
  out.push_back('$');
  out += base64Encode(sealed);
  return out;
}

std::optional<std::string> SignalKey::open(std::string_view sealed) const {
  const std::size_t dollar = sealed.find('$');
  if (dollar == std::string_view::npos || sealed.find('$', dollar + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const auto iv = parseIv(sealed.substr(0, dollar));
  if (!iv) return std::nullopt;
  auto data = base64Decode(sealed.substr(dollar + 1));
  if (!data || data->size() < kTagBytes) return std::nullopt;
  const std::size_t cipherLength = data->size() - kTagBytes;

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::nullopt;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kIvBytes), nullptr) !=
          1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), iv->data()) != 1) {
    return std::nullopt;
  }
  Bytes plain(cipherLength);
  std::size_t written = 0;
  std::span<const std::uint8_t> input(data->data(), cipherLength);
  while (!input.empty()) {
    const std::size_t n = std::min(input.size(), kMaxSlice);
    int outLength = 0;
    if (EVP_DecryptUpdate(ctx.get(), plain.data() + written, &outLength, input.data(),
                          static_cast<int>(n)) != 1) {
      return std::nullopt;
    }
    written += static_cast<std::size_t>(outLength);
    input = input.subspan(n);
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          data->data() + cipherLength) != 1) {
    return std::nullopt;
  }
  int finalLength = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), plain.data() + written, &finalLength) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return std::nullopt;
  }
  written += static_cast<std::size_t>(finalLength);
  plain.resize(written);
  return textDecode(plain);
}

}  // namespace trystero::crypto

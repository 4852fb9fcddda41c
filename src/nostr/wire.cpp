#include "nostr/wire.hpp"

#include <openssl/crypto.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "crypto/crypto.hpp"
#include "util/json_limits.hpp"

namespace trystero::nostr::wire {
namespace {

static_assert(sizeof(secp256k1_keypair) == 96, "secp256k1_keypair layout changed");

// One context for the process, randomized once (blinding against side channels). Functions
// taking a const context are thread-safe.
const secp256k1_context* context() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!c) throw std::runtime_error("trystero: secp256k1_context_create failed");
    std::array<std::uint8_t, 32> seed{};
    crypto::randomFill(seed);
    if (!secp256k1_context_randomize(c, seed.data())) {
      throw std::runtime_error("trystero: secp256k1_context_randomize failed");
    }
    OPENSSL_cleanse(seed.data(), seed.size());
    return c;
  }();
  return ctx;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // NIP-01 hex is lowercase
}

// Lowercase hex of exactly N bytes.
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> fromHex(std::string_view text) {
  if (text.size() != N * 2) return std::nullopt;
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hexValue(text[2 * i]), lo = hexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

bool isHex(std::string_view text, std::size_t bytes) {
  if (text.size() != bytes * 2) return false;
  for (char c : text) {
    if (hexValue(c) < 0) return false;
  }
  return true;
}

const std::string* stringField(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

std::string makeEventMessageWith(const KeyPair& key, std::string_view topic,
                                 std::string_view content, std::int64_t createdAt,
                                 const std::array<std::uint8_t, 32>* auxRand) {
  Event event;
  event.pubkey = key.publicKeyHex();
  event.createdAt = createdAt;
  event.kind = topicToKind(topic);
  event.tags = {{"x", std::string(topic)}};
  // What the JS hashes and sends is the JS string; invalid UTF-8 has no JS form, so normalise
  // it the way a JS decoder would before anything depends on it.
  event.content = crypto::textDecode("a" + std::string(content)).substr(1);
  const std::string preimage = serializeForId(event);
  const auto digest = crypto::sha256(preimage);
  const auto sig = auxRand ? key.sign(digest, *auxRand) : key.sign(digest);
  // JSON.stringify(["EVENT", {...payload, id, sig}]): payload keys in nostr.js's order.
  std::string out;
  out.reserve(preimage.size() + 320);
  out += "[\"EVENT\",{\"kind\":";
  out += std::to_string(event.kind);
  out += ",\"tags\":[[\"x\",";
  out += jsonQuote(topic);
  out += "]],\"created_at\":";
  out += std::to_string(event.createdAt);
  out += ",\"content\":";
  out += jsonQuote(event.content);
  out += ",\"pubkey\":\"";
  out += event.pubkey;
  out += "\",\"id\":\"";
  out += crypto::hexEncode(digest);
  out += "\",\"sig\":\"";
  out += crypto::hexEncode(sig);
  out += "\"}]";
  return out;
}

}  // namespace

constexpr std::int64_t kMaxSafeInteger = 9007199254740991LL;

std::optional<std::int64_t> safeInteger(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    auto n = value.get<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(kMaxSafeInteger)) return std::nullopt;
    return static_cast<std::int64_t>(n);
  }
  if (value.is_number_integer()) {
    auto n = value.get<std::int64_t>();
    if (n < 0) return std::nullopt;
    return n;
  }
  return std::nullopt;
}

// ---- keys ------------------------------------------------------------------------------------

KeyPair::KeyPair(PrivateTag, const unsigned char* keypair, std::string publicKeyHex)
    : publicKeyHex_(std::move(publicKeyHex)) {
  std::memcpy(keypair_.data(), keypair, keypair_.size());
}

KeyPair::~KeyPair() { OPENSSL_cleanse(keypair_.data(), keypair_.size()); }

std::shared_ptr<const KeyPair> KeyPair::fromSecret(const Secret& secret) {
  secp256k1_keypair keypair;
  if (!secp256k1_keypair_create(context(), &keypair, secret.data())) return nullptr;
  secp256k1_xonly_pubkey xonly;
  std::array<std::uint8_t, 32> serialized{};
  if (!secp256k1_keypair_xonly_pub(context(), &xonly, nullptr, &keypair) ||
      !secp256k1_xonly_pubkey_serialize(context(), serialized.data(), &xonly)) {
    OPENSSL_cleanse(&keypair, sizeof(keypair));
    return nullptr;
  }
  auto key =
      std::make_shared<const KeyPair>(PrivateTag{}, keypair.data, crypto::hexEncode(serialized));
  OPENSSL_cleanse(&keypair, sizeof(keypair));
  return key;
}

std::shared_ptr<const KeyPair> KeyPair::generate() {
  // A random 256-bit value is a valid secret unless it is 0 or >= n (probability ~2^-128).
  for (;;) {
    Secret secret{};
    crypto::randomFill(secret);
    auto key = fromSecret(secret);
    OPENSSL_cleanse(secret.data(), secret.size());
    if (key) return key;
  }
}

std::array<std::uint8_t, 64> KeyPair::sign(const std::array<std::uint8_t, 32>& message,
                                           const std::array<std::uint8_t, 32>& auxRand) const {
  secp256k1_keypair keypair;
  std::memcpy(keypair.data, keypair_.data(), keypair_.size());
  std::array<std::uint8_t, 64> sig{};
  const int ok =
      secp256k1_schnorrsig_sign32(context(), sig.data(), message.data(), &keypair, auxRand.data());
  OPENSSL_cleanse(&keypair, sizeof(keypair));
  if (!ok) throw std::runtime_error("trystero: secp256k1_schnorrsig_sign32 failed");
  return sig;
}

std::array<std::uint8_t, 64> KeyPair::sign(const std::array<std::uint8_t, 32>& message) const {
  std::array<std::uint8_t, 32> aux{};
  crypto::randomFill(aux);
  return sign(message, aux);
}

std::shared_ptr<const KeyPair> processKeyPair() {
  static const std::shared_ptr<const KeyPair> key = KeyPair::generate();
  return key;
}

bool verifySignature(std::string_view publicKeyHex, std::string_view messageHex,
                     std::string_view signatureHex) {
  auto pub = fromHex<32>(publicKeyHex);
  auto message = fromHex<32>(messageHex);
  auto sig = fromHex<64>(signatureHex);
  if (!pub || !message || !sig) return false;
  secp256k1_xonly_pubkey xonly;
  if (!secp256k1_xonly_pubkey_parse(context(), &xonly, pub->data())) return false;
  return secp256k1_schnorrsig_verify(context(), sig->data(), message->data(), message->size(),
                                     &xonly) == 1;
}

// ---- JSON text -------------------------------------------------------------------------------

std::string jsonQuote(std::string_view utf8) {
  // textDecode() passes valid UTF-8 through unchanged; the prefix keeps it from eating a BOM.
  const std::string text = crypto::textDecode("a" + std::string(utf8));
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (std::size_t i = 1; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += crypto::hexEncode({&c, 1});
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

// ---- events ----------------------------------------------------------------------------------

std::optional<Event> eventFromJson(const nlohmann::json& value, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<Event> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (!value.is_object()) return fail("not an object");
  const std::string* id = stringField(value, "id");
  const std::string* pubkey = stringField(value, "pubkey");
  const std::string* content = stringField(value, "content");
  const std::string* sig = stringField(value, "sig");
  if (!id || !isHex(*id, 32)) return fail("bad id field");
  if (!pubkey || !isHex(*pubkey, 32)) return fail("bad pubkey field");
  if (!sig || !isHex(*sig, 64)) return fail("bad sig field");
  if (!content) return fail("bad content");
  auto createdAt = value.find("created_at");
  auto kind = value.find("kind");
  auto tags = value.find("tags");
  std::optional<std::int64_t> createdAtValue, kindValue;
  if (createdAt != value.end()) createdAtValue = safeInteger(*createdAt);
  if (kind != value.end()) kindValue = safeInteger(*kind);
  if (!createdAtValue) return fail("bad created_at");
  if (!kindValue || *kindValue > 65535) return fail("bad kind");
  if (tags == value.end() || !tags->is_array()) return fail("bad tags");
  Event event;
  event.tags.reserve(tags->size());
  for (const auto& tag : *tags) {
    if (!tag.is_array()) return fail("bad tags");
    auto& out = event.tags.emplace_back();
    out.reserve(tag.size());
    for (const auto& item : tag) {
      if (!item.is_string()) return fail("bad tags");
      out.push_back(item.get<std::string>());
    }
  }
  event.id = *id;
  event.pubkey = *pubkey;
  event.createdAt = *createdAtValue;
  event.kind = *kindValue;
  event.content = *content;
  event.sig = *sig;
  return event;
}

namespace {

// [["x","..."],...] as JSON.stringify writes it (the opening and closing brackets are the
// caller's).
void appendTags(std::string& out, const std::vector<std::vector<std::string>>& tags) {
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (i) out += ',';
    out += '[';
    for (std::size_t j = 0; j < tags[i].size(); ++j) {
      if (j) out += ',';
      out += jsonQuote(tags[i][j]);
    }
    out += ']';
  }
}

}  // namespace

std::string serializeEvent(const Event& event) {
  std::string out;
  out.reserve(event.content.size() + 300);
  out += "{\"id\":\"";
  out += event.id;
  out += "\",\"pubkey\":\"";
  out += event.pubkey;
  out += "\",\"created_at\":";
  out += std::to_string(event.createdAt);
  out += ",\"kind\":";
  out += std::to_string(event.kind);
  out += ",\"tags\":[";
  appendTags(out, event.tags);
  out += "],\"content\":";
  out += jsonQuote(event.content);
  out += ",\"sig\":\"";
  out += event.sig;
  out += "\"}";
  return out;
}

std::uint32_t topicToKind(std::string_view topic) {
  return static_cast<std::uint32_t>(crypto::strToNum(topic, 10000) + 20000);
}

std::int64_t nowSeconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string serializeForId(const Event& event) {
  std::string out = "[0,\"";
  out += event.pubkey;
  out += "\",";
  out += std::to_string(event.createdAt);
  out += ',';
  out += std::to_string(event.kind);
  out += ",[";
  appendTags(out, event.tags);
  out += "],";
  out += jsonQuote(event.content);
  out += ']';
  return out;
}

std::string computeEventId(const Event& event) {
  return crypto::hexEncode(crypto::sha256(serializeForId(event)));
}

bool verifyEvent(const Event& event) {
  if (computeEventId(event) != event.id) return false;
  return verifySignature(event.pubkey, event.id, event.sig);
}

std::string makeEventMessage(const KeyPair& key, std::string_view topic, std::string_view content,
                             std::int64_t createdAt) {
  return makeEventMessageWith(key, topic, content, createdAt, nullptr);
}

std::string makeEventMessage(const KeyPair& key, std::string_view topic, std::string_view content,
                             std::int64_t createdAt, const std::array<std::uint8_t, 32>& auxRand) {
  return makeEventMessageWith(key, topic, content, createdAt, &auxRand);
}

std::string makeReqMessage(std::string_view subId, std::string_view topic, std::int64_t since) {
  std::string out = "[\"REQ\",";
  out += jsonQuote(subId);
  out += ",{\"kinds\":[";
  out += std::to_string(topicToKind(topic));
  out += "],\"since\":";
  out += std::to_string(since);
  out += ",\"#x\":[";
  out += jsonQuote(topic);
  out += "]}]";
  return out;
}

std::string makeCloseMessage(std::string_view subId) {
  return "[\"CLOSE\"," + jsonQuote(subId) + "]";
}

std::string makeAnnounceContent(std::string_view peerId) {
  return "{\"peerId\":" + jsonQuote(peerId) + "}";
}

std::string makeSubscriptionId() { return crypto::generateId(64); }

// ---- relay messages --------------------------------------------------------------------------

nlohmann::json parseJsonBounded(std::string_view text, std::size_t maxDepth) {
  return util::parseJsonBounded(text, maxDepth);
}

std::optional<RelayMessage> parseRelayMessage(std::string_view text) {
  if (text.size() > kMaxRelayMessageBytes) return std::nullopt;
  const auto json = parseJsonBounded(text);
  if (!json.is_array() || json.empty() || !json[0].is_string()) return std::nullopt;

  RelayMessage m;
  m.verb = json[0].get<std::string>();
  auto stringAt = [&](std::size_t i) -> const std::string* {
    if (i >= json.size() || !json[i].is_string()) return nullptr;
    return json[i].get_ptr<const std::string*>();
  };

  if (m.verb == "EVENT") {
    // ["EVENT", <subscription id>, <event>]
    const std::string* subId = stringAt(1);
    if (!subId || json.size() < 3) return std::nullopt;
    auto event = eventFromJson(json[2]);
    if (!event) return std::nullopt;
    m.type = RelayMessage::Type::Event;
    m.subId = *subId;
    m.event = std::move(*event);
  } else if (m.verb == "NOTICE") {
    // ["NOTICE", <message>]
    const std::string* message = stringAt(1);
    if (!message) return std::nullopt;
    m.type = RelayMessage::Type::Notice;
    m.message = *message;
  } else if (m.verb == "OK") {
    // ["OK", <event id>, <true|false>, <message>]
    const std::string* id = stringAt(1);
    if (!id || json.size() < 3 || !json[2].is_boolean()) return std::nullopt;
    m.type = RelayMessage::Type::Ok;
    m.subId = *id;
    m.accepted = json[2].get<bool>();
    if (const std::string* message = stringAt(3)) m.message = *message;
  } else if (m.verb == "EOSE") {
    // ["EOSE", <subscription id>]
    const std::string* subId = stringAt(1);
    if (!subId) return std::nullopt;
    m.type = RelayMessage::Type::Eose;
    m.subId = *subId;
  } else if (m.verb == "CLOSED") {
    // ["CLOSED", <subscription id>, <message>]
    const std::string* subId = stringAt(1);
    if (!subId) return std::nullopt;
    m.type = RelayMessage::Type::Closed;
    m.subId = *subId;
    if (const std::string* message = stringAt(2)) m.message = *message;
  } else if (m.verb == "AUTH") {
    // ["AUTH", <challenge>] (NIP-42)
    m.type = RelayMessage::Type::Auth;
    if (const std::string* challenge = stringAt(1)) m.message = *challenge;
  } else {
    m.type = RelayMessage::Type::Other;
  }
  return m;
}

}  // namespace trystero::nostr::wire

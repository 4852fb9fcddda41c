#include "strategies/firebase/rtdb_wire.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include "crypto/crypto.hpp"
#include "util/json_limits.hpp"

namespace trystero::strategies::firebase {

namespace {

using nlohmann::json;

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The value of `name` in a query string (no percent-decoding: namespaces are plain names).
std::string queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return std::string(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

bool validHost(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_' || c == '[' || c == ']';
  });
}

int cryptoDigit() {
  std::uint8_t byte = 0;
  crypto::randomFill({&byte, 1});
  return byte & 63;  // 256 is a multiple of 64: no bias
}

const json* field(const json& object, const char* name) {
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

std::optional<ServerMessage> parseControl(const json& body) {
  const json* type = field(body, "t");
  if (!type || !type->is_string()) return std::nullopt;
  const json* data = field(body, "d");
  ServerMessage message;
  const auto& t = type->get_ref<const std::string&>();
  if (t == "h") {
    if (!data || !data->is_object()) return std::nullopt;
    const json* ts = field(*data, "ts");
    if (!ts || !ts->is_number()) return std::nullopt;
    message.kind = ServerMessage::Kind::Handshake;
    message.timestamp = ts->get<std::int64_t>();
    if (const json* h = field(*data, "h"); h && h->is_string()) message.host = *h;
    if (const json* s = field(*data, "s"); s && s->is_string()) message.sessionId = *s;
  } else if (t == "r") {
    if (!data || !data->is_string()) return std::nullopt;
    message.kind = ServerMessage::Kind::Redirect;
    message.host = *data;
  } else if (t == "s" || t == "e") {
    message.kind = t == "s" ? ServerMessage::Kind::Shutdown : ServerMessage::Kind::Error;
    if (data && data->is_string()) message.text = *data;
  }
  return message;
}

std::optional<ServerMessage> parseData(const json& body) {
  ServerMessage message;
  if (const json* r = field(body, "r")) {
    const json* b = field(body, "b");
    if (!r->is_number_unsigned() || !b || !b->is_object()) return std::nullopt;
    const json* s = field(*b, "s");
    if (!s || !s->is_string()) return std::nullopt;
    message.kind = ServerMessage::Kind::Reply;
    message.requestId = r->get<std::uint64_t>();
    message.status = *s;
    if (const json* d = field(*b, "d")) message.data = *d;
    return message;
  }
  const json* action = field(body, "a");
  const json* b = field(body, "b");
  if (!action || !action->is_string() || !b || !b->is_object()) return std::nullopt;
  const auto& a = action->get_ref<const std::string&>();
  if (a == "ac") {
    const json* s = field(*b, "s");
    if (!s || !s->is_string()) return std::nullopt;
    message.kind = ServerMessage::Kind::AuthRevoked;
    message.status = *s;
    if (const json* d = field(*b, "d"); d && d->is_string()) message.text = *d;
    return message;
  }
  if (a == "c") {
    const json* p = field(*b, "p");
    if (!p || !p->is_string()) return std::nullopt;
    auto segments = splitPath(p->get_ref<const std::string&>());
    if (segments.size() > kMaxPathDepth) return std::nullopt;
    message.kind = ServerMessage::Kind::ListenRevoked;
    message.path = joinPath(segments).substr(1);
    return message;
  }
  if (a != "d" && a != "m") return message;  // security debug, app check revoked
  const json* p = field(*b, "p");
  if (!p || !p->is_string()) return std::nullopt;
  message.kind = ServerMessage::Kind::Push;
  message.merge = a == "m";
  auto segments = splitPath(p->get_ref<const std::string&>());
  if (segments.size() > kMaxPathDepth) return std::nullopt;
  message.path = joinPath(segments).substr(1);
  if (const json* d = field(*b, "d")) message.data = *d;
  if (message.merge && !message.data.is_object()) return std::nullopt;
  return message;
}

// Sets value at path below node, keeping node normalized.
void setAt(json& node, std::span<const std::string> path, json value) {
  if (path.empty()) {
    node = normalize(std::move(value));
    return;
  }
  if (!node.is_object()) node = json::object();
  auto& child = node[path.front()];
  setAt(child, path.subspan(1), std::move(value));
  if (child.is_null()) node.erase(path.front());
  if (node.empty()) node = nullptr;
}

// The part of value (the value at path `at`) that lies at `below`, a descendant path.
json descend(const json& value, std::span<const std::string> below) {
  const json* node = &value;
  for (const auto& key : below) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return *node;
}

}  // namespace

std::optional<DatabaseUrl> parseDatabaseUrl(std::string_view url) {
  DatabaseUrl db;
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    db.secure = false;
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  auto hostEnd = url.find_first_of("/?#");
  db.host = lowercase(url.substr(0, hostEnd));
  if (!validHost(db.host)) return std::nullopt;
  std::string_view query;
  if (auto q = url.find('?'); q != std::string_view::npos) {
    query = url.substr(q + 1);
    query = query.substr(0, query.find('#'));
  }
  const std::string subdomain = db.host.substr(0, db.host.find('.'));
  db.ns = queryParam(query, "ns");
  if (db.ns.empty()) db.ns = subdomain;
  db.namespaceInQuery = db.ns != subdomain;
  return db;
}

bool isHostName(std::string_view host) {
  if (host.empty() || host.size() > 261) return false;
  std::string_view name = host;
  if (host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    auto inside = host.substr(1, close - 1);
    if (!std::all_of(inside.begin(), inside.end(),
                     [](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; })) {
      return false;
    }
    name = {};
    host.remove_prefix(close + 1);
    if (!host.empty() && host.front() != ':') return false;
  } else {
    auto colon = host.find(':');
    name = host.substr(0, colon);
    host.remove_prefix(colon == std::string_view::npos ? host.size() : colon);
  }
  if (!host.empty()) {  // ":port"
    auto port = host.substr(1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return false;
    }
  }
  if (name.empty()) return true;  // an IPv6 literal, checked above
  if (name.size() > 253) return false;
  while (true) {
    auto dot = name.find('.');
    auto label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

std::string authAction(std::string_view token) {
  // The SDK decodes the middle part of header.claims.signature; what does not decode to an
  // object with "iat" is not a Firebase token.
  auto first = token.find('.');
  if (first == std::string_view::npos) return "gauth";
  auto second = token.find('.', first + 1);
  if (second == std::string_view::npos) return "gauth";
  std::string claims(token.substr(first + 1, second - first - 1));
  std::replace(claims.begin(), claims.end(), '-', '+');
  std::replace(claims.begin(), claims.end(), '_', '/');
  while (claims.size() % 4 != 0) claims.push_back('=');
  auto bytes = crypto::base64Decode(claims);
  if (!bytes) return "gauth";
  json parsed = util::parseJsonBounded(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  return parsed.is_object() && parsed.contains("iat") ? "auth" : "gauth";
}

std::string websocketUrl(const DatabaseUrl& db, const std::string& host,
                         const std::string& lastSessionId) {
  std::string url = (db.secure ? "wss://" : "ws://") + host + "/.ws?v=5";
  if (!lastSessionId.empty()) url += "&ls=" + lastSessionId;
  if (db.namespaceInQuery) url += "&ns=" + db.ns;
  return url;
}

PushIdGenerator::PushIdGenerator() : PushIdGenerator(cryptoDigit) {}
PushIdGenerator::PushIdGenerator(RandomDigit random) : random_(std::move(random)) {}

std::string PushIdGenerator::next(std::int64_t serverNowMs) {
  const bool sameMs = serverNowMs == lastMs_;
  lastMs_ = serverNowMs;
  std::string id(20, '-');
  auto now = static_cast<std::uint64_t>(std::max<std::int64_t>(serverNowMs, 0));
  for (int i = 7; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = kAlphabet[now % 64];
    now /= 64;
  }
  if (!sameMs) {
    for (auto& digit : lastRandom_) digit = random_() & 63;
  } else {
    // One more than the previous id's random part, carrying (the SDK does not handle the
    // overflow of all twelve digits either: 64^12 ids in one ms do not happen).
    int i = 11;
    for (; i >= 0 && lastRandom_[static_cast<std::size_t>(i)] == 63; --i) {
      lastRandom_[static_cast<std::size_t>(i)] = 0;
    }
    if (i >= 0) lastRandom_[static_cast<std::size_t>(i)]++;
  }
  for (std::size_t i = 0; i < 12; ++i) id[8 + i] = kAlphabet[lastRandom_[i]];
  return id;
}

std::vector<std::string> splitMessage(const std::string& message) {
  if (message.size() <= kMaxFrameChars) return {message};
  std::vector<std::string> frames;
  const std::size_t count = (message.size() + kMaxFrameChars - 1) / kMaxFrameChars;
  frames.push_back(std::to_string(count));
  for (std::size_t at = 0; at < message.size(); at += kMaxFrameChars) {
    frames.push_back(message.substr(at, kMaxFrameChars));
  }
  return frames;
}

std::optional<std::string> FrameAssembler::feed(std::string_view frame) {
  if (failed()) return std::nullopt;
  if (framesLeft_ > 0) {
    if (buffer_.size() + frame.size() > maxMessageChars_) {
      error_ = "split message larger than " + std::to_string(maxMessageChars_) + " characters";
      buffer_.clear();
      return std::nullopt;
    }
    buffer_.append(frame);
    if (--framesLeft_ > 0) return std::nullopt;
    return std::exchange(buffer_, {});
  }
  std::size_t count = 0;
  if (frame.size() <= 6 && !frame.empty()) {
    auto [end, ec] = std::from_chars(frame.data(), frame.data() + frame.size(), count);
    if (ec == std::errc() && end == frame.data() + frame.size()) {
      // "0" announces nothing (the SDK would wait forever for the next message to complete).
      if (count == 0) return std::nullopt;
      // A message can not need more frames than the bound allows.
      if (count > maxMessageChars_ / kMaxFrameChars + 1) {
        error_ = "frame count " + std::string(frame) + " out of range";
        return std::nullopt;
      }
      framesLeft_ = count;
      return std::nullopt;
    }
  }
  if (frame.size() > maxMessageChars_) {
    error_ = "message larger than " + std::to_string(maxMessageChars_) + " characters";
    return std::nullopt;
  }
  return std::string(frame);
}

void FrameAssembler::reset() {
  framesLeft_ = 0;
  buffer_.clear();
  error_.clear();
}

std::string encodeRequest(std::uint64_t requestId, std::string_view action, const json& body) {
  return json{{"t", "d"}, {"d", {{"r", requestId}, {"a", action}, {"b", body}}}}.dump();
}

std::optional<ServerMessage> parseServerMessage(std::string_view text) {
  json message = util::parseJsonBounded(text);
  if (!message.is_object()) return std::nullopt;
  const json* t = field(message, "t");
  const json* d = field(message, "d");
  if (!t || !t->is_string() || !d || !d->is_object()) return std::nullopt;
  if (*t == "c") return parseControl(*d);
  if (*t == "d") return parseData(*d);
  return std::nullopt;
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> segments;
  while (!path.empty()) {
    auto slash = path.find('/');
    if (slash != 0) segments.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

std::string joinPath(const std::vector<std::string>& segments) {
  if (segments.empty()) return "/";
  std::string out;
  for (const auto& s : segments) out += "/" + s;
  return out;
}

json normalize(json value) {
  if (!value.is_object()) return value;
  for (auto it = value.begin(); it != value.end();) {
    *it = normalize(std::move(*it));
    it = it->is_null() ? value.erase(it) : std::next(it);
  }
  if (value.empty()) return nullptr;
  return value;
}

bool Subtree::apply(const ServerMessage& push) {
  const auto path = splitPath(push.path);
  if (!push.merge) return applySet(path, push.data);
  bool touched = false;
  for (const auto& [key, child] : push.data.items()) {
    auto full = path;
    for (auto& s : splitPath(key)) full.push_back(std::move(s));
    if (full.size() > kMaxPathDepth) continue;
    touched = applySet(full, child) || touched;
  }
  return touched;
}

bool Subtree::applySet(const std::vector<std::string>& path, const json& data) {
  const std::size_t common = std::min(path.size(), root_.size());
  if (!std::equal(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(common),
                  root_.begin())) {
    return false;
  }
  if (path.size() < root_.size()) {
    // A value for an ancestor of our root: our part of it replaces ours.
    std::span<const std::string> below(root_.begin() + static_cast<std::ptrdiff_t>(path.size()),
                                       root_.end());
    value_ = normalize(descend(data, below));
    return true;
  }
  setAt(value_, std::span<const std::string>(path).subspan(common), data);
  return true;
}

}  // namespace trystero::strategies::firebase

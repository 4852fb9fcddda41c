#include "strategies/supabase/phoenix_codec.hpp"

#include "util/json_limits.hpp"

namespace trystero::strategies::supabase {

namespace {

using Json = nlohmann::json;

bool fail(std::string* error, const char* why) {
  if (error) *error = why;
  return false;
}

Json optionalString(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

// A ref field: a string or null (absent counts as null).
bool readRef(const Json& value, std::optional<std::string>& out) {
  if (value.is_null()) return true;
  if (!value.is_string()) return false;
  out = value.get<std::string>();
  return true;
}

bool readArrayForm(const Json& v, Message& out, std::string* error) {
  if (v.size() != 5) return fail(error, "array frame without 5 elements");
  if (!readRef(v[0], out.joinRef) || !readRef(v[1], out.ref)) {
    return fail(error, "ref is neither a string nor null");
  }
  if (!v[2].is_string() || !v[3].is_string()) return fail(error, "topic or event not a string");
  out.topic = v[2].get<std::string>();
  out.event = v[3].get<std::string>();
  out.payload = v[4];
  return true;
}

bool readObjectForm(const Json& v, Message& out, std::string* error) {
  auto field = [&v](const char* key) { return v.contains(key) ? v[key] : Json(nullptr); };
  if (!readRef(field("join_ref"), out.joinRef) || !readRef(field("ref"), out.ref)) {
    return fail(error, "ref is neither a string nor null");
  }
  Json topic = field("topic");
  Json event = field("event");
  if (!topic.is_string() || !event.is_string()) return fail(error, "topic or event not a string");
  out.topic = topic.get<std::string>();
  out.event = event.get<std::string>();
  out.payload = field("payload");
  return true;
}

// Reads `size` bytes at `offset` as a string; false when the frame is too short.
bool take(std::span<const std::uint8_t> frame, std::size_t& offset, std::size_t size,
          std::string& out) {
  if (offset + size > frame.size()) return false;
  out.assign(reinterpret_cast<const char*>(frame.data() + offset), size);
  offset += size;
  return true;
}

// The user broadcast body shared by kinds 3 and 4.
bool readBroadcastBody(std::span<const std::uint8_t> rest, std::uint8_t encoding,
                       const std::string& event, const std::string& meta, Message& out,
                       std::string* error) {
  Json body = {{"type", "broadcast"}, {"event", event}};
  if (encoding == kEncodingJson) {
    std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
    Json payload = util::parseJsonBounded(text);
    if (payload.is_discarded()) return fail(error, "broadcast payload is not JSON");
    body["payload"] = std::move(payload);
  } else if (encoding == kEncodingBinary) {
    body["payload"] = Json::binary(std::vector<std::uint8_t>(rest.begin(), rest.end()));
  } else {
    return fail(error, "unknown payload encoding");
  }
  if (!meta.empty()) {
    Json parsed = util::parseJsonBounded(meta);
    if (parsed.is_discarded()) return fail(error, "broadcast metadata is not JSON");
    body["meta"] = std::move(parsed);
  }
  out.event = "broadcast";
  out.payload = std::move(body);
  return true;
}

bool readBroadcastPush(std::span<const std::uint8_t> frame, Message& out, std::string* error) {
  if (frame.size() < 7) return fail(error, "kind-3 frame shorter than its header");
  std::size_t offset = 7;
  std::string joinRef, ref, event, meta;
  if (!take(frame, offset, frame[1], joinRef) || !take(frame, offset, frame[2], ref) ||
      !take(frame, offset, frame[3], out.topic) || !take(frame, offset, frame[4], event) ||
      !take(frame, offset, frame[5], meta)) {
    return fail(error, "kind-3 frame shorter than its fields");
  }
  if (!joinRef.empty()) out.joinRef = joinRef;
  if (!ref.empty()) out.ref = ref;
  return readBroadcastBody(frame.subspan(offset), frame[6], event, meta, out, error);
}

bool readBroadcast(std::span<const std::uint8_t> frame, Message& out, std::string* error) {
  if (frame.size() < 5) return fail(error, "kind-4 frame shorter than its header");
  std::size_t offset = 5;
  std::string event, meta;
  if (!take(frame, offset, frame[1], out.topic) || !take(frame, offset, frame[2], event) ||
      !take(frame, offset, frame[3], meta)) {
    return fail(error, "kind-4 frame shorter than its fields");
  }
  return readBroadcastBody(frame.subspan(offset), frame[4], event, meta, out, error);
}

void appendString(std::vector<std::uint8_t>& out, const std::string& s) {
  out.insert(out.end(), s.begin(), s.end());
}

// The payload bytes and encoding of a user payload.
std::pair<std::vector<std::uint8_t>, std::uint8_t> encodePayload(const Json& payload) {
  if (payload.is_binary()) return {payload.get_binary(), kEncodingBinary};
  std::string text = payload.dump(-1, ' ', false, Json::error_handler_t::replace);
  return {std::vector<std::uint8_t>(text.begin(), text.end()), kEncodingJson};
}

}  // namespace

std::string encodeText(const Message& message) {
  Json frame = Json::array({optionalString(message.joinRef), optionalString(message.ref),
                            message.topic, message.event, message.payload});
  return frame.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<std::vector<std::uint8_t>> encodeBroadcastPush(const Message& message) {
  const Json& body = message.payload;
  if (message.event != "broadcast" || !body.is_object() || !body.contains("event") ||
      !body["event"].is_string()) {
    return std::nullopt;
  }
  std::string joinRef = message.joinRef.value_or("");
  std::string ref = message.ref.value_or("");
  const auto& event = body["event"].get_ref<const std::string&>();
  for (std::size_t size : {joinRef.size(), ref.size(), message.topic.size(), event.size()}) {
    if (size > 255) return std::nullopt;
  }
  auto [payload, encoding] =
      encodePayload(body.contains("payload") ? body["payload"] : Json::object());
  std::vector<std::uint8_t> out = {kUserBroadcastPush,
                                   static_cast<std::uint8_t>(joinRef.size()),
                                   static_cast<std::uint8_t>(ref.size()),
                                   static_cast<std::uint8_t>(message.topic.size()),
                                   static_cast<std::uint8_t>(event.size()),
                                   0,
                                   encoding};
  for (const std::string* s :
       std::initializer_list<const std::string*>{&joinRef, &ref, &message.topic, &event})
    appendString(out, *s);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::optional<std::vector<std::uint8_t>> encodeBroadcast(const std::string& topic,
                                                         const std::string& event,
                                                         const Json& payload) {
  if (topic.size() > 255 || event.size() > 255) return std::nullopt;
  auto [bytes, encoding] = encodePayload(payload);
  std::vector<std::uint8_t> out = {kUserBroadcast, static_cast<std::uint8_t>(topic.size()),
                                   static_cast<std::uint8_t>(event.size()), 0, encoding};
  appendString(out, topic);
  appendString(out, event);
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

std::optional<Message> decodeText(std::string_view text, std::string* error) {
  Json v = util::parseJsonBounded(text);
  Message out;
  if (v.is_discarded()) {
    fail(error, "not JSON");
    return std::nullopt;
  }
  bool ok = v.is_array()    ? readArrayForm(v, out, error)
            : v.is_object() ? readObjectForm(v, out, error)
                            : fail(error, "neither an array nor an object");
  if (!ok) return std::nullopt;
  return out;
}

std::optional<Message> decodeBinary(std::span<const std::uint8_t> frame, std::string* error) {
  Message out;
  bool ok = false;
  if (frame.empty()) {
    ok = fail(error, "empty binary frame");
  } else if (frame[0] == kUserBroadcast) {
    ok = readBroadcast(frame, out, error);
  } else if (frame[0] == kUserBroadcastPush) {
    ok = readBroadcastPush(frame, out, error);
  } else {
    ok = fail(error, "unknown binary frame kind");
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace trystero::strategies::supabase

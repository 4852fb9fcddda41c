// Frames of the Phoenix channel protocol as Supabase Realtime speaks it (realtime-js 2.109 over
// @supabase/phoenix): what trystero@0.22.0's supabase strategy puts on the wire.
//
//   text, vsn 2.0.0:  [join_ref, ref, topic, event, payload]   (refs are decimal strings or null)
//   text, vsn 1.0.0:  {"topic", "event", "payload", "ref", "join_ref"}
//   binary kind 3 (client -> server user broadcast):
//     u8 3 | u8 len(join_ref) | u8 len(ref) | u8 len(topic) | u8 len(event) | u8 len(meta) |
//     u8 encoding | join_ref | ref | topic | event | meta | payload
//   binary kind 4 (server -> client user broadcast):
//     u8 4 | u8 len(topic) | u8 len(event) | u8 len(meta) | u8 encoding | topic | event | meta |
//     payload
//   encoding 1: the payload is UTF-8 JSON; 0: raw bytes.
//
// A binary broadcast decodes to what the text form carries: event "broadcast" with the payload
// {"type":"broadcast","event":<event>,"payload":<payload>[,"meta":<meta>]}; raw payloads become
// a JSON binary value. Decoding never throws: malformed input yields std::nullopt and a reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace trystero::strategies::supabase {

struct Message {
  std::optional<std::string> joinRef;
  std::optional<std::string> ref;
  std::string topic;
  std::string event;
  nlohmann::json payload;
};

inline constexpr std::uint8_t kUserBroadcastPush = 3;
inline constexpr std::uint8_t kUserBroadcast = 4;
inline constexpr std::uint8_t kEncodingBinary = 0;
inline constexpr std::uint8_t kEncodingJson = 1;

// The vsn 2.0.0 text form (a JSON array).
std::string encodeText(const Message& message);

// A user broadcast (event "broadcast" with a string payload.event) as a binary kind-3 frame, as
// realtime-js sends it. std::nullopt when a field exceeds 255 bytes.
std::optional<std::vector<std::uint8_t>> encodeBroadcastPush(const Message& message);
// A user broadcast as a binary kind-4 frame, as the server sends it (tests).
std::optional<std::vector<std::uint8_t>> encodeBroadcast(const std::string& topic,
                                                         const std::string& event,
                                                         const nlohmann::json& payload);

// A text frame in either serializer form. error (when given) says why on failure.
std::optional<Message> decodeText(std::string_view text, std::string* error = nullptr);
// A binary frame of kind 3 or 4; other kinds are rejected (realtime-js drops them too).
std::optional<Message> decodeBinary(std::span<const std::uint8_t> frame,
                                    std::string* error = nullptr);

}  // namespace trystero::strategies::supabase

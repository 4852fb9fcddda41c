// Bounded parsing of JSON that came from the network (actions, signals, relay and tracker
// messages). nlohmann's parser is iterative and its destructor is too, but copying, comparing
// or dumping a value recurses once per nesting level: a few hundred KB of "[[[[..." parse fine
// and then crash whoever touches the value on a thread with an ordinary stack. Every layer that
// parses network JSON goes through parseJsonBounded(). Header-only and free of project includes,
// so that any layer may use it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string_view>

namespace trystero::util {

// Deepest nesting of arrays and objects accepted from the network. Far beyond what any
// trystero message or reasonable application payload uses (the JS sends what JSON.stringify
// produces; V8 itself gives up somewhere in the thousands), and shallow enough that recursive
// code (copies, dump(), a callback walking the value) stays well within a thread's stack.
inline constexpr std::size_t kMaxJsonDepth = 256;

// Whether the arrays and objects in text nest at most maxDepth deep. One linear pass that knows
// strings and escapes; exact for valid JSON. Invalid JSON may be misjudged, but the real parser
// rejects it anyway.
inline bool jsonDepthWithin(std::string_view text, std::size_t maxDepth = kMaxJsonDepth) noexcept {
  std::size_t depth = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const char c = *p++;
    if (c == '"') {
      while (p < end) {
        const char s = *p++;
        if (s == '\\') {
          if (p < end) ++p;
        } else if (s == '"') {
          break;
        }
      }
    } else if (c == '[' || c == '{') {
      if (++depth > maxDepth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

enum class JsonRejection { kNone, kMalformed, kTooDeep };

// Parses text like Json::parse(text, nullptr, false), and also refuses nesting beyond maxDepth:
// the result is then discarded (is_discarded()) as for malformed text. Never throws. If
// rejection is given, it tells why a discarded result was refused.
template <class Json = nlohmann::json>
Json parseJsonBounded(std::string_view text, std::size_t maxDepth = kMaxJsonDepth,
                      JsonRejection* rejection = nullptr) {
  if (!jsonDepthWithin(text, maxDepth)) {
    if (rejection) *rejection = JsonRejection::kTooDeep;
    return Json(Json::value_t::discarded);
  }
  Json value = Json::parse(text, nullptr, false);
  if (rejection) {
    *rejection = value.is_discarded() ? JsonRejection::kMalformed : JsonRejection::kNone;
  }
  return value;
}

}  // namespace trystero::util

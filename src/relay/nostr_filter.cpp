#include "relay/nostr_filter.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace trystero::relay {
namespace {

using nostr::wire::safeInteger;

// Per-element overheads of the containers below, roughly (libstdc++ on 64-bit).
constexpr std::size_t kStringBytes = sizeof(std::string);
constexpr std::size_t kFilterBytes = sizeof(Filter) + 64;

bool isLowerHex64(const std::string& s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::size_t stringsBytes(const std::vector<std::string>& values) {
  std::size_t n = values.capacity() * kStringBytes;
  for (const auto& v : values) {
    if (v.capacity() > 15) n += v.capacity() + 1;  // beyond the small-string buffer
  }
  return n;
}

bool contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

std::size_t Filter::memoryBytes() const {
  std::size_t n = kFilterBytes;
  if (ids) n += stringsBytes(*ids);
  if (authors) n += stringsBytes(*authors);
  if (kinds) n += kinds->capacity() * sizeof(std::int64_t);
  n += tags.capacity() * sizeof(tags[0]);
  for (const auto& [letter, values] : tags) n += stringsBytes(values);
  return n;
}

bool Filter::matches(const nostr::wire::Event& event) const {
  if (kinds && std::find(kinds->begin(), kinds->end(), event.kind) == kinds->end()) return false;
  if (since && event.createdAt < *since) return false;
  if (until && event.createdAt > *until) return false;
  if (ids && !contains(*ids, event.id)) return false;
  if (authors && !contains(*authors, event.pubkey)) return false;
  for (const auto& [letter, values] : tags) {
    bool found = false;
    for (const auto& tag : event.tags) {
      if (tag.size() >= 2 && tag[0].size() == 1 && tag[0][0] == letter &&
          contains(values, tag[1])) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

std::optional<Filter> filterFromJson(const nlohmann::json& value, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<Filter> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (!value.is_object()) return fail("filter is not an object");
  Filter filter;
  for (const auto& [key, item] : value.items()) {
    if (key == "ids" || key == "authors") {
      if (!item.is_array()) return fail("bad " + key);
      std::vector<std::string> out;
      out.reserve(item.size());
      for (const auto& x : item) {
        if (!x.is_string() || !isLowerHex64(x.get_ref<const std::string&>())) {
          return fail("bad " + key);
        }
        out.push_back(x.get<std::string>());
      }
      (key == "ids" ? filter.ids : filter.authors) = std::move(out);
    } else if (key == "kinds") {
      if (!item.is_array()) return fail("bad kinds");
      std::vector<std::int64_t> out;
      out.reserve(item.size());
      for (const auto& x : item) {
        auto n = safeInteger(x);
        if (!n) return fail("bad kinds");
        out.push_back(*n);
      }
      filter.kinds = std::move(out);
    } else if (key == "since" || key == "until" || key == "limit") {
      auto n = safeInteger(item);
      if (!n) return fail("bad " + key);
      (key == "since" ? filter.since : key == "until" ? filter.until : filter.limit) = *n;
    } else if (key.size() == 2 && key[0] == '#' &&
               ((key[1] >= 'a' && key[1] <= 'z') || (key[1] >= 'A' && key[1] <= 'Z'))) {
      if (!item.is_array()) return fail("bad " + key);
      std::vector<std::string> out;
      out.reserve(item.size());
      for (const auto& x : item) {
        if (!x.is_string()) return fail("bad " + key);
        out.push_back(x.get<std::string>());
      }
      filter.tags.emplace_back(key[1], std::move(out));
    } else {
      // Ignoring a field would widen the filter (deliver what the client did not ask for).
      std::string shown = key.substr(0, 32);
      return fail("unsupported filter field " + nostr::wire::jsonQuote(shown));
    }
  }
  return filter;
}

std::size_t utf16Length(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) {
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    n += c >= 0xF0 ? 2 : 1;            // 4-byte sequences are surrogate pairs
  }
  return n;
}

}  // namespace trystero::relay

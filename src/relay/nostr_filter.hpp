// NIP-01 REQ filters for the relay server: parsing (strict: unknown fields and mistyped values
// are refused, as tests/interop/relays/nostr_relay.mjs does) and matching against an event.
// Stateless; any thread.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nostr/wire.hpp"

namespace trystero::relay {

struct Filter {
  std::optional<std::vector<std::string>> ids;      // 64 lowercase hex digits each
  std::optional<std::vector<std::string>> authors;  // 64 lowercase hex digits each
  std::optional<std::vector<std::int64_t>> kinds;
  // "#x": [values...]; an event matches when one of its tags is [x, value, ...] for one of them.
  std::vector<std::pair<char, std::vector<std::string>>> tags;
  std::optional<std::int64_t> since, until;  // created_at bounds, inclusive
  std::optional<std::int64_t> limit;         // accepted and ignored: nothing is stored

  // An estimate of the heap this filter occupies, for per-connection budgets.
  std::size_t memoryBytes() const;
  // All the fields present hold for the event (an empty list matches nothing).
  bool matches(const nostr::wire::Event& event) const;
};

// A filter object: ids, authors (64-hex strings), kinds (integers), #<letter> (strings),
// since, until, limit (integers >= 0). nullopt, with the reason in *why, for anything else.
std::optional<Filter> filterFromJson(const nlohmann::json& value, std::string* why);

// The length of a string as JavaScript counts it (UTF-16 code units) for valid UTF-8.
std::size_t utf16Length(std::string_view utf8);

}  // namespace trystero::relay

// Text helpers of the SDP parsers: ASCII-only case folding, tokens, bounded numbers, and
// quoting untrusted text for error strings. Internal to rtc/sdp.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::rtc::sdp::text {

inline bool isBlank(char c) { return c == ' ' || c == '\t'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (isBlank(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (isBlank(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

inline char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
inline char upperAscii(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

inline std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerAscii(c);
  return out;
}

inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

inline bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// Splits on spaces and tabs, dropping empty tokens.
inline std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && isBlank(s[i])) ++i;
    std::size_t start = i;
    while (i < s.size() && !isBlank(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isAlnum(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
// Visible ASCII: no space, no control characters, no bytes >= 0x80.
inline bool isVisible(char c) { return c > ' ' && c < 0x7f; }

inline bool isVisibleToken(std::string_view s, std::size_t maxLength) {
  return !s.empty() && s.size() <= maxLength && std::all_of(s.begin(), s.end(), isVisible);
}

inline bool isAlnumToken(std::string_view s, std::size_t maxLength) {
  return !s.empty() && s.size() <= maxLength && std::all_of(s.begin(), s.end(), isAlnum);
}

// Plain decimal digits only: no sign, no whitespace, no overflow.
template <typename T>
inline std::optional<T> parseUnsigned(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), isDigit)) return std::nullopt;
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

inline std::optional<std::uint16_t> parsePort(std::string_view s) {
  auto value = parseUnsigned<std::uint32_t>(s);
  if (!value || *value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

// Untrusted text made safe for an error string: short, printable.
inline std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    out += isVisible(s[i]) || s[i] == ' ' ? s[i] : '?';
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

}  // namespace trystero::rtc::sdp::text

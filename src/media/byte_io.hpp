// Big- and little-endian reads and writes for the media formats. Reads take an offset the caller
// has already checked against the size: the parsers check lengths once, up front, per field group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace trystero::media {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline std::uint16_t readU16(ByteView data, std::size_t at) {
  return static_cast<std::uint16_t>(data[at] << 8 | data[at + 1]);
}
inline std::uint32_t readU24(ByteView data, std::size_t at) {
  return std::uint32_t{data[at]} << 16 | std::uint32_t{data[at + 1]} << 8 | data[at + 2];
}
inline std::uint32_t readU32(ByteView data, std::size_t at) {
  return std::uint32_t{data[at]} << 24 | readU24(data, at + 1);
}
inline std::uint64_t readU64(ByteView data, std::size_t at) {
  return std::uint64_t{readU32(data, at)} << 32 | readU32(data, at + 4);
}
inline std::uint16_t readU16Le(ByteView data, std::size_t at) {
  return static_cast<std::uint16_t>(data[at] | data[at + 1] << 8);
}
inline std::uint32_t readU32Le(ByteView data, std::size_t at) {
  return std::uint32_t{readU16Le(data, at)} | std::uint32_t{readU16Le(data, at + 2)} << 16;
}
inline std::uint64_t readU64Le(ByteView data, std::size_t at) {
  return std::uint64_t{readU32Le(data, at)} | std::uint64_t{readU32Le(data, at + 4)} << 32;
}

inline void appendU8(Bytes& out, std::uint8_t value) { out.push_back(value); }
inline void appendU16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}
inline void appendU24(Bytes& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 16));
  appendU16(out, static_cast<std::uint16_t>(value));
}
inline void appendU32(Bytes& out, std::uint32_t value) {
  appendU16(out, static_cast<std::uint16_t>(value >> 16));
  appendU16(out, static_cast<std::uint16_t>(value));
}
inline void appendU64(Bytes& out, std::uint64_t value) {
  appendU32(out, static_cast<std::uint32_t>(value >> 32));
  appendU32(out, static_cast<std::uint32_t>(value));
}
inline void appendU16Le(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value));
  out.push_back(static_cast<std::uint8_t>(value >> 8));
}
inline void appendU32Le(Bytes& out, std::uint32_t value) {
  appendU16Le(out, static_cast<std::uint16_t>(value));
  appendU16Le(out, static_cast<std::uint16_t>(value >> 16));
}
inline void appendU64Le(Bytes& out, std::uint64_t value) {
  appendU32Le(out, static_cast<std::uint32_t>(value));
  appendU32Le(out, static_cast<std::uint32_t>(value >> 32));
}
inline void appendBytes(Bytes& out, ByteView data) {
  out.insert(out.end(), data.begin(), data.end());
}

}  // namespace trystero::media

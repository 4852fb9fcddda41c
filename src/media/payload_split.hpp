// What the packetizers share: a frame cut into parts of near-equal size, so that the last packet
// is not a sliver (equal packets also pace more evenly).
#pragma once

#include <cstddef>
#include <vector>

namespace trystero::media {

inline std::vector<std::size_t> splitEvenly(std::size_t size, std::size_t maxPart) {
  std::vector<std::size_t> parts;
  if (size == 0 || maxPart == 0) return parts;
  const std::size_t count = (size + maxPart - 1) / maxPart;
  for (std::size_t i = 0; i < count; ++i) parts.push_back(size / count + (i < size % count));
  return parts;
}

}  // namespace trystero::media

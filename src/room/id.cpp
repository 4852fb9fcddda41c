#include "room/id.hpp"

#include <array>
#include <cstdint>

#include "crypto/crypto.hpp"

namespace trystero::room {

std::string generateId(std::size_t n) {
  // 248 = 4 * 62: bytes below it map onto the alphabet without bias; the rest are redrawn.
  constexpr std::uint8_t kAcceptBelow = 4 * kIdAlphabet.size();
  std::string out;
  out.reserve(n);
  std::array<std::uint8_t, 64> pool{};
  while (out.size() < n) {
    crypto::randomFill(pool);
    for (std::uint8_t b : pool) {
      if (out.size() == n) break;
      if (b < kAcceptBelow) out.push_back(kIdAlphabet[b % kIdAlphabet.size()]);
    }
  }
  return out;
}

const std::string& selfId() {
  static const std::string id = generateId(kSelfIdLength);
  return id;
}

}  // namespace trystero::room

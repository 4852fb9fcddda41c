// Random identifiers in trystero's alphabet (utils.js genId / selfId).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace trystero::room {

// The 62 symbols trystero draws ids from, in its order.
inline constexpr std::string_view kIdAlphabet =
    "0123456789AaBbCcDdEeFfGgHhIiJjKkLlMmNnOoPpQqRrSsTtUuVvWwXxYyZz";
inline constexpr std::size_t kSelfIdLength = 20;

// n symbols drawn uniformly and independently from kIdAlphabet with a CSPRNG (rejection sampling,
// no modulo bias). Throws std::runtime_error if the generator fails.
std::string generateId(std::size_t n);

// This process's peer id: 20 symbols, generated on first use, the same for every room and
// thread for the lifetime of the process.
const std::string& selfId();

}  // namespace trystero::room

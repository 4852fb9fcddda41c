// This process's peer id (utils.js selfId).
#pragma once

#include <cstddef>
#include <string>

#include "crypto/crypto.hpp"

namespace trystero::room {

inline constexpr std::size_t kSelfIdLength = 20;

// This process's peer id: 20 symbols, generated on first use, the same for every room and
// thread for the lifetime of the process.
const std::string& selfId();

}  // namespace trystero::room

#include "room/id.hpp"

#include "crypto/crypto.hpp"

namespace trystero::room {

const std::string& selfId() {
  static const std::string id = crypto::generateId(kSelfIdLength);
  return id;
}

}  // namespace trystero::room

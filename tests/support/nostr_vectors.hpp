// Nostr test data: the vectors made by the real trystero@0.22.0 nostr.js
// (tests/unit/nostr/vectors/nostr_vectors.mjs), and events shaped as relays deliver them.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "support/test_data.hpp"

namespace trystero::testing {

inline const nlohmann::json& nostrVectors() {
  // __FILE__ is this header, in tests/support/.
  static const nlohmann::json v =
      readJsonFile(std::filesystem::path(__FILE__).parent_path().parent_path() / "unit" / "nostr" /
                   "vectors" / "nostr_vectors.json");
  return v;
}

// A client's ["EVENT", {...}] as a relay would deliver it: ["EVENT", subId, {...}].
inline std::string asDelivered(const std::string& clientMessage, const std::string& subId) {
  const std::string prefix = "[\"EVENT\",";
  if (clientMessage.rfind(prefix, 0) != 0) throw std::invalid_argument("not an EVENT");
  return prefix + "\"" + subId + "\"," + clientMessage.substr(prefix.size());
}

// The event object of a client message, as JSON (for tampering).
inline nlohmann::json eventJson(const std::string& clientMessage) {
  return nlohmann::json::parse(clientMessage).at(1);
}

inline std::string deliveredJson(const std::string& subId, const nlohmann::json& event) {
  return nlohmann::json::array({"EVENT", subId, event}).dump();
}

}  // namespace trystero::testing

// Small helpers of the tests that check bytes against vectors computed by the JavaScript
// originals: hex, JSON vector files, mqtt.js client ids.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::testing {

// Bytes of lowercase or uppercase hex (a trailing odd digit is ignored).
std::vector<std::uint8_t> fromHex(std::string_view hex);

// The JSON document in path; throws when it cannot be opened.
nlohmann::json readJsonFile(const std::filesystem::path& path);

// "mqttjs_" and minDigits to maxDigits lowercase hex digits, as mqtt.js makes client ids.
bool isMqttJsClientId(const std::string& id, std::size_t minDigits, std::size_t maxDigits);

}  // namespace trystero::testing

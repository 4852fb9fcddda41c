#include "support/test_data.hpp"

#include <fstream>
#include <stdexcept>

namespace trystero::testing {

std::vector<std::uint8_t> fromHex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

nlohmann::json readJsonFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

// No std::regex: GCC 12 warns inside it under -fsanitize.
bool isMqttJsClientId(const std::string& id, std::size_t minDigits, std::size_t maxDigits) {
  const std::string prefix = "mqttjs_";
  if (id.rfind(prefix, 0) != 0) return false;
  auto digits = id.substr(prefix.size());
  if (digits.size() < minDigits || digits.size() > maxDigits) return false;
  return digits.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace trystero::testing

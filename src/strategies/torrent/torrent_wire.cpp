#include "strategies/torrent/torrent_wire.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "crypto/crypto.hpp"
#include "util/json_limits.hpp"

namespace trystero::strategies::torrent {

namespace {

using ordered = nlohmann::ordered_json;

constexpr std::size_t kMaxIdLength = 256;

std::string dump(const ordered& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// JS truthiness of a JSON value.
bool truthy(const ordered& value) {
  if (value.is_null()) return false;
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number()) return value.get<double>() != 0.0;
  if (value.is_string()) return !value.get_ref<const std::string&>().empty();
  return true;  // objects and arrays
}

// What `${value}` prints for the tracker's texts; strings as they are.
std::string text(const ordered& value) {
  return value.is_string() ? value.get<std::string>() : dump(value);
}

bool isId(const ordered& value) {
  return value.is_string() && !value.get_ref<const std::string&>().empty() &&
         value.get_ref<const std::string&>().size() <= kMaxIdLength;
}

bool isSealedSignal(const ordered& value) {
  return value.is_object() && value.contains("sdp") && value["sdp"].is_string();
}

}  // namespace

std::string infoHash(std::string_view rootTopic) {
  return crypto::topicHash(rootTopic).substr(0, kHashLimit);
}

std::string announceMessage(std::string_view infoHash, std::string_view peerId,
                            const std::vector<OutgoingOffer>& offers) {
  ordered message = ordered::object();
  message["action"] = "announce";
  message["info_hash"] = infoHash;
  message["peer_id"] = peerId;
  message["numwant"] = kOfferPoolSize;
  ordered list = ordered::array();
  for (const auto& offer : offers) {
    auto parsed = ordered::parse(offer.offer, nullptr, false);
    if (!parsed.is_object()) continue;
    ordered entry = ordered::object();
    entry["offer_id"] = offer.offerId;
    entry["offer"] = std::move(parsed);
    list.push_back(std::move(entry));
  }
  message["offers"] = std::move(list);
  return dump(message);
}

std::optional<std::string> answerMessage(std::string_view infoHash, std::string_view peerId,
                                         std::string_view signal, std::string_view offerId,
                                         std::string_view toPeerId) {
  auto parsed = ordered::parse(signal, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("answer") || !parsed["answer"].is_object()) {
    return std::nullopt;
  }
  ordered message = ordered::object();
  message["action"] = "announce";
  message["info_hash"] = infoHash;
  message["peer_id"] = peerId;
  message["answer"] = std::move(parsed["answer"]);
  message["offer_id"] = offerId;
  message["to_peer_id"] = toPeerId;
  return dump(message);
}

std::optional<TrackerMessage> parseTrackerMessage(std::string_view raw, std::string_view selfId) {
  auto data = util::parseJsonBounded<ordered>(raw);
  if (!data.is_object()) return std::nullopt;
  TrackerMessage out;
  if (auto it = data.find("failure reason"); it != data.end() && truthy(*it)) {
    out.failure = text(*it);
    return out;  // torrent.js stops here
  }
  if (auto it = data.find("warning message"); it != data.end() && truthy(*it)) {
    out.warning = text(*it);
  }
  if (auto it = data.find("action"); it != data.end() && *it != "announce") {
    out.kind = TrackerMessage::Kind::Invalid;
    out.problem = "unknown action " + dump(*it).substr(0, 64);
    return out;
  }
  if (auto it = data.find("info_hash"); it != data.end() && it->is_string()) {
    out.infoHash = it->get<std::string>();
  }
  if (auto it = data.find("interval"); it != data.end() && it->is_number()) {
    double seconds = it->get<double>();
    if (std::isfinite(seconds) && seconds > 0) out.intervalSeconds = seconds;
  }

  auto offer = data.find("offer");
  auto answer = data.find("answer");
  bool hasOffer = offer != data.end() && truthy(*offer);
  bool hasAnswer = answer != data.end() && truthy(*answer);
  if (!hasOffer && !hasAnswer) return out;

  auto invalid = [&](std::string why) {
    out.kind = TrackerMessage::Kind::Invalid;
    out.problem = std::move(why);
    return out;
  };
  if (!out.infoHash) return invalid("no info_hash");
  auto offerId = data.find("offer_id");
  if (offerId == data.end() || !isId(*offerId)) return invalid("bad offer_id");
  auto peerId = data.find("peer_id");
  if (peerId == data.end() || !isId(*peerId)) return invalid("bad peer_id");
  if (auto to = data.find("to_peer_id"); to != data.end() && (!to->is_string() || *to != selfId)) {
    return invalid("addressed to another peer");
  }
  out.offerId = offerId->get<std::string>();
  out.peerId = peerId->get<std::string>();
  // As torrent.js: an offer wins over an answer in the same message.
  const ordered& signal = hasOffer ? *offer : *answer;
  if (!isSealedSignal(signal)) return invalid(hasOffer ? "malformed offer" : "malformed answer");
  ordered forEngine = ordered::object();
  forEngine["peerId"] = out.peerId;
  forEngine[hasOffer ? "offer" : "answer"] = signal;
  out.signal = dump(forEngine);
  out.kind = hasOffer ? TrackerMessage::Kind::Offer : TrackerMessage::Kind::Answer;
  return out;
}

std::chrono::milliseconds nextAnnounceInterval(std::chrono::milliseconds current,
                                               double intervalSeconds) {
  double ms = intervalSeconds * 1000;
  if (!(ms > static_cast<double>(current.count()))) return current;
  if (ms >= static_cast<double>(kMaxAnnounceInterval.count())) return kMaxAnnounceInterval;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

}  // namespace trystero::strategies::torrent

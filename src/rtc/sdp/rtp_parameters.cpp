#include "rtc/sdp/rtp_parameters.hpp"

#include <algorithm>
#include <array>
#include <map>

#include "rtc/sdp/sdp_text.hpp"

namespace trystero::rtc::sdp {

namespace {

using namespace text;

// Attribute name and value of "name:value" (value empty for a flag such as "rtcp-mux").
struct Attribute {
  std::string name;  // lower-case
  std::string_view value;
};

Attribute split(std::string_view attribute) {
  auto colon = attribute.find(':');
  if (colon == std::string_view::npos) return {toLower(trim(attribute)), {}};
  return {toLower(trim(attribute.substr(0, colon))), trim(attribute.substr(colon + 1))};
}

// "<first token> <rest>": the payload type or SSRC an attribute is about, and what it says.
std::pair<std::string_view, std::string_view> headAndRest(std::string_view value) {
  auto space = value.find_first_of(" \t");
  if (space == std::string_view::npos) return {value, {}};
  return {value.substr(0, space), trim(value.substr(space + 1))};
}

std::optional<std::uint8_t> parsePayloadType(std::string_view s) {
  auto value = parseUnsigned<unsigned>(s);
  if (!value || *value > 127) return std::nullopt;
  return static_cast<std::uint8_t>(*value);
}

// The RFC 3551 static payload types a browser may list without a=rtpmap.
std::optional<RtpCodec> staticCodec(std::uint8_t payloadType) {
  switch (payloadType) {
    case 0:
      return RtpCodec{0, "PCMU", 8000, 1, {}, {}};
    case 8:
      return RtpCodec{8, "PCMA", 8000, 1, {}, {}};
    case 9:
      return RtpCodec{9, "G722", 8000, 1, {}, {}};
    default:
      return std::nullopt;
  }
}

// "opus/48000/2" into name, clock rate and channels.
bool parseEncoding(std::string_view encoding, RtpCodec& codec) {
  auto slash = encoding.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::string_view name = encoding.substr(0, slash);
  std::string_view rest = encoding.substr(slash + 1);
  std::string_view rate = rest;
  std::string_view channels;
  if (auto second = rest.find('/'); second != std::string_view::npos) {
    rate = rest.substr(0, second);
    channels = rest.substr(second + 1);
  }
  if (!isVisibleToken(name, 64)) return false;
  auto clockRate = parseUnsigned<std::uint32_t>(rate);
  if (!clockRate || *clockRate == 0) return false;
  codec.name = std::string(name);
  codec.clockRate = *clockRate;
  codec.channels = 1;
  if (!channels.empty()) {
    auto count = parseUnsigned<unsigned>(channels);
    if (!count || *count == 0 || *count > 255) return false;
    codec.channels = static_cast<std::uint8_t>(*count);
  }
  return true;
}

// "1 urn:..." or "2/recvonly urn:..." (RFC 8285; extension attributes after the URI ignored).
std::optional<HeaderExtension> parseExtmap(std::string_view value) {
  auto fields = tokens(value);
  if (fields.size() < 2) return std::nullopt;
  HeaderExtension extension;
  std::string_view id = fields[0];
  if (auto slash = id.find('/'); slash != std::string_view::npos) {
    extension.direction = toLower(id.substr(slash + 1));
    if (extension.direction != "sendonly" && extension.direction != "recvonly" &&
        extension.direction != "sendrecv" && extension.direction != "inactive") {
      return std::nullopt;
    }
    id = id.substr(0, slash);
  }
  auto number = parseUnsigned<unsigned>(id);
  if (!number || *number == 0 || *number > 255) return std::nullopt;
  if (!isVisibleToken(fields[1], kMaxAttributeValueBytes)) return std::nullopt;
  extension.id = static_cast<std::uint8_t>(*number);
  extension.uri = std::string(fields[1]);
  return extension;
}

std::vector<std::string_view> fmtpPairs(std::string_view fmtp) {
  std::vector<std::string_view> out;
  while (!fmtp.empty()) {
    auto semicolon = fmtp.find(';');
    out.push_back(trim(fmtp.substr(0, semicolon)));
    if (semicolon == std::string_view::npos) break;
    fmtp.remove_prefix(semicolon + 1);
  }
  return out;
}

bool ownedByRtp(const std::string& name) {
  static const std::array<std::string_view, 10> kOwned = {
      "rtpmap",     "fmtp", "rtcp-fb",  "extmap",     "ssrc",
      "ssrc-group", "msid", "rtcp-mux", "rtcp-rsize", "extmap-allow-mixed"};
  return std::find(kOwned.begin(), kOwned.end(), name) != kOwned.end();
}

class RtpParser {
 public:
  explicit RtpParser(const MediaSection& section) : section_(section) {}

  RtpParseResult run() {
    if (!formats()) return fail();
    for (const auto& attribute : section_.otherAttributes) {
      if (attribute.size() > kMaxAttributeValueBytes) continue;
      if (!this->attribute(split(attribute))) return fail();
    }
    for (auto& [payloadType, slot] : slots_) {
      if (slot.codec) continue;
      if (payloadType >= 96) {
        error_ = "dynamic payload type " + std::to_string(payloadType) + " has no a=rtpmap";
        return fail();
      }
    }
    RtpSection out = std::move(rtp_);
    for (auto payloadType : order_) {
      auto& slot = slots_[payloadType];
      if (!slot.codec) continue;  // a static type we cannot name
      slot.codec->fmtp = std::move(slot.fmtp);
      slot.codec->feedback = std::move(slot.feedback);
      out.codecs.push_back(std::move(*slot.codec));
    }
    return {std::move(out), {}};
  }

 private:
  struct Slot {
    std::optional<RtpCodec> codec;
    std::string fmtp;
    std::vector<std::string> feedback;
  };

  RtpParseResult fail() { return {std::nullopt, std::move(error_)}; }
  bool refuse(std::string error) {
    error_ = std::move(error);
    return false;
  }

  bool formats() {
    if (section_.formats.size() > kMaxCodecsPerSection) return refuse("too many payload types");
    for (const auto& format : section_.formats) {
      auto payloadType = parsePayloadType(format);
      if (!payloadType) return refuse("format " + quote(format) + " is not a payload type");
      if (slots_.count(*payloadType)) {
        return refuse("payload type " + std::to_string(*payloadType) + " listed twice");
      }
      slots_[*payloadType].codec = staticCodec(*payloadType);
      order_.push_back(*payloadType);
    }
    return true;
  }

  // The slot of a payload type on the m= line; nullptr for others (their attributes are ignored).
  Slot* slotOf(std::string_view payloadType) {
    auto number = parsePayloadType(payloadType);
    if (!number) return nullptr;
    auto it = slots_.find(*number);
    return it == slots_.end() ? nullptr : &it->second;
  }

  bool attribute(const Attribute& a) {
    if (a.name == "rtpmap") return rtpmap(a.value);
    if (a.name == "fmtp") {
      auto [payloadType, parameters] = headAndRest(a.value);
      if (auto* slot = slotOf(payloadType)) slot->fmtp = std::string(parameters);
    } else if (a.name == "rtcp-fb") {
      auto [payloadType, feedback] = headAndRest(a.value);
      // "*" applies to every payload type (RFC 4585 section 4.2).
      std::vector<Slot*> targets;
      if (payloadType == "*") {
        for (auto& [number, slot] : slots_) targets.push_back(&slot);
      } else if (auto* slot = slotOf(payloadType)) {
        targets.push_back(slot);
      }
      for (auto* slot : targets) {
        if (feedback.empty() || slot->feedback.size() >= kMaxFeedbackPerCodec) continue;
        if (std::find(slot->feedback.begin(), slot->feedback.end(), feedback) ==
            slot->feedback.end()) {
          slot->feedback.emplace_back(feedback);
        }
      }
    } else if (a.name == "extmap") {
      auto extension = parseExtmap(a.value);
      if (!extension) return refuse("malformed a=extmap " + quote(a.value));
      rtp_.extensions.push_back(std::move(*extension));
    } else if (a.name == "ssrc") {
      return ssrc(a.value);
    } else if (a.name == "ssrc-group") {
      return ssrcGroup(a.value);
    } else if (a.name == "msid") {
      auto fields = tokens(a.value);
      if (!fields.empty()) {
        rtp_.msid = MediaStreamId{std::string(fields[0]),
                                  fields.size() > 1 ? std::string(fields[1]) : std::string()};
      }
    } else if (a.name == "rtcp-mux") {
      rtp_.rtcpMux = true;
    } else if (a.name == "rtcp-rsize") {
      rtp_.rtcpReducedSize = true;
    } else if (a.name == "extmap-allow-mixed") {
      rtp_.extmapAllowMixed = true;
    }
    return true;
  }

  bool rtpmap(std::string_view value) {
    auto [payloadType, encoding] = headAndRest(value);
    auto number = parsePayloadType(payloadType);
    if (!number) return refuse("malformed a=rtpmap " + quote(value));
    auto it = slots_.find(*number);
    if (it == slots_.end()) return true;
    RtpCodec codec;
    codec.payloadType = *number;
    if (!parseEncoding(encoding, codec)) return refuse("malformed a=rtpmap " + quote(value));
    it->second.codec = std::move(codec);
    return true;
  }

  bool ssrc(std::string_view value) {
    auto [id, attribute] = headAndRest(value);
    auto number = parseUnsigned<std::uint32_t>(id);
    if (!number) return refuse("malformed a=ssrc " + quote(value));
    if (std::find(rtp_.ssrcs.begin(), rtp_.ssrcs.end(), *number) == rtp_.ssrcs.end()) {
      if (rtp_.ssrcs.size() >= kMaxSsrcsPerSection) return refuse("too many SSRCs");
      rtp_.ssrcs.push_back(*number);
    }
    auto [name, rest] = headAndRest(attribute);
    auto colon = name.find(':');
    std::string_view key = name.substr(0, colon);
    std::string_view first = colon == std::string_view::npos ? "" : name.substr(colon + 1);
    if (key == "cname" && rtp_.cname.empty()) rtp_.cname = std::string(first);
    if (key == "msid" && !rtp_.msid && !first.empty()) {
      auto track = tokens(rest);
      rtp_.msid =
          MediaStreamId{std::string(first), track.empty() ? std::string() : std::string(track[0])};
    }
    return true;
  }

  bool ssrcGroup(std::string_view value) {
    auto fields = tokens(value);
    if (fields.empty()) return refuse("malformed a=ssrc-group");
    if (fields.size() > kMaxSsrcsPerSection + 1) return refuse("too many SSRCs in a group");
    SsrcGroup group;
    group.semantics = std::string(fields[0]);
    for (std::size_t i = 1; i < fields.size(); ++i) {
      auto number = parseUnsigned<std::uint32_t>(fields[i]);
      if (!number) return refuse("malformed a=ssrc-group " + quote(value));
      group.ssrcs.push_back(*number);
    }
    if (rtp_.ssrcGroups.size() >= kMaxSsrcsPerSection) return refuse("too many SSRC groups");
    rtp_.ssrcGroups.push_back(std::move(group));
    return true;
  }

  const MediaSection& section_;
  std::map<std::uint8_t, Slot> slots_;
  std::vector<std::uint8_t> order_;
  RtpSection rtp_;
  std::string error_;
};

// H.264 profile-level-id "42e01f": profile_idc and the constraint flags (the first two bytes);
// the level (third byte) is ignored, as level-asymmetry-allowed lets each side send its own.
std::optional<std::string> h264Profile(const RtpCodec& codec) {
  auto id = codec.parameter("profile-level-id").value_or("42001f");
  if (id.size() != 6 || !std::all_of(id.begin(), id.end(), isHex)) return std::nullopt;
  std::string profile = toLower(id.substr(0, 4));
  // Constrained baseline is spelled two ways: 42e0 and 42c0 (constraint_set1 is what matters)
  // and 4200 with constraint_set1 off is plain baseline; keep them apart but fold the two
  // spellings of constrained baseline into one.
  if (profile == "42c0") profile = "42e0";
  return profile;
}

bool h264Compatible(const RtpCodec& offered, const LocalCodec& local) {
  RtpCodec ours{0, local.name, local.clockRate, local.channels, local.fmtp, {}};
  if (offered.parameter("packetization-mode").value_or("0") !=
      ours.parameter("packetization-mode").value_or("0")) {
    return false;
  }
  auto theirs = h264Profile(offered);
  return theirs && theirs == h264Profile(ours);
}

bool neverAccepted(const RtpCodec& codec) {
  for (auto name : {"rtx", "red", "ulpfec", "flexfec-03", "CN", "telephone-event"}) {
    if (codec.is(name)) return true;
  }
  return false;
}

}  // namespace

bool RtpCodec::is(std::string_view codecName) const { return equalsIgnoreCase(name, codecName); }

std::optional<std::string> RtpCodec::parameter(std::string_view key) const {
  for (auto pair : fmtpPairs(fmtp)) {
    auto equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    if (equalsIgnoreCase(trim(pair.substr(0, equals)), key)) {
      return std::string(trim(pair.substr(equals + 1)));
    }
  }
  return std::nullopt;
}

RtpParseResult parseRtp(const MediaSection& section) { return RtpParser(section).run(); }

void writeRtp(const RtpSection& rtp, MediaSection& section) {
  std::vector<std::string> kept;
  for (auto& attribute : section.otherAttributes) {
    if (!ownedByRtp(split(attribute).name)) kept.push_back(std::move(attribute));
  }
  section.formats.clear();
  std::vector<std::string> out;
  if (rtp.msid) out.push_back("msid:" + rtp.msid->stream + " " + rtp.msid->track);
  if (rtp.rtcpMux) out.emplace_back("rtcp-mux");
  if (rtp.rtcpReducedSize) out.emplace_back("rtcp-rsize");
  if (rtp.extmapAllowMixed) out.emplace_back("extmap-allow-mixed");
  for (const auto& extension : rtp.extensions) {
    std::string id = std::to_string(extension.id);
    if (!extension.direction.empty()) id += "/" + extension.direction;
    out.push_back("extmap:" + id + " " + extension.uri);
  }
  for (const auto& codec : rtp.codecs) {
    std::string payloadType = std::to_string(codec.payloadType);
    section.formats.push_back(payloadType);
    std::string encoding = codec.name + "/" + std::to_string(codec.clockRate);
    if (codec.channels > 1) encoding += "/" + std::to_string(codec.channels);
    out.push_back("rtpmap:" + payloadType + " " + encoding);
    for (const auto& feedback : codec.feedback) {
      out.push_back("rtcp-fb:" + payloadType + " " + feedback);
    }
    if (!codec.fmtp.empty()) out.push_back("fmtp:" + payloadType + " " + codec.fmtp);
  }
  for (const auto& group : rtp.ssrcGroups) {
    std::string line = "ssrc-group:" + group.semantics;
    for (auto ssrc : group.ssrcs) line += " " + std::to_string(ssrc);
    out.push_back(std::move(line));
  }
  for (auto ssrc : rtp.ssrcs) {
    if (!rtp.cname.empty()) out.push_back("ssrc:" + std::to_string(ssrc) + " cname:" + rtp.cname);
  }
  out.insert(out.end(), std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  section.otherAttributes = std::move(out);
}

std::vector<LocalCodec> defaultAudioCodecs() {
  return {{"opus", 48000, 2, "minptime=10;useinbandfec=1", {}}};
}

std::vector<LocalCodec> defaultVideoCodecs() {
  const std::vector<std::string> feedback = {"nack", "nack pli", "ccm fir", "goog-remb"};
  return {
      {"VP8", 90000, 1, {}, feedback},
      {"H264", 90000, 1, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
       feedback},
  };
}

std::vector<RtpCodec> answerCodecs(const std::vector<RtpCodec>& offered,
                                   const std::vector<LocalCodec>& supported) {
  std::vector<RtpCodec> out;
  for (const auto& codec : offered) {
    if (neverAccepted(codec)) continue;
    auto match = std::find_if(supported.begin(), supported.end(), [&](const LocalCodec& local) {
      if (!codec.is(local.name) || codec.clockRate != local.clockRate ||
          codec.channels != local.channels) {
        return false;
      }
      return !codec.is("H264") || h264Compatible(codec, local);
    });
    if (match == supported.end()) continue;
    RtpCodec accepted = codec;
    accepted.feedback.clear();
    for (const auto& feedback : codec.feedback) {
      if (std::find(match->feedback.begin(), match->feedback.end(), feedback) !=
          match->feedback.end()) {
        accepted.feedback.push_back(feedback);
      }
    }
    out.push_back(std::move(accepted));
  }
  return out;
}

std::vector<HeaderExtension> answerExtensions(const std::vector<HeaderExtension>& offered,
                                              const std::vector<std::string>& supported) {
  std::vector<HeaderExtension> out;
  for (const auto& extension : offered) {
    if (std::find(supported.begin(), supported.end(), extension.uri) == supported.end()) continue;
    if (std::any_of(out.begin(), out.end(),
                    [&](const HeaderExtension& e) { return e.uri == extension.uri; })) {
      continue;
    }
    out.push_back({extension.id, {}, extension.uri});
  }
  return out;
}

std::string answerDirection(std::string_view offered, bool wantToSend, bool wantToReceive) {
  std::string offer = offered.empty() ? "sendrecv" : toLower(offered);
  // What the offerer receives is what we may send, and the other way round.
  bool mayReceive = offer == "sendrecv" || offer == "sendonly";
  bool maySend = offer == "sendrecv" || offer == "recvonly";
  bool send = wantToSend && maySend;
  bool receive = wantToReceive && mayReceive;
  if (send && receive) return "sendrecv";
  if (send) return "sendonly";
  if (receive) return "recvonly";
  return "inactive";
}

}  // namespace trystero::rtc::sdp

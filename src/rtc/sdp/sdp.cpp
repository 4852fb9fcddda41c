#include "rtc/sdp/sdp.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <unordered_set>

#include "rtc/sdp/sdp_text.hpp"

namespace trystero::rtc::sdp {

namespace {

using namespace text;

constexpr std::size_t kMaxCandidateLength = 2048;
constexpr std::size_t kMaxFoundationLength = 32;
constexpr std::size_t kMaxAddressLength = 255;
constexpr std::size_t kMaxFingerprintBytes = 64;  // sha-512

struct Fingerprint {
  std::string algorithm;
  std::string hex;
};

std::optional<Fingerprint> parseFingerprint(std::string_view value) {
  auto parts = tokens(value);
  if (parts.size() != 2) return std::nullopt;
  if (!isVisibleToken(parts[0], 32)) return std::nullopt;
  std::string_view hex = parts[1];
  if ((hex.size() + 1) % 3 != 0) return std::nullopt;
  std::size_t bytes = (hex.size() + 1) / 3;
  if (bytes == 0 || bytes > kMaxFingerprintBytes) return std::nullopt;
  Fingerprint fp;
  fp.algorithm = toLower(parts[0]);
  fp.hex.reserve(hex.size());
  for (std::size_t i = 0; i < hex.size(); ++i) {
    char c = hex[i];
    if (i % 3 == 2) {
      if (c != ':') return std::nullopt;
    } else if (!isHex(c)) {
      return std::nullopt;
    }
    fp.hex += upperAscii(c);
  }
  return fp;
}

// ICE/DTLS attributes found at one level: the session, or one media section.
struct TransportAttributes {
  std::optional<std::string> iceUfrag;
  std::optional<std::string> icePwd;
  std::optional<Fingerprint> fingerprint;
  std::optional<std::string> setup;
  bool bundleOnly = false;  // a=bundle-only (media level)
};

bool isDirection(std::string_view name) {
  return name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive";
}

bool isSetupValue(std::string_view value) {
  return value == "actpass" || value == "active" || value == "passive" || value == "holdconn";
}

std::string candidateKey(const Candidate& c) {
  std::string key = c.foundation;
  key += ' ';
  key += std::to_string(c.component);
  key += ' ';
  key += c.transport;
  key += ' ';
  key += c.address;
  key += ' ';
  key += std::to_string(c.port);
  key += ' ';
  key += c.type;
  return key;
}

ParseResult fail(std::string error) {
  ParseResult result;
  result.error = std::move(error);
  return result;
}

// One parse of a description, line by line. Each step returns false with error_ set when the
// input is refused; the bounds on hostile input are checked where the lines are counted.
class DescriptionParser {
 public:
  ParseResult parse(std::string_view text);

 private:
  bool line(char type, std::string_view value);
  bool versionLine(char type, std::string_view value);
  void originLine(std::string_view value);
  bool mediaLine(std::string_view value);
  bool attributeLine(std::string_view value);

  // Attributes valid at both levels (ICE and DTLS apply to the level they appear at).
  bool candidateAttribute(std::string_view value);
  bool iceUfragAttribute(std::string_view value);
  bool icePwdAttribute(std::string_view value);
  bool fingerprintAttribute(std::string_view value);
  bool setupAttribute(std::string_view value);
  // Attributes of the session, and of the current media section.
  void sessionAttribute(std::string_view name, std::string_view value);
  bool mediaAttribute(std::string_view attribute, std::string_view name, std::string_view value);
  bool sctpAttribute(std::string_view lowerName, std::string_view value, MediaSection& section);

  // After the last line: what the description as a whole must have.
  bool finish();
  bool takeTransport();

  // The level the current attribute belongs to: the session, or the last media section.
  TransportAttributes& level() { return d_.media.empty() ? session_ : sections_.back(); }
  bool refuse(std::string error) {
    error_ = std::move(error);
    return false;
  }

  SessionDescription d_;
  TransportAttributes session_;
  std::vector<TransportAttributes> sections_;  // parallel to d_.media
  std::string sessionDirection_;
  bool sawVersion_ = false;
  bool sawOrigin_ = false;
  bool sawBundle_ = false;
  std::size_t candidateLines_ = 0;
  std::unordered_set<std::string> seenCandidates_;
  std::string error_;
};

ParseResult DescriptionParser::parse(std::string_view text) {
  if (text.size() > kMaxDescriptionBytes) {
    return fail("description too large: " + std::to_string(text.size()) + " bytes (limit " +
                std::to_string(kMaxDescriptionBytes) + ")");
  }
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view current = text.substr(pos, end - pos);
    pos = end + 1;
    while (!current.empty() && (current.back() == '\r' || isBlank(current.back()))) {
      current.remove_suffix(1);
    }
    if (current.size() < 2 || current[1] != '=') continue;  // blank or not "<type>=": ignored
    if (!line(current[0], current.substr(2))) return fail(std::move(error_));
  }
  if (!finish()) return fail(std::move(error_));
  ParseResult result;
  result.description = std::move(d_);
  return result;
}

bool DescriptionParser::line(char type, std::string_view value) {
  if (!sawVersion_) return versionLine(type, value);
  switch (type) {
    case 'o':
      originLine(value);
      return true;
    case 'm':
      return mediaLine(value);
    case 'a':
      return attributeLine(value);
    default:
      return true;  // s=, t=, c=, b=, ...: nothing we need
  }
}

bool DescriptionParser::versionLine(char type, std::string_view value) {
  if (type != 'v') return refuse("missing v= line: a description starts with v=0");
  if (trim(value) != "0") return refuse("unsupported SDP version v=" + quote(value));
  sawVersion_ = true;
  return true;
}

void DescriptionParser::originLine(std::string_view value) {
  if (sawOrigin_) return;
  sawOrigin_ = true;
  auto fields = tokens(value);
  if (fields.size() >= 3) {
    d_.sessionId = parseUnsigned<std::uint64_t>(fields[1]).value_or(0);
    d_.sessionVersion = parseUnsigned<std::uint64_t>(fields[2]).value_or(0);
  }
}

// m=<kind> <port>[/<number of ports>] <protocol> <formats...>: a new media section.
bool DescriptionParser::mediaLine(std::string_view value) {
  if (d_.media.size() >= kMaxMediaSections) {
    return refuse("too many media sections (limit " + std::to_string(kMaxMediaSections) + ")");
  }
  auto fields = tokens(value);
  if (fields.size() < 3) return refuse("malformed m= line " + quote(value));
  std::string_view portText = fields[1];
  if (auto slash = portText.find('/'); slash != std::string_view::npos) {
    portText = portText.substr(0, slash);
  }
  auto port = parsePort(portText);
  if (!port) return refuse("malformed port in m= line " + quote(value));
  MediaSection section;
  section.kind = std::string(fields[0]);
  section.port = *port;
  section.protocol = std::string(fields[2]);
  for (std::size_t i = 3; i < fields.size(); ++i) section.formats.emplace_back(fields[i]);
  d_.media.push_back(std::move(section));
  sections_.emplace_back();
  return true;
}

// a=<name>[:<value>]
bool DescriptionParser::attributeLine(std::string_view attribute) {
  std::string_view name = attribute;
  std::string_view value;
  if (auto colon = attribute.find(':'); colon != std::string_view::npos) {
    name = attribute.substr(0, colon);
    value = attribute.substr(colon + 1);
  }
  if (equalsIgnoreCase(name, "candidate")) return candidateAttribute(attribute);
  if (equalsIgnoreCase(name, "end-of-candidates")) {
    d_.endOfCandidates = true;
    return true;
  }
  if (equalsIgnoreCase(name, "ice-lite")) {
    d_.iceLite = true;
    return true;
  }
  // Transport-wide and never echoed back (we do not write a=ice-options).
  if (equalsIgnoreCase(name, "ice-options")) return true;
  if (equalsIgnoreCase(name, "ice-ufrag")) return iceUfragAttribute(value);
  if (equalsIgnoreCase(name, "ice-pwd")) return icePwdAttribute(value);
  if (equalsIgnoreCase(name, "fingerprint")) return fingerprintAttribute(value);
  if (equalsIgnoreCase(name, "setup")) return setupAttribute(value);
  if (d_.media.empty()) {
    sessionAttribute(name, value);
    return true;
  }
  return mediaAttribute(attribute, name, value);
}

// Every a=candidate line counts towards the limit, malformed ones included; a malformed one is
// dropped, a repeated one (e.g. in each BUNDLEd section) kept once.
bool DescriptionParser::candidateAttribute(std::string_view attribute) {
  if (++candidateLines_ > kMaxCandidates) {
    return refuse("too many candidates (limit " + std::to_string(kMaxCandidates) + ")");
  }
  if (auto candidate = parseCandidate(attribute)) {
    if (seenCandidates_.insert(candidateKey(*candidate)).second) {
      d_.candidates.push_back(std::move(*candidate));
    }
  }
  return true;
}

bool DescriptionParser::iceUfragAttribute(std::string_view value) {
  std::string_view ufrag = trim(value);
  if (!isVisibleToken(ufrag, kMaxCredentialLength)) {
    return refuse("malformed a=ice-ufrag " + quote(ufrag));
  }
  level().iceUfrag = std::string(ufrag);
  return true;
}

bool DescriptionParser::icePwdAttribute(std::string_view value) {
  std::string_view pwd = trim(value);
  if (!isVisibleToken(pwd, kMaxCredentialLength)) return refuse("malformed a=ice-pwd");
  level().icePwd = std::string(pwd);
  return true;
}

bool DescriptionParser::fingerprintAttribute(std::string_view value) {
  auto fingerprint = parseFingerprint(value);
  if (!fingerprint) return refuse("malformed a=fingerprint " + quote(value));
  // Several are allowed (RFC 8122); prefer sha-256, else keep the first.
  auto& kept = level().fingerprint;
  if (!kept || (kept->algorithm != "sha-256" && fingerprint->algorithm == "sha-256")) {
    kept = std::move(*fingerprint);
  }
  return true;
}

bool DescriptionParser::setupAttribute(std::string_view value) {
  std::string setup = toLower(trim(value));
  if (!isSetupValue(setup)) return refuse("unknown a=setup value " + quote(value));
  level().setup = std::move(setup);
  return true;
}

// a=group:BUNDLE (the first one) and a session-wide direction; other session-level attributes
// (msid-semantic, extmap-allow-mixed, ...) are ignored.
void DescriptionParser::sessionAttribute(std::string_view name, std::string_view value) {
  if (equalsIgnoreCase(name, "group")) {
    auto fields = tokens(value);
    if (!sawBundle_ && !fields.empty() && equalsIgnoreCase(fields[0], "BUNDLE")) {
      sawBundle_ = true;
      for (std::size_t i = 1; i < fields.size(); ++i) d_.bundleMids.emplace_back(fields[i]);
    }
  } else if (isDirection(toLower(name))) {
    sessionDirection_ = toLower(name);
  }
}

// a=mid, the section's direction, SCTP parameters; anything else is kept as it came.
bool DescriptionParser::mediaAttribute(std::string_view attribute, std::string_view name,
                                       std::string_view value) {
  MediaSection& section = d_.media.back();
  std::string lowerName = toLower(name);
  if (lowerName == "bundle-only") sections_.back().bundleOnly = true;  // and kept below
  if (lowerName == "mid") {
    std::string_view mid = trim(value);
    if (!isVisibleToken(mid, kMaxCredentialLength)) return refuse("malformed a=mid " + quote(mid));
    section.mid = std::string(mid);
  } else if (sctpAttribute(lowerName, value, section)) {
    // taken
  } else if (isDirection(lowerName)) {
    section.direction = std::move(lowerName);
  } else if (!attribute.empty()) {
    section.otherAttributes.emplace_back(attribute);
  }
  return true;
}

// a=sctp-port and a=max-message-size (malformed values are ignored). False: not one of them.
bool DescriptionParser::sctpAttribute(std::string_view lowerName, std::string_view value,
                                      MediaSection& section) {
  if (lowerName == "sctp-port") {
    if (auto port = parsePort(trim(value))) section.sctpPort = *port;
    return true;
  }
  if (lowerName == "max-message-size") {
    if (auto size = parseUnsigned<std::size_t>(trim(value))) section.maxMessageSize = *size;
    return true;
  }
  return false;
}

bool DescriptionParser::finish() {
  if (!sawVersion_) return refuse("missing v= line: not a session description");
  if (d_.media.empty()) return refuse("no m= section");
  if (!sessionDirection_.empty()) {
    for (auto& section : d_.media) {
      if (section.direction.empty()) section.direction = sessionDirection_;
    }
  }
  if (!takeTransport()) return false;
  // RFC 8843 6: port 0 with a=bundle-only is no rejection but a section on the BUNDLE transport
  // (Firefox offers the sections a renegotiation adds so).
  for (std::size_t i = 0; i < d_.media.size(); ++i) {
    MediaSection& section = d_.media[i];
    if (section.port == 0 && sections_[i].bundleOnly &&
        std::find(d_.bundleMids.begin(), d_.bundleMids.end(), section.mid) != d_.bundleMids.end()) {
      section.port = 9;
    }
  }
  std::stable_sort(
      d_.candidates.begin(), d_.candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.component < b.component; });
  return true;
}

// All sections share one (BUNDLE) transport: take its parameters from the first accepted one,
// falling back to the session level.
bool DescriptionParser::takeTransport() {
  std::size_t chosen = 0;
  for (std::size_t i = 0; i < d_.media.size(); ++i) {
    if (d_.media[i].port != 0) {
      chosen = i;
      break;
    }
  }
  const TransportAttributes& media = sections_[chosen];
  if (const auto& ufrag = media.iceUfrag ? media.iceUfrag : session_.iceUfrag) {
    d_.iceUfrag = *ufrag;
  } else {
    return refuse("missing ICE credentials: no a=ice-ufrag");
  }
  if (const auto& pwd = media.icePwd ? media.icePwd : session_.icePwd) {
    d_.icePwd = *pwd;
  } else {
    return refuse("missing ICE credentials: no a=ice-pwd");
  }
  if (const auto& fp = media.fingerprint ? media.fingerprint : session_.fingerprint) {
    d_.fingerprintAlgorithm = fp->algorithm;
    d_.fingerprint = fp->hex;
  } else {
    return refuse("missing DTLS fingerprint: no a=fingerprint");
  }
  if (const auto& setup = media.setup ? media.setup : session_.setup) d_.setup = *setup;
  return true;
}

ParseResult parseDescription(std::string_view text) { return DescriptionParser().parse(text); }

void appendLine(std::string& out, std::string_view a, std::string_view b = {}) {
  out += a;
  out += b;
  out += "\r\n";
}

bool isIceOptions(std::string_view attribute) {
  return startsWithIgnoreCase(attribute, "ice-options") &&
         (attribute.size() == 11 || attribute[11] == ':');
}

void appendTransport(std::string& out, const LocalParameters& local) {
  if (!local.iceUfrag.empty()) appendLine(out, "a=ice-ufrag:", local.iceUfrag);
  if (!local.icePwd.empty()) appendLine(out, "a=ice-pwd:", local.icePwd);
  if (!local.fingerprint.empty()) appendLine(out, "a=fingerprint:sha-256 ", local.fingerprint);
  if (!local.setup.empty()) appendLine(out, "a=setup:", local.setup);
}

}  // namespace

std::optional<Candidate> parseCandidate(std::string_view text) {
  std::string_view s = trim(text);
  if (s.size() > kMaxCandidateLength) return std::nullopt;
  if (s.starts_with("a=")) s.remove_prefix(2);
  if (startsWithIgnoreCase(s, "candidate:")) s.remove_prefix(10);
  s = trim(s);

  auto fields = tokens(s);
  if (fields.size() < 8) return std::nullopt;

  Candidate c;
  if (!isVisibleToken(fields[0], kMaxFoundationLength)) return std::nullopt;
  c.foundation = std::string(fields[0]);

  auto component = parseUnsigned<std::uint32_t>(fields[1]);
  if (!component || *component < 1 || *component > 256) return std::nullopt;
  c.component = static_cast<int>(*component);

  if (!isAlnumToken(fields[2], 16)) return std::nullopt;
  c.transport = toLower(fields[2]);

  auto priority = parseUnsigned<std::uint32_t>(fields[3]);
  if (!priority) return std::nullopt;
  c.priority = *priority;

  if (!isVisibleToken(fields[4], kMaxAddressLength)) return std::nullopt;
  c.address = std::string(fields[4]);

  auto port = parsePort(fields[5]);
  if (!port) return std::nullopt;
  c.port = *port;

  if (!equalsIgnoreCase(fields[6], "typ")) return std::nullopt;
  c.type = toLower(fields[7]);
  if (c.type != "host" && c.type != "srflx" && c.type != "prflx" && c.type != "relay") {
    return std::nullopt;
  }

  // Extension name/value pairs; unknown ones (generation, ufrag, network-id, ...) are skipped. A
  // dangling name without a value is ignored.
  for (std::size_t i = 8; i + 1 < fields.size(); i += 2) {
    std::string_view name = fields[i];
    std::string_view value = fields[i + 1];
    if (equalsIgnoreCase(name, "raddr")) {
      if (!isVisibleToken(value, kMaxAddressLength)) return std::nullopt;
      c.relatedAddress = std::string(value);
    } else if (equalsIgnoreCase(name, "rport")) {
      auto relatedPort = parsePort(value);
      if (!relatedPort) return std::nullopt;
      c.relatedPort = *relatedPort;
    } else if (equalsIgnoreCase(name, "tcptype")) {
      std::string tcpType = toLower(value);
      if (tcpType != "active" && tcpType != "passive" && tcpType != "so") return std::nullopt;
      c.tcpType = std::move(tcpType);
    }
  }

  c.line = "candidate:";
  c.line += s;
  return c;
}

std::string writeCandidate(const Candidate& candidate) {
  std::string out = "candidate:";
  out += candidate.foundation;
  out += ' ';
  out += std::to_string(candidate.component);
  out += ' ';
  out += candidate.transport;
  out += ' ';
  out += std::to_string(candidate.priority);
  out += ' ';
  out += candidate.address;
  out += ' ';
  out += std::to_string(candidate.port);
  out += " typ ";
  out += candidate.type;
  if (candidate.relatedAddress) {
    out += " raddr ";
    out += *candidate.relatedAddress;
  }
  if (candidate.relatedPort) {
    out += " rport ";
    out += std::to_string(*candidate.relatedPort);
  }
  if (!candidate.tcpType.empty()) {
    out += " tcptype ";
    out += candidate.tcpType;
  }
  return out;
}

ParseResult parse(std::string_view text) {
  try {
    return parseDescription(text);
  } catch (const std::exception& e) {
    return fail(std::string("cannot parse description: ") + e.what());
  } catch (...) {
    return fail("cannot parse description");
  }
}

std::string write(const LocalParameters& local) {
  std::string out;
  out.reserve(1024 + local.candidates.size() * 128);
  appendLine(out, "v=0");
  appendLine(out, "o=- " + std::to_string(local.sessionId) + " " +
                      std::to_string(local.sessionVersion) + " IN IP4 127.0.0.1");
  appendLine(out, "s=-");
  appendLine(out, "t=0 0");

  std::optional<std::size_t> firstAccepted;
  std::string bundle;
  for (std::size_t i = 0; i < local.media.size(); ++i) {
    const MediaSection& section = local.media[i];
    if (section.port == 0) continue;
    if (!firstAccepted) firstAccepted = i;
    if (!section.mid.empty()) {
      bundle += ' ';
      bundle += section.mid;
    }
  }
  if (!bundle.empty()) appendLine(out, "a=group:BUNDLE", bundle);
  appendLine(out, "a=msid-semantic: WMS");
  // Nothing accepted: no section carries the transport, so describe it at session level.
  if (!firstAccepted) appendTransport(out, local);

  for (std::size_t i = 0; i < local.media.size(); ++i) {
    const MediaSection& section = local.media[i];
    const bool application = section.kind == "application";
    const bool rejected = section.port == 0;

    std::string m = "m=" + section.kind + " " + std::to_string(section.port) + " ";
    if (!section.protocol.empty()) {
      m += section.protocol;
    } else {
      m += application ? "UDP/DTLS/SCTP" : "UDP/TLS/RTP/SAVPF";
    }
    bool anyFormat = false;
    for (const auto& format : section.formats) {
      if (format.empty()) continue;
      m += ' ';
      m += format;
      anyFormat = true;
    }
    if (!anyFormat && application) m += " webrtc-datachannel";
    appendLine(out, m);
    appendLine(out, "c=IN IP4 0.0.0.0");

    if (!rejected && firstAccepted == i) {
      for (const auto& candidate : local.candidates) {
        appendLine(out, "a=", writeCandidate(candidate));
      }
      if (local.endOfCandidates) appendLine(out, "a=end-of-candidates");
    }
    if (!rejected) appendTransport(out, local);
    if (!section.mid.empty()) appendLine(out, "a=mid:", section.mid);

    if (application) {
      if (rejected) continue;
      if (section.sctpPort) appendLine(out, "a=sctp-port:", std::to_string(*section.sctpPort));
      if (section.maxMessageSize) {
        appendLine(out, "a=max-message-size:", std::to_string(*section.maxMessageSize));
      }
    } else {
      if (!section.direction.empty()) appendLine(out, "a=", section.direction);
      for (const auto& attribute : section.otherAttributes) {
        if (attribute.empty() || isIceOptions(attribute) ||
            attribute.find_first_of("\r\n") != std::string::npos) {
          continue;
        }
        appendLine(out, "a=", attribute);
      }
    }
  }
  return out;
}

}  // namespace trystero::rtc::sdp

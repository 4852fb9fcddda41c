// libFuzzer target for the SDP parser: parse untrusted text; whatever parses must be writable
// as our own description, and that must parse back to the same model (and write identically).
// The RTP parameters of each audio/video section must survive writeRtp/parseRtp the same way,
// and answering them must stay within what was offered.
#include "rtc/sdp/sdp.hpp"

#include "rtc/sdp/rtp_parameters.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace trystero::rtc::sdp;

namespace {

void check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "sdp_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

void checkRtp(const MediaSection& section) {
  RtpParseResult first = parseRtp(section);
  if (!first.section) {
    check(!first.error.empty(), "failed RTP parse without an error string");
    return;
  }
  const RtpSection& rtp = *first.section;
  check(rtp.codecs.size() <= section.formats.size(), "more codecs than formats");
  MediaSection rewritten = section;
  writeRtp(rtp, rewritten);
  RtpParseResult second = parseRtp(rewritten);
  check(second.section.has_value(), "own RTP parameters do not parse");
  const RtpSection& again = *second.section;
  check(again.codecs.size() == rtp.codecs.size(), "codec count after writeRtp");
  for (std::size_t i = 0; i < rtp.codecs.size(); ++i) {
    check(again.codecs[i].payloadType == rtp.codecs[i].payloadType &&
              again.codecs[i].name == rtp.codecs[i].name &&
              again.codecs[i].clockRate == rtp.codecs[i].clockRate,
          "codec after writeRtp");
  }
  check(again.ssrcs == rtp.ssrcs || rtp.cname.empty(), "SSRCs after writeRtp");
  auto local = section.kind == "audio" ? defaultAudioCodecs() : defaultVideoCodecs();
  for (const auto& accepted : answerCodecs(rtp.codecs, local)) {
    check(std::any_of(rtp.codecs.begin(), rtp.codecs.end(),
                      [&](const RtpCodec& c) { return c.payloadType == accepted.payloadType; }),
          "answered a payload type that was not offered");
  }
}

LocalParameters localFrom(const SessionDescription& d) {
  LocalParameters local;
  local.sessionId = d.sessionId;
  local.sessionVersion = d.sessionVersion;
  local.iceUfrag = d.iceUfrag;
  local.icePwd = d.icePwd;
  local.fingerprint = d.fingerprint;
  local.setup = d.setup;
  local.media = d.media;
  local.candidates = d.candidates;
  local.endOfCandidates = d.endOfCandidates;
  return local;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseResult first = parse(text);
  if (!first.description) {
    check(!first.error.empty(), "failed parse without an error string");
    return 0;
  }
  check(first.error.empty(), "successful parse with an error string");
  const SessionDescription& d = *first.description;
  check(!d.media.empty() && d.media.size() <= kMaxMediaSections, "media section count");
  check(d.candidates.size() <= kMaxCandidates, "candidate count");
  check(!d.iceUfrag.empty() && !d.icePwd.empty() && !d.fingerprint.empty(), "transport");

  const LocalParameters local = localFrom(d);
  const std::string written = write(local);
  // Our own output adds per-section transport attributes; past the input limit it may rightly
  // be refused.
  if (written.size() > kMaxDescriptionBytes) return 0;
  ParseResult second = parse(written);
  if (!second.description) {
    std::fprintf(stderr, "sdp_fuzzer: own output does not parse: %s\n%s\n", second.error.c_str(),
                 written.c_str());
    std::abort();
  }
  const SessionDescription& e = *second.description;
  check(e.sessionId == d.sessionId && e.sessionVersion == d.sessionVersion, "o= line");
  check(e.iceUfrag == d.iceUfrag && e.icePwd == d.icePwd, "ICE credentials");
  check(e.fingerprint == d.fingerprint && e.fingerprintAlgorithm == "sha-256", "fingerprint");
  check(e.setup == d.setup, "setup");
  check(e.media.size() == d.media.size(), "media count");
  std::vector<std::string> acceptedMids;
  bool anyAccepted = false;
  for (std::size_t i = 0; i < d.media.size(); ++i) {
    const MediaSection& a = d.media[i];
    const MediaSection& b = e.media[i];
    check(a.kind == b.kind && a.port == b.port && a.mid == b.mid, "m= line and mid");
    check(a.protocol == b.protocol, "protocol");
    check(a.formats.empty() || a.formats == b.formats, "formats");
    if (a.port != 0) {
      anyAccepted = true;
      if (!a.mid.empty()) acceptedMids.push_back(a.mid);
    }
    if (a.kind == "application") {
      if (a.port != 0) {
        check(a.sctpPort == b.sctpPort && a.maxMessageSize == b.maxMessageSize, "sctp");
      }
    } else {
      check(a.direction == b.direction, "direction");
      std::size_t kept = 0;
      for (const auto& attribute : a.otherAttributes) {
        if (attribute.find('\r') != std::string::npos) continue;  // never written
        check(kept < b.otherAttributes.size() && b.otherAttributes[kept] == attribute,
              "other attributes");
        ++kept;
      }
      check(kept == b.otherAttributes.size(), "other attribute count");
    }
  }
  check(e.bundleMids == acceptedMids, "BUNDLE group");
  // Candidates and a=end-of-candidates go into the first accepted section, if there is one.
  check(e.endOfCandidates == (anyAccepted && d.endOfCandidates), "end-of-candidates");
  if (anyAccepted) {
    check(e.candidates.size() == d.candidates.size(), "candidate count after write");
    for (std::size_t i = 0; i < d.candidates.size(); ++i) {
      check(writeCandidate(e.candidates[i]) == writeCandidate(d.candidates[i]), "candidate");
    }
  }

  for (const auto& section : d.media) {
    if (section.kind == "audio" || section.kind == "video") checkRtp(section);
  }

  // Writing is a fixed point once the model went through write/parse.
  check(write(localFrom(e)) == written, "write(parse(write(x))) == write(x)");
  return 0;
}

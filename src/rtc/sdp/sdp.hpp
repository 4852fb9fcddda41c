// Session descriptions (RFC 8866 / JSEP, RFC 8829) as browsers exchange them for WebRTC:
// parsing untrusted text into a model, and writing our own offers and answers.
// Pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::rtc::sdp {

// Bounds parse() enforces on untrusted input.
inline constexpr std::size_t kMaxDescriptionBytes = 256 * 1024;
inline constexpr std::size_t kMaxMediaSections = 64;
inline constexpr std::size_t kMaxCandidates = 1024;  // a=candidate lines, malformed ones included
inline constexpr std::size_t kMaxCredentialLength = 256;  // ice-ufrag, ice-pwd, mid

struct Candidate {
  std::string foundation;
  int component = 1;
  std::string transport;  // "udp" / "tcp", lower-cased
  std::uint32_t priority = 0;
  std::string address;  // IP literal or "xxxx.local" (mDNS)
  std::uint16_t port = 0;
  std::string type;  // host / srflx / prflx / relay
  std::optional<std::string> relatedAddress;
  std::optional<std::uint16_t> relatedPort;
  std::string tcpType;  // active / passive / so, for tcp
  // The attribute value as received, starting with "candidate:".
  std::string line;
};

// Parses the value of an a=candidate attribute (with or without the leading "candidate:" and
// "a="). nullopt on malformed input.
std::optional<Candidate> parseCandidate(std::string_view text);
// Writes "candidate:..." (without "a=").
std::string writeCandidate(const Candidate& candidate);

struct MediaSection {
  std::string kind;                  // "application", "audio", "video"
  std::uint16_t port = 9;            // 0 means rejected (parse reads bundle-only's 0 as 9)
  std::string protocol;              // e.g. "UDP/DTLS/SCTP", "UDP/TLS/RTP/SAVPF"
  std::vector<std::string> formats;  // "webrtc-datachannel" or payload types
  std::string mid;
  std::optional<std::uint16_t> sctpPort;      // a=sctp-port
  std::optional<std::size_t> maxMessageSize;  // a=max-message-size
  std::string direction;  // sendrecv / sendonly / recvonly / inactive, empty if absent
  // Attributes this model does not interpret, in order, without "a=" (kept for media later).
  std::vector<std::string> otherAttributes;
};

struct SessionDescription {
  // Transport parameters. On parse, media-level values win over session-level ones, taken from
  // the first non-rejected media section (all are BUNDLEd on one transport).
  std::string iceUfrag;
  std::string icePwd;
  bool iceLite = false;
  std::string fingerprintAlgorithm;     // lower-case, e.g. "sha-256"
  std::string fingerprint;              // upper-case hex pairs joined by ':'
  std::string setup;                    // actpass / active / passive
  std::vector<std::string> bundleMids;  // a=group:BUNDLE
  std::vector<MediaSection> media;
  std::vector<Candidate> candidates;  // all sections, component 1 first; malformed ones dropped
  bool endOfCandidates = false;
  std::uint64_t sessionId = 0;
  std::uint64_t sessionVersion = 0;
};

struct ParseResult {
  std::optional<SessionDescription> description;
  std::string error;  // set when description is empty: what was wrong, for a log line
};

// Accepts \r\n or \n line endings. Fails (never throws, never crashes) on input that has no
// v= line, no media section, missing ice-ufrag/ice-pwd/fingerprint, or exceeds sane bounds
// (256 KiB, 64 media sections, 1024 candidates). Also fails on a malformed m= line (its port out
// of range), an ice-ufrag/ice-pwd/mid longer than kMaxCredentialLength or containing spaces or
// control characters, an unknown a=setup value, or a fingerprint that is not 1 to 64 hex pairs.
// Lines that are not "<letter>=..." are ignored, as are unknown session-level attributes and
// a=ice-options. Duplicate candidates (same foundation, component, transport, address, port and
// type, e.g. repeated in each BUNDLEd section) are kept once.
ParseResult parse(std::string_view text);

// Everything we need to describe our side.
struct LocalParameters {
  std::uint64_t sessionId = 0;
  std::uint64_t sessionVersion = 2;
  std::string iceUfrag;
  std::string icePwd;
  std::string fingerprint;            // sha-256, upper-case hex with ':'
  std::string setup;                  // "actpass" in offers, "active" or "passive" in answers
  std::vector<MediaSection> media;    // mids must be set; port 0 rejects a section in an answer
  std::vector<Candidate> candidates;  // written into the first accepted (BUNDLE-tag) section
  bool endOfCandidates = true;
};

// Writes a complete, browser-acceptable description with \r\n line endings: BUNDLE group over
// the accepted mids, a=msid-semantic, per-section ice-ufrag/pwd/fingerprint/setup/mid, and for
// application sections "UDP/DTLS/SCTP webrtc-datachannel" with a=sctp-port and
// a=max-message-size. Never writes a=ice-options:trickle (trystero strips it anyway).
// An empty protocol defaults to UDP/DTLS/SCTP (application) or UDP/TLS/RTP/SAVPF, empty formats
// of an application section to webrtc-datachannel. Rejected sections (port 0) carry only c=,
// a=mid and, for audio/video, direction and otherAttributes. If every section is rejected the
// ICE/DTLS attributes are written at session level so that the result still parses.
std::string write(const LocalParameters& local);

}  // namespace trystero::rtc::sdp

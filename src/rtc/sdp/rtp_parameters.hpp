// The RTP side of an audio or video media section (RFC 8866 attributes as JSEP, RFC 8829, uses
// them): codecs from a=rtpmap/a=fmtp/a=rtcp-fb, header extensions (a=extmap, RFC 8285), SSRCs
// and their groups (RFC 5576), a=msid (RFC 8830) and the RTCP options. parseRtp() reads them
// out of a parsed MediaSection (sdp.hpp keeps them as otherAttributes); writeRtp() puts them
// back. answerCodecs() and friends pick what an answer accepts from an offer, keeping the
// offerer's payload types, as JSEP requires.
// Pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rtc/sdp/sdp.hpp"

namespace trystero::rtc::sdp {

// Bounds parseRtp() enforces on untrusted input (beyond sdp::parse's own).
inline constexpr std::size_t kMaxCodecsPerSection = 128;  // payload types are 7 bits anyway
inline constexpr std::size_t kMaxFeedbackPerCodec = 16;
inline constexpr std::size_t kMaxSsrcsPerSection = 64;
inline constexpr std::size_t kMaxAttributeValueBytes = 1024;

struct RtpCodec {
  std::uint8_t payloadType = 0;
  std::string name;  // as a=rtpmap spells it ("opus", "VP8", "H264", "rtx")
  std::uint32_t clockRate = 0;
  std::uint8_t channels = 1;
  std::string fmtp;                   // a=fmtp parameters as written, empty when none
  std::vector<std::string> feedback;  // a=rtcp-fb values: "nack", "nack pli", "ccm fir", ...

  // Case-insensitive, as RFC 4855 media subtype names are.
  bool is(std::string_view codecName) const;
  // The value of key in fmtp ("a=b;c=d"); nullopt when absent.
  std::optional<std::string> parameter(std::string_view key) const;
};

struct HeaderExtension {
  std::uint8_t id = 0;    // 1-14 one-byte, 1-255 two-byte (RFC 8285)
  std::string direction;  // empty, or sendonly / recvonly / sendrecv / inactive
  std::string uri;
};

struct MediaStreamId {  // a=msid:<stream id> <track id>
  std::string stream;   // "-" for a track without a stream
  std::string track;
};

struct SsrcGroup {
  std::string semantics;  // "FID" (RTX), "SIM", ...
  std::vector<std::uint32_t> ssrcs;
};

struct RtpSection {
  std::vector<RtpCodec> codecs;  // in the m= line's order (its preference order)
  std::vector<HeaderExtension> extensions;
  std::vector<std::uint32_t> ssrcs;  // a=ssrc ids, first-seen order
  std::vector<SsrcGroup> ssrcGroups;
  std::string cname;                  // from the first a=ssrc:<id> cname:
  std::optional<MediaStreamId> msid;  // a=msid, else a=ssrc:<id> msid:
  bool rtcpMux = false;
  bool rtcpReducedSize = false;  // a=rtcp-rsize
  bool extmapAllowMixed = false;
};

struct RtpParseResult {
  std::optional<RtpSection> section;
  std::string error;  // set when section is empty
};

// Reads the RTP parameters of an audio or video section. Fails on a format that is not a
// payload type (0-127), a payload type listed twice, a dynamic payload type (96-127) without
// a=rtpmap, a malformed a=rtpmap/a=extmap/a=ssrc line, or more than the bounds above. Attributes
// for payload types not on the m= line are ignored, as are lines this model does not know.
// Static payload types without a=rtpmap get their RFC 3551 name where it has one (0 PCMU,
// 8 PCMA, 9 G722), else are skipped.
RtpParseResult parseRtp(const MediaSection& section);

// Sets section.formats from codecs, and replaces the attributes this model owns in
// section.otherAttributes (rtpmap, fmtp, rtcp-fb, extmap, ssrc, ssrc-group, msid, rtcp-mux,
// rtcp-rsize, extmap-allow-mixed), keeping any others in their order.
void writeRtp(const RtpSection& rtp, MediaSection& section);

// ---------------------------------------------------------------------------------------------
// Answering

// A codec we can send and receive, and the feedback we implement for it.
struct LocalCodec {
  std::string name;
  std::uint32_t clockRate = 0;
  std::uint8_t channels = 1;
  std::string fmtp;  // what we put in our own offers; H.264 needs packetization-mode=1
  std::vector<std::string> feedback;
};

// Opus 48000/2 (minptime=10;useinbandfec=1), with no feedback.
std::vector<LocalCodec> defaultAudioCodecs();
// VP8, then H.264 constrained baseline (packetization-mode=1, profile-level-id=42e01f); both
// with nack (resent from what we hold; we ask for packets a gap skipped), nack pli and ccm fir
// (keyframe requests, both ways), and goog-remb (as browsers list it; we send no estimate, which
// would only cap the sender's own loss-based one: it follows our receiver reports).
std::vector<LocalCodec> defaultVideoCodecs();

// The offered codecs we accept, in the offer's order with the offer's payload types and fmtp,
// their feedback narrowed to what both sides list. RTX, RED, FEC, comfort noise and DTMF are
// never accepted. H.264 is accepted only with the same packetization-mode (absent means 0) and
// the same profile (profile_idc and the constraint bits of profile-level-id; the level may
// differ where level-asymmetry-allowed=1, as browsers set it).
std::vector<RtpCodec> answerCodecs(const std::vector<RtpCodec>& offered,
                                   const std::vector<LocalCodec>& supported);

// The offered header extensions whose URI is in supported, with the offer's ids.
std::vector<HeaderExtension> answerExtensions(const std::vector<HeaderExtension>& offered,
                                              const std::vector<std::string>& supported);

// RFC 3264 section 6.1: what we may do, limited by what the offerer allows. offered empty
// counts as sendrecv.
std::string answerDirection(std::string_view offered, bool wantToSend, bool wantToReceive);

}  // namespace trystero::rtc::sdp

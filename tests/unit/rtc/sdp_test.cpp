#include "rtc/sdp/sdp.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace trystero::rtc::sdp;

namespace {

// Samples are kept here with \n and converted to the \r\n browsers send.
std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// Chromium 120, data channel only, after gathering (mDNS host, LAN host, srflx, tcp active).
constexpr std::string_view kChromiumOffer = R"(v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=candidate:2999745851 1 udp 2122260223 3f1c6e2a-8b4d-4a57-9c0e-2d7b5f8a1e93.local 58281 typ host generation 0 network-cost 999
a=candidate:1467250027 1 udp 2122194687 192.168.1.23 58282 typ host generation 0 network-id 2 network-cost 10
a=candidate:842163049 1 udp 1686052607 203.0.113.45 58281 typ srflx raddr 192.168.1.23 rport 58281 generation 0 ufrag Xb7Q network-id 1 network-cost 10
a=candidate:4233069003 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active generation 0 network-id 1 network-cost 10
a=ice-ufrag:Xb7Q
a=ice-pwd:kR2Tq8/7mWcZs3A+eY9vLp0d
a=ice-options:trickle
a=fingerprint:sha-256 6B:8B:5D:EA:59:04:20:D0:B1:F3:4C:2E:84:B1:6B:53:9E:A5:C9:0F:51:62:43:09:4B:7B:D5:1E:FB:75:36:67
a=setup:actpass
a=mid:0
a=sctp-port:5000
a=max-message-size:262144
)";

constexpr std::string_view kChromiumAnswer = R"(v=0
o=- 8404735287434616702 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=candidate:3512209311 1 udp 2113937151 b2e9a3d4-1c7f-4e08-a6b5-9d3c2f1e0a87.local 61537 typ host generation 0 network-cost 999
a=ice-ufrag:pQ3n
a=ice-pwd:Zr6Hc0Vw9yB1kT4mNs8fLq2e
a=ice-options:trickle
a=fingerprint:sha-256 A1:0C:37:5E:92:FD:4B:88:13:C6:7A:20:E4:59:BD:01:6F:D2:8C:45:77:3A:E9:0B:52:C1:6D:F8:24:9E:B3:10
a=setup:active
a=mid:0
a=sctp-port:5000
a=max-message-size:262144
)";

// Firefox 121: session-level fingerprint and ice-options, upper-case transports, a=sendrecv.
constexpr std::string_view kFirefoxOffer = R"(v=0
o=mozilla...THIS_IS_SDPARTA-99.0 7052848360639826063 0 IN IP4 0.0.0.0
s=-
t=0 0
a=fingerprint:sha-256 1F:2E:3D:4C:5B:6A:79:88:97:A6:B5:C4:D3:E2:F1:00:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0
a=group:BUNDLE 0
a=ice-options:trickle
a=msid-semantic:WMS *
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=candidate:0 1 UDP 2122252543 7e1c3d4f-0a2b-4c6d-8e9f-1a2b3c4d5e6f.local 49771 typ host
a=candidate:2 1 TCP 2105524479 7e1c3d4f-0a2b-4c6d-8e9f-1a2b3c4d5e6f.local 9 typ host tcptype active
a=candidate:1 1 UDP 1686052863 198.51.100.4 49771 typ srflx raddr 0.0.0.0 rport 0
a=sendrecv
a=end-of-candidates
a=ice-pwd:9b4c2e7a1f3d5b6c8e0a2d4f6b8c0e1a
a=ice-ufrag:3e5a7c9d
a=mid:0
a=setup:actpass
a=sctp-port:5000
a=max-message-size:1073741823
)";

// Chromium 120, audio + video + data channel.
constexpr std::string_view kChromiumMediaOffer = R"(v=0
o=- 3170483956483245108 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1 2
a=extmap-allow-mixed
a=msid-semantic: WMS 5c0d5e9b-43f1-4d1a-8b0e-6f7a2c9d1e34
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1467250027 1 udp 2122260223 192.168.1.23 50412 typ host generation 0 network-id 1 network-cost 10
a=ice-ufrag:Ab3d
a=ice-pwd:Vq2m9T0xRz7LpK4sBw1cNe6y
a=ice-options:trickle
a=fingerprint:sha-256 0E:91:7C:A2:3B:54:FD:68:C1:2A:9E:47:B0:D3:15:8F:62:E8:04:CB:79:A1:36:5D:F2:0B:8E:C4:27:93:DA:16
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:5c0d5e9b-43f1-4d1a-8b0e-6f7a2c9d1e34 8a2f4c6e-1b3d-4f5a-9c7e-0d2b4f6a8c1e
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:2864751025 cname:q8Jd0Lx3Wm2Pz7Ta
a=ssrc:2864751025 msid:5c0d5e9b-43f1-4d1a-8b0e-6f7a2c9d1e34 8a2f4c6e-1b3d-4f5a-9c7e-0d2b4f6a8c1e
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Ab3d
a=ice-pwd:Vq2m9T0xRz7LpK4sBw1cNe6y
a=ice-options:trickle
a=fingerprint:sha-256 0E:91:7C:A2:3B:54:FD:68:C1:2A:9E:47:B0:D3:15:8F:62:E8:04:CB:79:A1:36:5D:F2:0B:8E:C4:27:93:DA:16
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:5c0d5e9b-43f1-4d1a-8b0e-6f7a2c9d1e34 d4e6f8a0-2c4e-4a6c-8e0a-2c4e6a8c0e2a
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=ssrc-group:FID 1734062233 3022812591
a=ssrc:1734062233 cname:q8Jd0Lx3Wm2Pz7Ta
a=ssrc:3022812591 cname:q8Jd0Lx3Wm2Pz7Ta
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=ice-ufrag:Ab3d
a=ice-pwd:Vq2m9T0xRz7LpK4sBw1cNe6y
a=ice-options:trickle
a=fingerprint:sha-256 0E:91:7C:A2:3B:54:FD:68:C1:2A:9E:47:B0:D3:15:8F:62:E8:04:CB:79:A1:36:5D:F2:0B:8E:C4:27:93:DA:16
a=setup:actpass
a=mid:2
a=sctp-port:5000
a=max-message-size:262144
)";

const std::vector<std::string_view> kSamples = {kChromiumOffer, kChromiumAnswer, kFirefoxOffer,
                                                kChromiumMediaOffer};

constexpr std::string_view kFingerprint =
    "6B:8B:5D:EA:59:04:20:D0:B1:F3:4C:2E:84:B1:6B:53:9E:A5:C9:0F:51:62:43:09:4B:7B:D5:1E:FB:75:36:"
    "67";

SessionDescription parseOk(std::string_view text) {
  auto result = parse(text);
  EXPECT_TRUE(result.description) << result.error;
  if (!result.description) return {};
  EXPECT_TRUE(result.error.empty());
  return *result.description;
}

std::string parseError(std::string_view text) {
  auto result = parse(text);
  EXPECT_FALSE(result.description);
  EXPECT_FALSE(result.error.empty());
  return result.error;
}

// A minimal valid description body after which tests append lines.
std::string minimal(std::string_view extraMediaLines = {}) {
  std::string text =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
      "a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\na=mid:0\r\n";
  text += extraMediaLines;
  return text;
}

std::string candidateLine(int i) {
  return "a=candidate:" + std::to_string(i) + " 1 udp 2122260223 10.0." + std::to_string(i / 250) +
         "." + std::to_string(i % 250) + " " + std::to_string(10000 + i) + " typ host\r\n";
}

LocalParameters dataChannelParameters() {
  LocalParameters local;
  local.sessionId = 1234567890123456789ull;
  local.sessionVersion = 2;
  local.iceUfrag = "w8Rt";
  local.icePwd = "Lq9sZb3mT7xV2cN6yP0dKe4f";
  local.fingerprint = std::string(kFingerprint);
  local.setup = "actpass";
  MediaSection data;
  data.kind = "application";
  data.mid = "0";
  data.sctpPort = 5000;
  data.maxMessageSize = 262144;
  local.media.push_back(data);
  auto host = parseCandidate("candidate:1 1 udp 2122260223 192.168.1.5 50000 typ host");
  auto srflx = parseCandidate(
      "candidate:2 1 udp 1686052607 203.0.113.9 50000 typ srflx raddr 192.168.1.5 rport 50000");
  auto tcp = parseCandidate("candidate:3 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active");
  EXPECT_TRUE(host && srflx && tcp);
  if (host && srflx && tcp) local.candidates = {*host, *srflx, *tcp};
  return local;
}

std::vector<std::string_view> splitCrlfLines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find("\r\n", pos);
    if (end == std::string_view::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 2;
  }
  return lines;
}

bool hasLine(std::string_view text, std::string_view line) {
  for (auto l : splitCrlfLines(text)) {
    if (l == line) return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Field extraction from browser samples

TEST(SdpParse, ChromiumDataChannelOffer) {
  auto d = parseOk(crlf(kChromiumOffer));
  EXPECT_EQ(d.sessionId, 4611731400430051336ull);
  EXPECT_EQ(d.sessionVersion, 2u);
  EXPECT_EQ(d.iceUfrag, "Xb7Q");
  EXPECT_EQ(d.icePwd, "kR2Tq8/7mWcZs3A+eY9vLp0d");
  EXPECT_FALSE(d.iceLite);
  EXPECT_EQ(d.fingerprintAlgorithm, "sha-256");
  EXPECT_EQ(d.fingerprint, kFingerprint);
  EXPECT_EQ(d.setup, "actpass");
  EXPECT_EQ(d.bundleMids, std::vector<std::string>{"0"});
  EXPECT_FALSE(d.endOfCandidates);

  ASSERT_EQ(d.media.size(), 1u);
  const auto& m = d.media[0];
  EXPECT_EQ(m.kind, "application");
  EXPECT_EQ(m.port, 9);
  EXPECT_EQ(m.protocol, "UDP/DTLS/SCTP");
  EXPECT_EQ(m.formats, std::vector<std::string>{"webrtc-datachannel"});
  EXPECT_EQ(m.mid, "0");
  EXPECT_EQ(m.sctpPort, std::optional<std::uint16_t>(5000));
  EXPECT_EQ(m.maxMessageSize, std::optional<std::size_t>(262144));
  EXPECT_EQ(m.direction, "");
  EXPECT_TRUE(m.otherAttributes.empty());  // ice-options is not kept

  ASSERT_EQ(d.candidates.size(), 4u);
  const auto& mdns = d.candidates[0];
  EXPECT_EQ(mdns.foundation, "2999745851");
  EXPECT_EQ(mdns.component, 1);
  EXPECT_EQ(mdns.transport, "udp");
  EXPECT_EQ(mdns.priority, 2122260223u);
  EXPECT_EQ(mdns.address, "3f1c6e2a-8b4d-4a57-9c0e-2d7b5f8a1e93.local");
  EXPECT_EQ(mdns.port, 58281);
  EXPECT_EQ(mdns.type, "host");
  EXPECT_FALSE(mdns.relatedAddress);
  EXPECT_FALSE(mdns.relatedPort);
  EXPECT_EQ(mdns.line,
            "candidate:2999745851 1 udp 2122260223 3f1c6e2a-8b4d-4a57-9c0e-2d7b5f8a1e93.local "
            "58281 typ host generation 0 network-cost 999");

  const auto& srflx = d.candidates[2];
  EXPECT_EQ(srflx.type, "srflx");
  EXPECT_EQ(srflx.address, "203.0.113.45");
  EXPECT_EQ(srflx.relatedAddress, std::optional<std::string>("192.168.1.23"));
  EXPECT_EQ(srflx.relatedPort, std::optional<std::uint16_t>(58281));

  const auto& tcp = d.candidates[3];
  EXPECT_EQ(tcp.transport, "tcp");
  EXPECT_EQ(tcp.port, 9);
  EXPECT_EQ(tcp.tcpType, "active");
  EXPECT_EQ(tcp.priority, 1518280447u);
}

TEST(SdpParse, ChromiumAnswer) {
  auto d = parseOk(crlf(kChromiumAnswer));
  EXPECT_EQ(d.setup, "active");
  EXPECT_EQ(d.iceUfrag, "pQ3n");
  EXPECT_EQ(d.icePwd, "Zr6Hc0Vw9yB1kT4mNs8fLq2e");
  EXPECT_EQ(d.sessionId, 8404735287434616702ull);
  ASSERT_EQ(d.candidates.size(), 1u);
  EXPECT_EQ(d.candidates[0].address, "b2e9a3d4-1c7f-4e08-a6b5-9d3c2f1e0a87.local");
  ASSERT_EQ(d.media.size(), 1u);
  EXPECT_EQ(d.media[0].sctpPort, std::optional<std::uint16_t>(5000));
}

TEST(SdpParse, FirefoxOfferWithSessionLevelFingerprint) {
  auto d = parseOk(crlf(kFirefoxOffer));
  EXPECT_EQ(d.sessionId, 7052848360639826063ull);
  EXPECT_EQ(d.sessionVersion, 0u);
  EXPECT_EQ(d.fingerprintAlgorithm, "sha-256");
  EXPECT_EQ(d.fingerprint,
            "1F:2E:3D:4C:5B:6A:79:88:97:A6:B5:C4:D3:E2:F1:00:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:"
            "C3:D2:E1:F0");
  EXPECT_EQ(d.iceUfrag, "3e5a7c9d");
  EXPECT_EQ(d.icePwd, "9b4c2e7a1f3d5b6c8e0a2d4f6b8c0e1a");
  EXPECT_EQ(d.setup, "actpass");
  EXPECT_TRUE(d.endOfCandidates);
  EXPECT_EQ(d.bundleMids, std::vector<std::string>{"0"});
  ASSERT_EQ(d.media.size(), 1u);
  EXPECT_EQ(d.media[0].direction, "sendrecv");
  EXPECT_EQ(d.media[0].maxMessageSize, std::optional<std::size_t>(1073741823));
  EXPECT_TRUE(d.media[0].otherAttributes.empty());
  ASSERT_EQ(d.candidates.size(), 3u);
  EXPECT_EQ(d.candidates[0].transport, "udp");  // "UDP" lower-cased
  EXPECT_EQ(d.candidates[1].transport, "tcp");
  EXPECT_EQ(d.candidates[1].tcpType, "active");
  EXPECT_EQ(d.candidates[2].relatedAddress, std::optional<std::string>("0.0.0.0"));
  EXPECT_EQ(d.candidates[2].relatedPort, std::optional<std::uint16_t>(0));
}

TEST(SdpParse, ChromiumAudioVideoDataOfferKeepsMediaSections) {
  auto d = parseOk(crlf(kChromiumMediaOffer));
  EXPECT_EQ(d.bundleMids, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(d.iceUfrag, "Ab3d");
  ASSERT_EQ(d.media.size(), 3u);

  const auto& audio = d.media[0];
  EXPECT_EQ(audio.kind, "audio");
  EXPECT_EQ(audio.protocol, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(audio.formats,
            (std::vector<std::string>{"111", "63", "9", "0", "8", "13", "110", "126"}));
  EXPECT_EQ(audio.mid, "0");
  EXPECT_EQ(audio.direction, "sendrecv");
  ASSERT_FALSE(audio.otherAttributes.empty());
  EXPECT_EQ(audio.otherAttributes.front(), "rtcp:9 IN IP4 0.0.0.0");
  EXPECT_EQ(audio.otherAttributes.back(),
            "ssrc:2864751025 msid:5c0d5e9b-43f1-4d1a-8b0e-6f7a2c9d1e34 "
            "8a2f4c6e-1b3d-4f5a-9c7e-0d2b4f6a8c1e");
  auto has = [](const MediaSection& m, std::string_view attribute) {
    for (const auto& a : m.otherAttributes) {
      if (a == attribute) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(audio, "rtpmap:111 opus/48000/2"));
  EXPECT_TRUE(has(audio, "fmtp:111 minptime=10;useinbandfec=1"));
  EXPECT_TRUE(has(audio, "rtcp-mux"));
  EXPECT_TRUE(has(audio, "extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level"));
  for (const auto& a : audio.otherAttributes) {
    EXPECT_NE(a.rfind("ice-", 0), 0u) << a;
    EXPECT_NE(a.rfind("candidate", 0), 0u) << a;
    EXPECT_NE(a.rfind("fingerprint", 0), 0u) << a;
    EXPECT_NE(a.rfind("setup", 0), 0u) << a;
    EXPECT_NE(a.rfind("mid:", 0), 0u) << a;
    EXPECT_NE(a, "sendrecv");
  }
  EXPECT_EQ(audio.otherAttributes.size(), 20u);

  const auto& video = d.media[1];
  EXPECT_EQ(video.kind, "video");
  EXPECT_EQ(video.formats, (std::vector<std::string>{"96", "97", "102", "103"}));
  EXPECT_EQ(video.mid, "1");
  EXPECT_TRUE(has(video, "rtpmap:96 VP8/90000"));
  EXPECT_TRUE(has(video, "rtcp-fb:96 nack pli"));
  EXPECT_TRUE(has(video, "ssrc-group:FID 1734062233 3022812591"));
  EXPECT_TRUE(has(video, "rtcp-rsize"));

  const auto& data = d.media[2];
  EXPECT_EQ(data.kind, "application");
  EXPECT_EQ(data.mid, "2");
  EXPECT_EQ(data.sctpPort, std::optional<std::uint16_t>(5000));
  EXPECT_TRUE(data.otherAttributes.empty());
  EXPECT_FALSE(data.sctpPort == std::nullopt);
  EXPECT_FALSE(audio.sctpPort);
  ASSERT_EQ(d.candidates.size(), 1u);
}

TEST(SdpParse, NewlineOnlyLineEndings) {
  for (auto sample : kSamples) {
    auto lf = parseOk(sample);
    auto crLf = parseOk(crlf(sample));
    EXPECT_EQ(lf.iceUfrag, crLf.iceUfrag);
    EXPECT_EQ(lf.icePwd, crLf.icePwd);
    EXPECT_EQ(lf.fingerprint, crLf.fingerprint);
    EXPECT_EQ(lf.candidates.size(), crLf.candidates.size());
    ASSERT_EQ(lf.media.size(), crLf.media.size());
    for (std::size_t i = 0; i < lf.media.size(); ++i) {
      EXPECT_EQ(lf.media[i].otherAttributes, crLf.media[i].otherAttributes);
      EXPECT_EQ(lf.media[i].formats, crLf.media[i].formats);
    }
  }
  // Mixed endings and no final newline.
  std::string mixed = crlf(kChromiumOffer);
  mixed.erase(mixed.find("\r\n"), 1);
  mixed.resize(mixed.size() - 2);
  auto d = parseOk(mixed);
  EXPECT_EQ(d.media[0].maxMessageSize, std::optional<std::size_t>(262144));
}

TEST(SdpParse, MediaLevelWinsFromFirstAcceptedSection) {
  std::string text =
      "v=0\r\ns=-\r\nt=0 0\r\n"
      "a=ice-ufrag:sessionufrag\r\na=ice-pwd:sessionpasswordsessionpwd\r\n"
      "a=fingerprint:sha-256 11:22\r\na=setup:actpass\r\n"
      "m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:a\r\n"
      "a=ice-ufrag:rejectedufrag\r\na=fingerprint:sha-256 99:99\r\n"
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:b\r\n"
      "a=ice-ufrag:mediaufrag\r\na=setup:passive\r\n"
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:c\r\n"
      "a=ice-pwd:thirdsectionpasswordxxxx\r\n";
  auto d = parseOk(text);
  EXPECT_EQ(d.iceUfrag, "mediaufrag");
  EXPECT_EQ(d.icePwd, "sessionpasswordsessionpwd");
  EXPECT_EQ(d.fingerprint, "11:22");
  EXPECT_EQ(d.setup, "passive");
  EXPECT_EQ(d.sessionId, 0u);  // no o= line
  ASSERT_EQ(d.media.size(), 3u);
  EXPECT_EQ(d.media[0].port, 0);
}

// Firefox 153 renegotiating: the sections it adds come with port 0 and a=bundle-only (RFC 8843),
// on the BUNDLE transport, not rejected. Outside the BUNDLE group, port 0 still rejects.
TEST(SdpParse, BundleOnlySectionsInTheGroupAreNotRejected) {
  std::string text =
      "v=0\r\ns=-\r\nt=0 0\r\n"
      "a=fingerprint:sha-256 11:22\r\na=group:BUNDLE 0 3\r\n"
      "m=application 52795 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
      "a=ice-ufrag:c6e0353b\r\na=ice-pwd:941b9a33ebc8704d9292c2a8cb837f1e\r\n"
      "a=setup:actpass\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 120\r\na=bundle-only\r\na=sendrecv\r\na=mid:3\r\n"
      "a=ice-ufrag:c6e0353b\r\na=ice-pwd:941b9a33ebc8704d9292c2a8cb837f1e\r\n"
      "a=rtpmap:120 VP8/90000\r\n"
      "m=audio 0 UDP/TLS/RTP/SAVPF 109\r\na=bundle-only\r\na=mid:4\r\n"
      "a=rtpmap:109 opus/48000/2\r\n";
  auto d = parseOk(text);
  ASSERT_EQ(d.media.size(), 3u);
  EXPECT_EQ(d.media[0].port, 52795);
  EXPECT_NE(d.media[1].port, 0);
  EXPECT_EQ(d.media[1].direction, "sendrecv");
  EXPECT_EQ(d.media[2].port, 0);  // mid 4 is not in the group
  EXPECT_EQ(d.iceUfrag, "c6e0353b");
}

TEST(SdpParse, FingerprintIsNormalisedAndSha256Preferred) {
  auto d = parseOk(
      "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=ice-ufrag:abcd\n"
      "a=ice-pwd:abcdefghijklmnopqrstuvwx\na=fingerprint:SHA-1 01:02\n"
      "a=fingerprint:SHA-256 ab:cd:ef\na=fingerprint:sha-512 03:04\n");
  EXPECT_EQ(d.fingerprintAlgorithm, "sha-256");
  EXPECT_EQ(d.fingerprint, "AB:CD:EF");

  d = parseOk(
      "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=ice-ufrag:abcd\n"
      "a=ice-pwd:abcdefghijklmnopqrstuvwx\na=fingerprint:SHA-1 0a:0b\n");
  EXPECT_EQ(d.fingerprintAlgorithm, "sha-1");
  EXPECT_EQ(d.fingerprint, "0A:0B");
}

TEST(SdpParse, IceLiteGroupsAndOtherSessionAttributes) {
  auto d = parseOk(
      "v=0\r\na=ice-lite\r\na=group:LS 0\r\na=group:BUNDLE  x y \r\na=group:BUNDLE z\r\n"
      "a=recvonly\r\n" +
      minimal().substr(5));
  EXPECT_TRUE(d.iceLite);
  EXPECT_EQ(d.bundleMids, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(d.media[0].direction, "recvonly");  // session-level default
}

TEST(SdpParse, CandidatesAnywhereDeduplicatedComponentOneFirst) {
  std::string text =
      "v=0\r\n"
      "a=candidate:9 2 udp 100 10.0.0.9 9 typ host\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 AA\r\n"
      "a=candidate:1 1 udp 200 10.0.0.1 1000 typ host\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
      "a=candidate:1 1 udp 200 10.0.0.1 1000 typ host\r\n"
      "a=candidate:2 1 udp 150 10.0.0.2 2000 typ host\r\n"
      "a=end-of-candidates\r\n";
  auto d = parseOk(text);
  ASSERT_EQ(d.candidates.size(), 3u);
  EXPECT_EQ(d.candidates[0].foundation, "1");
  EXPECT_EQ(d.candidates[1].foundation, "2");
  EXPECT_EQ(d.candidates[2].foundation, "9");
  EXPECT_EQ(d.candidates[2].component, 2);
  EXPECT_TRUE(d.endOfCandidates);
}

// ---------------------------------------------------------------------------------------------
// Candidates

TEST(SdpCandidate, AcceptsPrefixesAndSkipsExtensions) {
  for (std::string_view text : {
           "candidate:842163049 1 udp 1677729535 1.2.3.4 56143 typ srflx raddr 192.168.1.5 "
           "rport 56144 generation 0 ufrag abcd network-id 1 network-cost 10",
           "a=candidate:842163049 1 udp 1677729535 1.2.3.4 56143 typ srflx raddr 192.168.1.5 "
           "rport 56144 generation 0 ufrag abcd network-id 1 network-cost 10\r\n",
           "842163049 1 UDP 1677729535 1.2.3.4 56143 TYP SRFLX RADDR 192.168.1.5 RPORT 56144",
           "  Candidate:842163049  1 udp 1677729535 1.2.3.4 56143 typ srflx raddr 192.168.1.5 "
           "rport 56144 dangling",
       }) {
    auto c = parseCandidate(text);
    ASSERT_TRUE(c) << text;
    EXPECT_EQ(c->foundation, "842163049");
    EXPECT_EQ(c->component, 1);
    EXPECT_EQ(c->transport, "udp");
    EXPECT_EQ(c->priority, 1677729535u);
    EXPECT_EQ(c->address, "1.2.3.4");
    EXPECT_EQ(c->port, 56143);
    EXPECT_EQ(c->type, "srflx");
    EXPECT_EQ(c->relatedAddress, std::optional<std::string>("192.168.1.5"));
    EXPECT_EQ(c->relatedPort, std::optional<std::uint16_t>(56144));
    EXPECT_EQ(c->line.rfind("candidate:842163049 ", 0), 0u) << c->line;
    EXPECT_EQ(c->line.find_first_of("\r\n"), std::string::npos);
  }
}

TEST(SdpCandidate, MdnsIpv6RelayAndTcp) {
  auto mdns = parseCandidate(
      "candidate:1 1 udp 2122260223 2f0c1e3d-4b5a-6978-8a9b-0c1d2e3f4a5b.local 1 typ host");
  ASSERT_TRUE(mdns);
  EXPECT_EQ(mdns->address, "2f0c1e3d-4b5a-6978-8a9b-0c1d2e3f4a5b.local");

  auto v6 = parseCandidate("candidate:2 1 udp 2122262783 2001:db8::1f 61000 typ host");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->address, "2001:db8::1f");

  auto relay = parseCandidate(
      "candidate:3 1 udp 41885439 198.51.100.7 3478 typ relay raddr 203.0.113.1 rport 61000");
  ASSERT_TRUE(relay);
  EXPECT_EQ(relay->type, "relay");

  auto tcp = parseCandidate("candidate:4 1 TCP 1518280447 10.0.0.1 443 typ host tcptype PASSIVE");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->transport, "tcp");
  EXPECT_EQ(tcp->tcpType, "passive");
}

TEST(SdpCandidate, RoundTrip) {
  std::vector<std::string_view> lines = {
      "candidate:842163049 1 udp 1677729535 1.2.3.4 56143 typ srflx raddr 192.168.1.5 rport 1",
      "candidate:1 1 tcp 1518280447 10.0.0.1 9 typ host tcptype active",
      "candidate:2 2 udp 0 fe80::1 65535 typ host",
      "candidate:x+/Y 256 udp 4294967295 a.local 0 typ prflx",
      "candidate:5 1 udp 5 198.51.100.7 3478 typ relay raddr 0.0.0.0",
  };
  for (auto line : lines) {
    auto c = parseCandidate(line);
    ASSERT_TRUE(c) << line;
    EXPECT_EQ(writeCandidate(*c), line);
    auto again = parseCandidate(writeCandidate(*c));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->foundation, c->foundation);
    EXPECT_EQ(again->component, c->component);
    EXPECT_EQ(again->transport, c->transport);
    EXPECT_EQ(again->priority, c->priority);
    EXPECT_EQ(again->address, c->address);
    EXPECT_EQ(again->port, c->port);
    EXPECT_EQ(again->type, c->type);
    EXPECT_EQ(again->relatedAddress, c->relatedAddress);
    EXPECT_EQ(again->relatedPort, c->relatedPort);
    EXPECT_EQ(again->tcpType, c->tcpType);
    EXPECT_EQ(again->line, c->line);
  }
  // Extensions are not written back.
  auto chromium = parseCandidate(
      "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host generation 0 network-id 1");
  ASSERT_TRUE(chromium);
  EXPECT_EQ(writeCandidate(*chromium), "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host");
}

TEST(SdpCandidate, MalformedAreRejected) {
  for (std::string_view text : {
           "",
           "candidate:",
           "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ",
           "candidate:1 1 udp 2122260223 10.0.0.1 5000 type host",
           "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ banana",
           "candidate:1 1 udp 2122260223 10.0.0.1 99999 typ host",
           "candidate:1 1 udp 2122260223 10.0.0.1 -1 typ host",
           "candidate:1 1 udp 2122260223 10.0.0.1 +5 typ host",
           "candidate:1 1 udp 4294967296 10.0.0.1 5000 typ host",
           "candidate:1 1 udp -5 10.0.0.1 5000 typ host",
           "candidate:1 1 udp 1e9 10.0.0.1 5000 typ host",
           "candidate:1 0 udp 1 10.0.0.1 5000 typ host",
           "candidate:1 257 udp 1 10.0.0.1 5000 typ host",
           "candidate:1 x udp 1 10.0.0.1 5000 typ host",
           "candidate:1 1 u-p 1 10.0.0.1 5000 typ host",
           "candidate:1 1 udp 1 10.0.0.1 5000 typ srflx raddr 1.2.3.4 rport 70000",
           "candidate:1 1 udp 1 10.0.0.1 5000 typ srflx rport x",
           "candidate:1 1 tcp 1 10.0.0.1 5000 typ host tcptype sideways",
           "candidate:123456789012345678901234567890123 1 udp 1 10.0.0.1 5000 typ host",
           "candidate:1 1 udp 1 10.0.\xff.1 5000 typ host",
           "candidate:1 1 udp 1 10.0.0.1 5000 typ host raddr \x01",
       }) {
    EXPECT_FALSE(parseCandidate(text)) << text;
  }
  std::string huge = "candidate:1 1 udp 1 10.0.0.1 5000 typ host generation 0";
  while (huge.size() < 5000) huge += " network-cost 10";
  EXPECT_FALSE(parseCandidate(huge));
}

// ---------------------------------------------------------------------------------------------
// Writing

TEST(SdpWrite, DataChannelOffer) {
  auto text = write(dataChannelParameters());
  ASSERT_GE(text.size(), 2u);
  EXPECT_EQ(text.substr(text.size() - 2), "\r\n");
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(text[i - 1], '\r') << "bare \\n at " << i;
    }
  }
  auto lines = splitCrlfLines(text);
  std::vector<std::string> expected = {
      "v=0",
      "o=- 1234567890123456789 2 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE 0",
      "a=msid-semantic: WMS",
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
      "c=IN IP4 0.0.0.0",
      "a=candidate:1 1 udp 2122260223 192.168.1.5 50000 typ host",
      "a=candidate:2 1 udp 1686052607 203.0.113.9 50000 typ srflx raddr 192.168.1.5 rport 50000",
      "a=candidate:3 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active",
      "a=end-of-candidates",
      "a=ice-ufrag:w8Rt",
      "a=ice-pwd:Lq9sZb3mT7xV2cN6yP0dKe4f",
      "a=fingerprint:sha-256 " + std::string(kFingerprint),
      "a=setup:actpass",
      "a=mid:0",
      "a=sctp-port:5000",
      "a=max-message-size:262144",
  };
  ASSERT_EQ(lines.size(), expected.size()) << text;
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i], expected[i]);
  EXPECT_EQ(text.find("ice-options"), std::string::npos);
  EXPECT_EQ(text.find("extmap-allow-mixed"), std::string::npos);
}

TEST(SdpWrite, NoEndOfCandidatesWhenUnset) {
  auto local = dataChannelParameters();
  local.endOfCandidates = false;
  local.candidates.clear();
  auto text = write(local);
  EXPECT_EQ(text.find("end-of-candidates"), std::string::npos);
  EXPECT_EQ(text.find("a=candidate"), std::string::npos);
}

TEST(SdpWrite, RoundTrip) {
  auto local = dataChannelParameters();
  local.setup = "passive";
  auto d = parseOk(write(local));
  EXPECT_EQ(d.sessionId, local.sessionId);
  EXPECT_EQ(d.sessionVersion, local.sessionVersion);
  EXPECT_EQ(d.iceUfrag, local.iceUfrag);
  EXPECT_EQ(d.icePwd, local.icePwd);
  EXPECT_EQ(d.fingerprintAlgorithm, "sha-256");
  EXPECT_EQ(d.fingerprint, local.fingerprint);
  EXPECT_EQ(d.setup, "passive");
  EXPECT_EQ(d.bundleMids, std::vector<std::string>{"0"});
  EXPECT_TRUE(d.endOfCandidates);
  ASSERT_EQ(d.media.size(), 1u);
  EXPECT_EQ(d.media[0].kind, "application");
  EXPECT_EQ(d.media[0].protocol, "UDP/DTLS/SCTP");
  EXPECT_EQ(d.media[0].formats, std::vector<std::string>{"webrtc-datachannel"});
  EXPECT_EQ(d.media[0].sctpPort, std::optional<std::uint16_t>(5000));
  EXPECT_EQ(d.media[0].maxMessageSize, std::optional<std::size_t>(262144));
  ASSERT_EQ(d.candidates.size(), local.candidates.size());
  for (std::size_t i = 0; i < d.candidates.size(); ++i) {
    EXPECT_EQ(writeCandidate(d.candidates[i]), writeCandidate(local.candidates[i]));
  }
}

TEST(SdpWrite, BrowserSamplesSurviveParseWriteParse) {
  for (auto sample : kSamples) {
    auto first = parseOk(crlf(sample));
    LocalParameters local;
    local.sessionId = first.sessionId;
    local.sessionVersion = first.sessionVersion;
    local.iceUfrag = first.iceUfrag;
    local.icePwd = first.icePwd;
    local.fingerprint = first.fingerprint;
    local.setup = first.setup;
    local.media = first.media;
    local.candidates = first.candidates;
    local.endOfCandidates = first.endOfCandidates;
    auto second = parseOk(write(local));
    EXPECT_EQ(second.iceUfrag, first.iceUfrag);
    EXPECT_EQ(second.fingerprint, first.fingerprint);
    EXPECT_EQ(second.bundleMids, first.bundleMids);
    EXPECT_EQ(second.candidates.size(), first.candidates.size());
    ASSERT_EQ(second.media.size(), first.media.size());
    for (std::size_t i = 0; i < first.media.size(); ++i) {
      EXPECT_EQ(second.media[i].kind, first.media[i].kind);
      EXPECT_EQ(second.media[i].mid, first.media[i].mid);
      EXPECT_EQ(second.media[i].formats, first.media[i].formats);
      EXPECT_EQ(second.media[i].sctpPort, first.media[i].sctpPort);
      if (first.media[i].kind != "application") {
        EXPECT_EQ(second.media[i].otherAttributes, first.media[i].otherAttributes);
        EXPECT_EQ(second.media[i].direction, first.media[i].direction);
      }
    }
  }
}

TEST(SdpWrite, RejectedSectionsKeepMidAndFormatsAndLeaveBundle) {
  auto local = dataChannelParameters();
  local.setup = "active";
  MediaSection audio;
  audio.kind = "audio";
  audio.port = 0;
  audio.protocol = "UDP/TLS/RTP/SAVPF";
  audio.formats = {"111", "0"};
  audio.mid = "1";
  MediaSection data2;
  data2.kind = "application";
  data2.port = 0;
  data2.mid = "2";
  data2.sctpPort = 5000;
  local.media.push_back(audio);
  local.media.push_back(data2);
  auto text = write(local);
  EXPECT_TRUE(hasLine(text, "a=group:BUNDLE 0")) << text;
  EXPECT_TRUE(hasLine(text, "m=audio 0 UDP/TLS/RTP/SAVPF 111 0"));
  EXPECT_TRUE(hasLine(text, "a=mid:1"));
  EXPECT_TRUE(hasLine(text, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel"));
  EXPECT_TRUE(hasLine(text, "a=mid:2"));
  // Transport attributes only once, in the accepted section; sctp-port only there too.
  auto count = [&](std::string_view needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("a=ice-ufrag:"), 1u);
  EXPECT_EQ(count("a=sctp-port:"), 1u);

  auto d = parseOk(text);
  ASSERT_EQ(d.media.size(), 3u);
  EXPECT_EQ(d.media[1].port, 0);
  EXPECT_EQ(d.media[1].formats, (std::vector<std::string>{"111", "0"}));
  EXPECT_EQ(d.media[1].mid, "1");
  EXPECT_EQ(d.media[2].port, 0);
  EXPECT_EQ(d.media[2].mid, "2");
  EXPECT_EQ(d.bundleMids, std::vector<std::string>{"0"});
  EXPECT_EQ(d.setup, "active");
}

TEST(SdpWrite, CandidatesGoToFirstAcceptedSection) {
  auto local = dataChannelParameters();
  MediaSection rejected;
  rejected.kind = "video";
  rejected.port = 0;
  rejected.formats = {"96"};
  rejected.mid = "v";
  local.media.insert(local.media.begin(), rejected);
  auto text = write(local);
  auto videoAt = text.find("m=video 0");
  auto appAt = text.find("m=application 9");
  auto candidateAt = text.find("a=candidate:");
  ASSERT_NE(videoAt, std::string::npos);
  ASSERT_NE(appAt, std::string::npos);
  EXPECT_GT(candidateAt, appAt);
  EXPECT_TRUE(hasLine(text, "a=group:BUNDLE 0"));
  auto d = parseOk(text);
  EXPECT_EQ(d.iceUfrag, local.iceUfrag);
  EXPECT_EQ(d.candidates.size(), 3u);
}

TEST(SdpWrite, EverythingRejectedStillParses) {
  auto local = dataChannelParameters();
  local.media[0].port = 0;
  auto text = write(local);
  EXPECT_EQ(text.find("a=group:BUNDLE"), std::string::npos);
  auto d = parseOk(text);
  EXPECT_EQ(d.iceUfrag, local.iceUfrag);
  EXPECT_TRUE(d.bundleMids.empty());
  EXPECT_EQ(d.media[0].port, 0);
}

TEST(SdpWrite, AudioVideoSections) {
  auto local = dataChannelParameters();
  MediaSection audio;
  audio.kind = "audio";
  audio.protocol = "UDP/TLS/RTP/SAVPF";
  audio.formats = {"111"};
  audio.mid = "1";
  audio.direction = "recvonly";
  audio.otherAttributes = {"rtcp-mux",
                           "rtpmap:111 opus/48000/2",
                           "ice-options:trickle",
                           "fmtp:111 minptime=10;useinbandfec=1",
                           "evil\r\na=injected",
                           ""};
  local.media.push_back(audio);
  auto text = write(local);
  EXPECT_TRUE(hasLine(text, "a=group:BUNDLE 0 1")) << text;
  EXPECT_TRUE(hasLine(text, "m=audio 9 UDP/TLS/RTP/SAVPF 111"));
  EXPECT_TRUE(hasLine(text, "a=recvonly"));
  EXPECT_TRUE(hasLine(text, "a=rtcp-mux"));
  EXPECT_TRUE(hasLine(text, "a=rtpmap:111 opus/48000/2"));
  EXPECT_TRUE(hasLine(text, "a=fmtp:111 minptime=10;useinbandfec=1"));
  EXPECT_EQ(text.find("ice-options"), std::string::npos);
  EXPECT_EQ(text.find("injected"), std::string::npos);
  auto d = parseOk(text);
  ASSERT_EQ(d.media.size(), 2u);
  EXPECT_EQ(d.media[1].direction, "recvonly");
  EXPECT_EQ(d.media[1].otherAttributes,
            (std::vector<std::string>{"rtcp-mux", "rtpmap:111 opus/48000/2",
                                      "fmtp:111 minptime=10;useinbandfec=1"}));
  // Each accepted section carries the transport attributes (BUNDLE peers may look at any).
  auto second = text.substr(text.find("m=audio"));
  EXPECT_TRUE(hasLine(second, "a=ice-ufrag:w8Rt"));
  EXPECT_TRUE(hasLine(second, "a=setup:actpass"));
  EXPECT_EQ(second.find("a=candidate"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Bad input

TEST(SdpBadInput, ClearErrors) {
  EXPECT_NE(parseError("").find("v="), std::string::npos);
  EXPECT_NE(parseError("hello world").find("v="), std::string::npos);
  EXPECT_NE(parseError("o=- 1 1 IN IP4 127.0.0.1\r\nv=0\r\n").find("v="), std::string::npos);
  EXPECT_NE(parseError("v=1\r\n").find("version"), std::string::npos);
  EXPECT_NE(parseError("v=0\r\ns=-\r\na=ice-ufrag:abcd\r\n").find("m="), std::string::npos);

  auto strip = [](std::string text, std::string_view prefix) {
    std::string out;
    for (auto line : splitCrlfLines(text)) {
      if (line.rfind(prefix, 0) == 0) continue;
      out += line;
      out += "\r\n";
    }
    return out;
  };
  auto base = crlf(kChromiumOffer);
  EXPECT_NE(parseError(strip(base, "a=ice-ufrag")).find("ICE credentials"), std::string::npos);
  EXPECT_NE(parseError(strip(base, "a=ice-pwd")).find("ICE credentials"), std::string::npos);
  EXPECT_NE(parseError(strip(base, "a=fingerprint")).find("fingerprint"), std::string::npos);
  EXPECT_NE(parseError(strip(base, "m=")).find("m="), std::string::npos);
  EXPECT_NE(parseError(strip(crlf(kFirefoxOffer), "a=fingerprint")).find("fingerprint"),
            std::string::npos);
}

TEST(SdpBadInput, MalformedTransportAttributes) {
  EXPECT_NE(parseError(minimal("a=setup:sideways\r\n")).find("setup"), std::string::npos);
  EXPECT_NE(parseError(minimal("a=fingerprint:sha-256 GG:00\r\n")).find("fingerprint"),
            std::string::npos);
  EXPECT_NE(parseError(minimal("a=fingerprint:sha-256 AA:BB:\r\n")).find("fingerprint"),
            std::string::npos);
  EXPECT_NE(parseError(minimal("a=fingerprint:sha-256\r\n")).find("fingerprint"),
            std::string::npos);
  EXPECT_NE(parseError(minimal("a=ice-ufrag:\r\n")).find("ice-ufrag"), std::string::npos);
  EXPECT_NE(parseError(minimal("a=ice-ufrag:a b\r\n")).find("ice-ufrag"), std::string::npos);
  EXPECT_NE(parseError(minimal("a=ice-pwd:" + std::string(300, 'x') + "\r\n")).find("ice-pwd"),
            std::string::npos);
  EXPECT_NE(parseError(minimal("a=mid:two words\r\n")).find("mid"), std::string::npos);
  std::string longFingerprint = "a=fingerprint:sha-256 AA";
  for (int i = 0; i < 64; ++i) longFingerprint += ":AA";
  EXPECT_FALSE(parse(minimal(longFingerprint + "\r\n")).description);
}

TEST(SdpBadInput, EveryPrefixOfEverySample) {
  for (auto sample : kSamples) {
    std::string text = crlf(sample);
    for (std::size_t length = 0; length <= text.size(); ++length) {
      ParseResult result;
      EXPECT_NO_THROW(result = parse(std::string_view(text).substr(0, length)));
      if (result.description) {
        EXPECT_FALSE(result.description->media.empty());
        EXPECT_FALSE(result.description->iceUfrag.empty());
        EXPECT_FALSE(result.description->fingerprint.empty());
      } else {
        EXPECT_FALSE(result.error.empty());
      }
    }
    // The full text parses.
    EXPECT_TRUE(parse(text).description);
  }
}

TEST(SdpBadInput, HugeInput) {
  std::string text = crlf(kChromiumOffer);
  std::string padding = "a=x-padding:" + std::string(1000, 'p') + "\r\n";
  while (text.size() <= kMaxDescriptionBytes) text += padding;
  EXPECT_NE(parseError(text).find("too large"), std::string::npos);

  std::string oneLine(kMaxDescriptionBytes + 1, 'v');
  EXPECT_FALSE(parse(oneLine).description);

  // Just under the limit is fine.
  std::string big = crlf(kChromiumOffer);
  while (big.size() + padding.size() <= kMaxDescriptionBytes) big += padding;
  auto d = parseOk(big);
  EXPECT_GT(d.media[0].otherAttributes.size(), 200u);
}

TEST(SdpBadInput, ThousandsOfCandidates) {
  std::string atLimit = minimal();
  for (std::size_t i = 0; i < kMaxCandidates; ++i) atLimit += candidateLine(static_cast<int>(i));
  auto d = parseOk(atLimit);
  EXPECT_EQ(d.candidates.size(), kMaxCandidates);

  std::string tooMany = minimal();
  for (int i = 0; i < 3000; ++i) tooMany += candidateLine(i);
  EXPECT_NE(parseError(tooMany).find("candidates"), std::string::npos);

  // Malformed lines count too: bounded work whatever they contain.
  std::string malformed = minimal();
  for (int i = 0; i < 2000; ++i) malformed += "a=candidate:junk\r\n";
  EXPECT_FALSE(parse(malformed).description);
}

TEST(SdpBadInput, TooManyMediaSections) {
  auto sections = [](std::size_t n) {
    std::string text = minimal();
    for (std::size_t i = 1; i < n; ++i) {
      text +=
          "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:" + std::to_string(i) + "\r\n";
    }
    return text;
  };
  EXPECT_EQ(parseOk(sections(kMaxMediaSections)).media.size(), kMaxMediaSections);
  EXPECT_NE(parseError(sections(kMaxMediaSections + 1)).find("media sections"), std::string::npos);
  EXPECT_FALSE(parse(sections(5000)).description);
}

TEST(SdpBadInput, LinesWithoutEqualsAreIgnored) {
  std::string text =
      minimal("garbage\r\n=\r\nab=cd\r\na\r\n\r\n   \r\nx=\r\na=\r\na=sctp-port:5000\r\n");
  auto d = parseOk("junk before\r\n" + text);
  EXPECT_EQ(d.media[0].sctpPort, std::optional<std::uint16_t>(5000));
  EXPECT_TRUE(d.media[0].otherAttributes.empty());
}

TEST(SdpBadInput, AbsurdNumbers) {
  std::string text = minimal(
      "a=candidate:1 1 udp 1 10.0.0.1 99999 typ host\r\n"
      "a=candidate:2 1 udp 1 10.0.0.2 -5 typ host\r\n"
      "a=candidate:3 1 udp 99999999999999999999 10.0.0.3 5 typ host\r\n"
      "a=candidate:4 1 udp -1 10.0.0.4 5 typ host\r\n"
      "a=candidate:5 -1 udp 1 10.0.0.5 5 typ host\r\n"
      "a=candidate:6 1 udp 4294967295 10.0.0.6 65535 typ host\r\n"
      "a=sctp-port:99999\r\n"
      "a=max-message-size:-1\r\n");
  auto d = parseOk(text);
  ASSERT_EQ(d.candidates.size(), 1u);
  EXPECT_EQ(d.candidates[0].foundation, "6");
  EXPECT_EQ(d.candidates[0].priority, 4294967295u);
  EXPECT_EQ(d.candidates[0].port, 65535);
  EXPECT_FALSE(d.media[0].sctpPort);
  EXPECT_FALSE(d.media[0].maxMessageSize);

  auto withMLine = [](std::string_view mLine) {
    return "v=0\r\n" + std::string(mLine) +
           "\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
           "a=fingerprint:sha-256 AA\r\n";
  };
  EXPECT_NE(
      parseError(withMLine("m=application 99999 UDP/DTLS/SCTP webrtc-datachannel")).find("m= line"),
      std::string::npos);
  EXPECT_FALSE(parse(withMLine("m=application -9 UDP/DTLS/SCTP webrtc-datachannel")).description);
  EXPECT_FALSE(parse(withMLine("m=application 9")).description);
  EXPECT_FALSE(parse(withMLine("m=")).description);
  auto d2 = parseOk(withMLine("m=video 9/2 UDP/TLS/RTP/SAVPF 96"));
  EXPECT_EQ(d2.media[0].port, 9);

  auto d3 = parseOk("v=0\r\no=- 99999999999999999999999 -1 IN IP4 0.0.0.0\r\n" +
                    withMLine("m=application 9 UDP/DTLS/SCTP x").substr(5));
  EXPECT_EQ(d3.sessionId, 0u);
  EXPECT_EQ(d3.sessionVersion, 0u);
}

TEST(SdpBadInput, NonUtf8Bytes) {
  std::string text = minimal(
      "a=candidate:1 1 udp 1 10.0.\xc3\x28.1 5 typ host\r\n"
      "a=candidate:2 1 udp 1 10.0.0.2 5 typ host\r\n"
      "a=x-binary:\xff\xfe\x80\x01\x7f\r\n"
      "\xff\xfe=\x00\x01\r\n");
  text.push_back('\0');
  text += "\r\na=\xe2\x82\r\n";
  auto d = parseOk(text);
  ASSERT_EQ(d.candidates.size(), 1u);
  EXPECT_EQ(d.candidates[0].foundation, "2");

  EXPECT_FALSE(parse(minimal("a=ice-ufrag:ab\xff\xfe\r\n")).description);
  EXPECT_FALSE(parse(minimal("a=mid:\x01\r\n")).description);

  std::string nulls(1000, '\0');
  EXPECT_FALSE(parse(nulls).description);
}

TEST(SdpBadInput, RandomMutationsNeverCrashAndReparse) {
  std::mt19937 rng(12345);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string text = crlf(kSamples[iteration % kSamples.size()]);
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      std::size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0:
          text[at] = static_cast<char>(rng() & 0xff);
          break;
        case 1:
          text.erase(at, rng() % 16);
          break;
        case 2:
          text.insert(at, std::string(1 + rng() % 4, " \r\n:=/-0a"[rng() % 9]));
          break;
        default: {
          std::size_t from = rng() % text.size();
          text.insert(at, text.substr(from, rng() % 64));
        }
      }
    }
    ParseResult result;
    ASSERT_NO_THROW(result = parse(text));
    if (!result.description) continue;
    const auto& d = *result.description;
    LocalParameters local;
    local.iceUfrag = d.iceUfrag;
    local.icePwd = d.icePwd;
    local.fingerprint = d.fingerprint;
    local.setup = d.setup;
    local.media = d.media;
    local.candidates = d.candidates;
    auto again = parse(write(local));
    ASSERT_TRUE(again.description) << again.error << "\n" << text;
  }
}

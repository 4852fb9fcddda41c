// The RTP side of media sections (rtc/sdp/rtp_parameters.hpp) on offers captured from Debian's
// Chromium 156 and Firefox ESR 153 (an audio and a video track of one stream plus a data channel;
// candidates removed), on hand-written edge cases and on hostile input.
#include "rtc/sdp/rtp_parameters.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace trystero::rtc::sdp;

namespace {

std::string readVector(const std::string& name) {
  std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "vectors" / name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

SessionDescription parsed(const std::string& name) {
  auto result = parse(readVector(name));
  EXPECT_TRUE(result.description) << result.error;
  return result.description.value_or(SessionDescription{});
}

const MediaSection& section(const SessionDescription& d, const std::string& kind) {
  auto it = std::find_if(d.media.begin(), d.media.end(),
                         [&](const MediaSection& s) { return s.kind == kind; });
  EXPECT_NE(it, d.media.end()) << kind;
  return *it;
}

RtpSection rtpOf(const MediaSection& s) {
  auto result = parseRtp(s);
  EXPECT_TRUE(result.section) << result.error;
  return result.section.value_or(RtpSection{});
}

const RtpCodec* codec(const RtpSection& rtp, int payloadType) {
  auto it = std::find_if(rtp.codecs.begin(), rtp.codecs.end(),
                         [&](const RtpCodec& c) { return c.payloadType == payloadType; });
  return it == rtp.codecs.end() ? nullptr : &*it;
}

MediaSection video(std::vector<std::string> formats, std::vector<std::string> attributes) {
  MediaSection s;
  s.kind = "video";
  s.protocol = "UDP/TLS/RTP/SAVPF";
  s.formats = std::move(formats);
  s.mid = "1";
  s.otherAttributes = std::move(attributes);
  return s;
}

}  // namespace

TEST(SdpRtpTest, ReadsChromiumsAudioSection) {
  auto d = parsed("chromium-offer-audio-video-data.sdp");
  auto audio = rtpOf(section(d, "audio"));
  ASSERT_EQ(audio.codecs.size(), 8u);
  const auto& opus = audio.codecs.front();  // the preferred codec comes first
  EXPECT_EQ(opus.payloadType, 111);
  EXPECT_TRUE(opus.is("OPUS"));
  EXPECT_EQ(opus.clockRate, 48000u);
  EXPECT_EQ(opus.channels, 2);
  EXPECT_EQ(opus.fmtp, "minptime=10;useinbandfec=1");
  EXPECT_EQ(opus.parameter("useinbandfec"), "1");
  EXPECT_EQ(opus.parameter("stereo"), std::nullopt);
  EXPECT_EQ(opus.feedback, std::vector<std::string>{"transport-cc"});
  ASSERT_NE(codec(audio, 0), nullptr);
  EXPECT_TRUE(codec(audio, 0)->is("PCMU"));
  EXPECT_TRUE(audio.rtcpMux);
  EXPECT_TRUE(audio.rtcpReducedSize);
  EXPECT_TRUE(audio.extmapAllowMixed == false);  // session-level in Chromium's offer
  ASSERT_EQ(audio.extensions.size(), 4u);
  EXPECT_EQ(audio.extensions[3].id, 4);
  EXPECT_EQ(audio.extensions[3].uri, "urn:ietf:params:rtp-hdrext:sdes:mid");
  ASSERT_TRUE(audio.msid);
  EXPECT_EQ(audio.msid->stream, "a1768105-83e1-4f1e-83ad-064bfd6f7574");
  EXPECT_EQ(audio.msid->track, "7082baa8-9e5c-483a-bc65-bb08d2763ad9");
  EXPECT_EQ(audio.ssrcs, std::vector<std::uint32_t>{1477610131u});
  EXPECT_EQ(audio.cname, "POxA/fi49reEvOci");
}

TEST(SdpRtpTest, ReadsChromiumsVideoSectionWithRtxGroups) {
  auto d = parsed("chromium-offer-audio-video-data.sdp");
  auto v = rtpOf(section(d, "video"));
  ASSERT_EQ(v.codecs.size(), 23u);
  EXPECT_TRUE(v.codecs.front().is("VP8"));
  EXPECT_EQ(v.codecs.front().payloadType, 96);
  EXPECT_EQ(v.codecs.front().feedback,
            (std::vector<std::string>{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"}));
  ASSERT_NE(codec(v, 97), nullptr);
  EXPECT_EQ(codec(v, 97)->parameter("apt"), "96");
  ASSERT_EQ(v.ssrcGroups.size(), 1u);
  EXPECT_EQ(v.ssrcGroups[0].semantics, "FID");
  EXPECT_EQ(v.ssrcGroups[0].ssrcs, (std::vector<std::uint32_t>{1322164830u, 634827778u}));
  EXPECT_EQ(v.ssrcs.size(), 2u);
}

TEST(SdpRtpTest, ReadsFirefoxsSectionsWithDirectionalExtensionsAndNoSsrcMsid) {
  auto d = parsed("firefox-offer-audio-video-data.sdp");
  auto audio = rtpOf(section(d, "audio"));
  ASSERT_FALSE(audio.codecs.empty());
  EXPECT_EQ(audio.codecs.front().payloadType, 109);
  EXPECT_TRUE(audio.codecs.front().is("opus"));
  EXPECT_EQ(audio.codecs.front().parameter("stereo"), "1");
  ASSERT_NE(codec(audio, 9), nullptr);
  EXPECT_EQ(codec(audio, 9)->channels, 1);
  auto csrcLevel = std::find_if(audio.extensions.begin(), audio.extensions.end(),
                                [](const HeaderExtension& e) { return e.id == 2; });
  ASSERT_NE(csrcLevel, audio.extensions.end());
  EXPECT_EQ(csrcLevel->direction, "recvonly");
  EXPECT_TRUE(audio.extmapAllowMixed);
  ASSERT_TRUE(audio.msid);
  EXPECT_EQ(audio.msid->stream, "{2c4c5a00-8604-4122-8aba-36245ae9928c}");
  auto v = rtpOf(section(d, "video"));
  EXPECT_TRUE(v.codecs.front().is("VP8"));
  EXPECT_EQ(v.codecs.front().payloadType, 120);
  EXPECT_EQ(std::count_if(v.codecs.begin(), v.codecs.end(),
                          [](const RtpCodec& c) { return c.is("H264"); }),
            0);  // no OpenH264 plugin offline
}

TEST(SdpRtpTest, AnswerKeepsTheOfferersPayloadTypesAndOrderAndOnlyWhatWeImplement) {
  auto chromium = parsed("chromium-offer-audio-video-data.sdp");
  auto audio = answerCodecs(rtpOf(section(chromium, "audio")).codecs, defaultAudioCodecs());
  ASSERT_EQ(audio.size(), 1u);
  EXPECT_EQ(audio[0].payloadType, 111);
  EXPECT_EQ(audio[0].fmtp, "minptime=10;useinbandfec=1");
  EXPECT_TRUE(audio[0].feedback.empty());  // no transport-cc here

  auto v = answerCodecs(rtpOf(section(chromium, "video")).codecs, defaultVideoCodecs());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].payloadType, 96);  // VP8 first, as offered
  EXPECT_EQ(v[0].feedback, (std::vector<std::string>{"goog-remb", "ccm fir", "nack", "nack pli"}));
  // Of the six H.264 variants only constrained baseline with packetization-mode=1.
  EXPECT_EQ(v[1].payloadType, 108);
  EXPECT_TRUE(v[1].is("H264"));

  auto firefox = parsed("firefox-offer-audio-video-data.sdp");
  auto ffVideo = answerCodecs(rtpOf(section(firefox, "video")).codecs, defaultVideoCodecs());
  ASSERT_EQ(ffVideo.size(), 1u);
  EXPECT_EQ(ffVideo[0].payloadType, 120);
  auto ffAudio = answerCodecs(rtpOf(section(firefox, "audio")).codecs, defaultAudioCodecs());
  ASSERT_EQ(ffAudio.size(), 1u);
  EXPECT_EQ(ffAudio[0].payloadType, 109);
}

TEST(SdpRtpTest, H264NeedsTheSamePacketizationModeAndProfile) {
  auto h264 = [](std::string fmtp) { return RtpCodec{100, "H264", 90000, 1, std::move(fmtp), {}}; };
  auto local = defaultVideoCodecs();
  EXPECT_EQ(answerCodecs({h264("packetization-mode=1;profile-level-id=42e01f")}, local).size(), 1u);
  // The level may differ; 42c0 spells constrained baseline too.
  EXPECT_EQ(answerCodecs({h264("packetization-mode=1;profile-level-id=42e034")}, local).size(), 1u);
  EXPECT_EQ(answerCodecs({h264("packetization-mode=1;profile-level-id=42C01F")}, local).size(), 1u);
  EXPECT_TRUE(answerCodecs({h264("packetization-mode=0;profile-level-id=42e01f")}, local).empty());
  EXPECT_TRUE(answerCodecs({h264("profile-level-id=42e01f")}, local).empty());  // mode 0
  EXPECT_TRUE(answerCodecs({h264("packetization-mode=1;profile-level-id=640c1f")}, local).empty());
  EXPECT_TRUE(answerCodecs({h264("packetization-mode=1;profile-level-id=zz")}, local).empty());
}

TEST(SdpRtpTest, AnswerDirectionFollowsRfc3264) {
  EXPECT_EQ(answerDirection("sendrecv", true, true), "sendrecv");
  EXPECT_EQ(answerDirection("", true, true), "sendrecv");
  EXPECT_EQ(answerDirection("sendonly", true, true), "recvonly");
  EXPECT_EQ(answerDirection("recvonly", true, true), "sendonly");
  EXPECT_EQ(answerDirection("inactive", true, true), "inactive");
  EXPECT_EQ(answerDirection("sendrecv", false, true), "recvonly");
  EXPECT_EQ(answerDirection("sendrecv", false, false), "inactive");
  EXPECT_EQ(answerDirection("SENDONLY", false, true), "recvonly");
}

TEST(SdpRtpTest, AnswerExtensionsKeepTheOfferedIdsOfWhatWeSupport) {
  auto d = parsed("chromium-offer-audio-video-data.sdp");
  auto v = rtpOf(section(d, "video"));
  auto out = answerExtensions(v.extensions, {"urn:ietf:params:rtp-hdrext:sdes:mid",
                                             "http://www.webrtc.org/experiments/rtp-hdrext/"
                                             "abs-send-time"});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id, 2);  // abs-send-time, in the offer's order
  EXPECT_EQ(out[1].id, 4);
}

TEST(SdpRtpTest, WriteThenParseGivesTheSameParametersAndKeepsForeignAttributes) {
  auto d = parsed("chromium-offer-audio-video-data.sdp");
  auto original = section(d, "video");
  auto rtp = rtpOf(original);
  MediaSection out = video({}, {"rtcp-xr:rcvr-rtt=all", "rtpmap:1 junk/1"});
  writeRtp(rtp, out);
  EXPECT_EQ(out.formats, original.formats);
  EXPECT_NE(
      std::find(out.otherAttributes.begin(), out.otherAttributes.end(), "rtcp-xr:rcvr-rtt=all"),
      out.otherAttributes.end());
  auto again = rtpOf(out);
  ASSERT_EQ(again.codecs.size(), rtp.codecs.size());
  for (std::size_t i = 0; i < rtp.codecs.size(); ++i) {
    EXPECT_EQ(again.codecs[i].payloadType, rtp.codecs[i].payloadType);
    EXPECT_EQ(again.codecs[i].name, rtp.codecs[i].name);
    EXPECT_EQ(again.codecs[i].clockRate, rtp.codecs[i].clockRate);
    EXPECT_EQ(again.codecs[i].fmtp, rtp.codecs[i].fmtp);
    EXPECT_EQ(again.codecs[i].feedback, rtp.codecs[i].feedback);
  }
  EXPECT_EQ(again.extensions.size(), rtp.extensions.size());
  EXPECT_EQ(again.ssrcs, rtp.ssrcs);
  EXPECT_EQ(again.ssrcGroups.size(), 1u);
  EXPECT_EQ(again.cname, rtp.cname);
  ASSERT_TRUE(again.msid);
  EXPECT_EQ(again.msid->track, rtp.msid->track);
  EXPECT_TRUE(again.rtcpMux);
  // Our written section still parses as a whole description a browser would read.
  LocalParameters local;
  local.iceUfrag = "abcd";
  local.icePwd = "0123456789abcdefghijklmn";
  local.fingerprint = "AB:CD";
  local.setup = "actpass";
  local.media.push_back(out);
  auto reparsed = parse(write(local));
  ASSERT_TRUE(reparsed.description) << reparsed.error;
  EXPECT_EQ(rtpOf(reparsed.description->media.at(0)).codecs.size(), rtp.codecs.size());
}

TEST(SdpRtpTest, StarFeedbackAppliesToEveryPayloadTypeAndForeignOnesAreIgnored) {
  auto rtp =
      rtpOf(video({"96", "97"}, {"rtpmap:96 VP8/90000", "rtpmap:97 H264/90000", "rtcp-fb:* nack",
                                 "rtcp-fb:98 ccm fir", "fmtp:98 x=1", "rtpmap:98 VP9/90000"}));
  ASSERT_EQ(rtp.codecs.size(), 2u);
  EXPECT_EQ(rtp.codecs[0].feedback, std::vector<std::string>{"nack"});
  EXPECT_EQ(rtp.codecs[1].feedback, std::vector<std::string>{"nack"});
  EXPECT_TRUE(rtp.codecs[1].fmtp.empty());
}

TEST(SdpRtpTest, HostileSectionsAreRefusedWithAReason) {
  struct Case {
    std::vector<std::string> formats;
    std::vector<std::string> attributes;
    const char* expect;  // a word of the error
  };
  const std::vector<Case> cases = {
      {{"webrtc-datachannel"}, {}, "payload type"},
      {{"128"}, {}, "payload type"},
      {{"-1"}, {}, "payload type"},
      {{"96", "96"}, {"rtpmap:96 VP8/90000"}, "twice"},
      {{"96"}, {}, "rtpmap"},
      {{"96"}, {"rtpmap:96 VP8"}, "rtpmap"},
      {{"96"}, {"rtpmap:96 VP8/0"}, "rtpmap"},
      {{"96"}, {"rtpmap:96 /90000"}, "rtpmap"},
      {{"96"}, {"rtpmap:96 opus/48000/0"}, "rtpmap"},
      {{"96"}, {"rtpmap:96 opus/48000/256"}, "rtpmap"},
      {{"96"}, {"rtpmap:96 VP8/99999999999"}, "rtpmap"},
      {{"96"}, {"rtpmap:x VP8/90000"}, "rtpmap"},
      {{"96"}, {"rtpmap:96 VP8/90000", "extmap:0 urn:x"}, "extmap"},
      {{"96"}, {"rtpmap:96 VP8/90000", "extmap:256 urn:x"}, "extmap"},
      {{"96"}, {"rtpmap:96 VP8/90000", "extmap:1/sideways urn:x"}, "extmap"},
      {{"96"}, {"rtpmap:96 VP8/90000", "extmap:1"}, "extmap"},
      {{"96"}, {"rtpmap:96 VP8/90000", "ssrc:4294967296 cname:x"}, "ssrc"},
      {{"96"}, {"rtpmap:96 VP8/90000", "ssrc:abc cname:x"}, "ssrc"},
      {{"96"}, {"rtpmap:96 VP8/90000", "ssrc-group:FID 1 x"}, "ssrc-group"},
  };
  for (const auto& c : cases) {
    auto result = parseRtp(video(c.formats, c.attributes));
    EXPECT_FALSE(result.section) << c.attributes.size();
    EXPECT_NE(result.error.find(c.expect), std::string::npos) << result.error;
  }
  // Bounds: too many SSRCs; an over-long attribute is skipped, not parsed.
  std::vector<std::string> many = {"rtpmap:96 VP8/90000"};
  for (std::uint32_t i = 0; i <= kMaxSsrcsPerSection; ++i) {
    many.push_back("ssrc:" + std::to_string(i + 1) + " cname:x");
  }
  EXPECT_FALSE(parseRtp(video({"96"}, many)).section);
  auto longFmtp = parseRtp(video(
      {"96"}, {"rtpmap:96 VP8/90000", "fmtp:96 " + std::string(kMaxAttributeValueBytes, 'x')}));
  ASSERT_TRUE(longFmtp.section);
  EXPECT_TRUE(longFmtp.section->codecs[0].fmtp.empty());
}

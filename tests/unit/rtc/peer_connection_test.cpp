#include "rtc/peer_connection.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "rtc/sdp/sdp.hpp"
#include "support/child_process.hpp"
#include "support/eventually.hpp"
#include "support/rtc_helpers.hpp"

using namespace trystero;
using namespace std::chrono_literals;
using trystero::testing::eventually;
using trystero::testing::loopbackRtcConfig;

namespace {

// Two peer connections on one loop, connected offer -> answer like trystero does.
struct Pair {
  loop::Loop& loop;
  std::shared_ptr<rtc::PeerConnection> offerer, answerer;
  std::shared_ptr<rtc::DataChannel> offererChannel, answererChannel;

  explicit Pair(loop::Loop& l, rtc::Configuration config = loopbackRtcConfig()) : loop(l) {
    std::promise<void> offererOpen, answererOpen;
    loop.invoke([&] {
      offerer = rtc::PeerConnection::create(loop, config);
      answerer = rtc::PeerConnection::create(loop, config);
      offererChannel = offerer->createDataChannel("data");
      offererChannel->onOpen([&] { offererOpen.set_value(); });
      answerer->onDataChannel([&](std::shared_ptr<rtc::DataChannel> channel) {
        answererChannel = channel;
        EXPECT_EQ(channel->label(), "data");
        EXPECT_EQ(channel->readyState(), rtc::DataChannel::State::Open);
        answererOpen.set_value();
      });
      offerer->createOffer([this](auto offer, const std::string& error) {
        ASSERT_TRUE(offer) << error;
        answerer->setRemoteDescription(*offer, [this](const std::string& error) {
          ASSERT_EQ(error, "");
          answerer->createAnswer([this](auto answer, const std::string& error) {
            ASSERT_TRUE(answer) << error;
            offerer->setRemoteDescription(*answer,
                                          [](const std::string& error) { ASSERT_EQ(error, ""); });
          });
        });
      });
    });
    EXPECT_EQ(offererOpen.get_future().wait_for(10s), std::future_status::ready);
    EXPECT_EQ(answererOpen.get_future().wait_for(10s), std::future_status::ready);
  }

  ~Pair() {
    loop.invoke([&] {
      offererChannel.reset();
      answererChannel.reset();
      offerer.reset();
      answerer.reset();
    });
  }
};

std::string text(std::span<const std::uint8_t> data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace

TEST(PeerConnection, OpensAndEchoesStringsAndBinary) {
  loop::Loop loop;
  Pair pair(loop);
  ASSERT_TRUE(pair.answererChannel);
  std::promise<std::pair<std::string, bool>> gotText, gotBinary;
  int count = 0;
  loop.invoke([&] {
    pair.answererChannel->onMessage([&](std::span<const std::uint8_t> data, bool binary) {
      if (binary) {
        pair.answererChannel->send(data);
      } else {
        pair.answererChannel->send(text(data));
      }
    });
    pair.offererChannel->onMessage([&](std::span<const std::uint8_t> data, bool binary) {
      (count++ == 0 ? gotText : gotBinary).set_value({text(data), binary});
    });
    EXPECT_TRUE(pair.offererChannel->send(std::string_view("hello ünïcode")));
    const std::uint8_t bytes[] = {0, 1, 2, 255};
    EXPECT_TRUE(pair.offererChannel->send(std::span<const std::uint8_t>(bytes)));
  });
  auto t = gotText.get_future().get();
  EXPECT_EQ(t.first, "hello ünïcode");
  EXPECT_FALSE(t.second);
  auto b = gotBinary.get_future().get();
  EXPECT_EQ(b.first, std::string("\0\1\2\xff", 4));
  EXPECT_TRUE(b.second);
  auto stats = loop.invoke([&] { return pair.offerer->stats(); });
  EXPECT_GE(stats.connectMs, 0);
  EXPECT_FALSE(stats.selectedLocalCandidate.empty());
}

TEST(PeerConnection, Transfers64MiBByteExact) {
  loop::Loop loop;
  Pair pair(loop);
  constexpr std::size_t kTotal = 64u << 20;
  constexpr std::size_t kMessage = 16u << 10;
  std::size_t sent = 0, received = 0;
  bool ok = true;
  std::promise<void> done;
  std::vector<std::uint8_t> message(kMessage);
  auto pattern = [](std::size_t i) { return static_cast<std::uint8_t>((i * 31 + 7) & 0xFF); };
  auto start = std::chrono::steady_clock::now();
  loop.invoke([&] {
    pair.answererChannel->onMessage([&](std::span<const std::uint8_t> data, bool) {
      for (std::size_t i = 0; i < data.size(); ++i) ok &= data[i] == pattern(received + i);
      received += data.size();
      if (received == kTotal) done.set_value();
    });
    auto pump = [&] {
      while (sent < kTotal && pair.offererChannel->bufferedAmount() <= (1u << 20)) {
        for (std::size_t i = 0; i < kMessage; ++i) message[i] = pattern(sent + i);
        ASSERT_TRUE(pair.offererChannel->send(std::span<const std::uint8_t>(message)));
        sent += kMessage;
      }
    };
    pair.offererChannel->setBufferedAmountLowThreshold(256u << 10);
    pair.offererChannel->onBufferedAmountLow(pump);
    pump();
  });
  ASSERT_EQ(done.get_future().wait_for(60s), std::future_status::ready);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(ok);
  std::printf("64 MiB in %.2f s: %.1f MB/s\n", seconds, kTotal / seconds / 1e6);
}

TEST(PeerConnection, ChannelCloseIsSeenOnBothSides) {
  loop::Loop loop;
  Pair pair(loop);
  std::promise<void> offererClosed, answererClosed;
  loop.invoke([&] {
    pair.offererChannel->onClose([&] { offererClosed.set_value(); });
    pair.answererChannel->onClose([&] { answererClosed.set_value(); });
    pair.answererChannel->close();
  });
  EXPECT_EQ(offererClosed.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(answererClosed.get_future().wait_for(5s), std::future_status::ready);
}

TEST(PeerConnection, PeerConnectionCloseIsSeenByThePeer) {
  loop::Loop loop;
  Pair pair(loop);
  std::promise<void> channelClosed, peerClosed;
  loop.invoke([&] {
    pair.answererChannel->onClose([&] { channelClosed.set_value(); });
    pair.answerer->onStateChange([&](rtc::PeerConnection::State state) {
      if (state == rtc::PeerConnection::State::Closed) peerClosed.set_value();
    });
    pair.offerer->close();
  });
  EXPECT_EQ(channelClosed.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(peerClosed.get_future().wait_for(5s), std::future_status::ready);
}

TEST(PeerConnection, RejectsBadRemoteDescriptions) {
  loop::Loop loop;
  loop.invoke([&] {
    auto pc = rtc::PeerConnection::create(loop, loopbackRtcConfig());
    std::vector<std::string> errors;
    auto collect = [&](const std::string& e) { errors.push_back(e); };
    pc->setRemoteDescription({rtc::SdpType::Offer, ""}, collect);
    pc->setRemoteDescription({rtc::SdpType::Offer, "garbage\r\nv=0\r\n"}, collect);
    pc->setRemoteDescription({rtc::SdpType::Answer, "v=0\r\n"}, collect);
    ASSERT_EQ(errors.size(), 3u);
    for (const auto& e : errors) EXPECT_FALSE(e.empty());
  });
}

TEST(PeerConnection, WrongFingerprintNeverOpens) {
  loop::Loop loop;
  std::promise<rtc::PeerConnection::State> offererEnd;
  std::shared_ptr<rtc::PeerConnection> offerer, answerer;
  bool opened = false;
  loop.invoke([&] {
    offerer = rtc::PeerConnection::create(loop, loopbackRtcConfig());
    answerer = rtc::PeerConnection::create(loop, loopbackRtcConfig());
    auto channel = offerer->createDataChannel("data");
    channel->onOpen([&] { opened = true; });
    offerer->onStateChange([&](rtc::PeerConnection::State state) {
      if (state == rtc::PeerConnection::State::Failed ||
          state == rtc::PeerConnection::State::Closed) {
        offererEnd.set_value(state);
        offerer->onStateChange(nullptr);
      }
    });
    offerer->createOffer([&](auto offer, const std::string&) {
      answerer->setRemoteDescription(*offer, [&](const std::string&) {
        answerer->createAnswer([&](auto answer, const std::string&) {
          // Swap in another certificate's fingerprint: an impostor answering for the peer.
          auto other = rtc::Certificate::generate();
          auto sdp = answer->sdp;
          auto pos = sdp.find("a=fingerprint:sha-256 ");
          ASSERT_NE(pos, std::string::npos);
          sdp.replace(pos + 22, other->fingerprint().size(), other->fingerprint());
          offerer->setRemoteDescription({rtc::SdpType::Answer, sdp}, [](const std::string&) {});
        });
      });
    });
  });
  auto future = offererEnd.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(future.get(), rtc::PeerConnection::State::Failed);
  EXPECT_FALSE(opened);
  loop.invoke([&] {
    offerer.reset();
    answerer.reset();
  });
}

TEST(PeerConnection, TwoProcessesOpenEchoAndTransfer) {
  using nlohmann::json;
  using trystero::testing::ChildProcess;
  std::string program = trystero::testing::executableDir() + "/pc_peer";
  ChildProcess offerer({program, "--role", "offer"});
  ChildProcess answerer({program, "--role", "answer"});
  auto next = [](ChildProcess& p, const std::string& key, const std::string& value) {
    for (int i = 0; i < 100; ++i) {
      auto line = p.readLine(60s);
      if (!line) return json();
      auto j = json::parse(*line, nullptr, false);
      if (j.is_object() && j.value(key, "") == value) return j;
    }
    return json();
  };
  auto offer = next(offerer, "type", "offer");
  ASSERT_FALSE(offer.is_null());
  answerer.writeLine(offer.dump());
  auto answer = next(answerer, "type", "answer");
  ASSERT_FALSE(answer.is_null());
  offerer.writeLine(answer.dump());
  ASSERT_FALSE(next(offerer, "event", "open").is_null());
  ASSERT_FALSE(next(answerer, "event", "open").is_null());
#ifdef __SANITIZE_ADDRESS__
  const std::size_t size = 16u << 20;  // the sanitized build is several times slower
#else
  const std::size_t size = 64u << 20;
#endif
  answerer.writeLine(json{{"cmd", "expect-bytes"}, {"size", size}, {"seed", 3}}.dump());
  // Only once the answerer counts bytes: one arriving before would be echoed, and the count
  // would never complete.
  ASSERT_FALSE(next(answerer, "event", "expecting").is_null());
  offerer.writeLine(json{{"cmd", "send-bytes"}, {"size", size}, {"seed", 3}}.dump());
  auto received = next(answerer, "event", "received");
  if (received.is_null()) {
    // Which side stalled: what the sender still buffers, what the receiver counted.
    offerer.writeLine(json{{"cmd", "status"}}.dump());
    answerer.writeLine(json{{"cmd", "status"}}.dump());
    FAIL() << "no transfer in 60 s; sender " << next(offerer, "event", "status").dump()
           << "; receiver " << next(answerer, "event", "status").dump();
  }
  EXPECT_TRUE(received.value("ok", false));
  std::printf("two processes: %zu MiB in %lld ms\n", size >> 20, received.value("ms", 0ll));
  offerer.writeLine(json{{"cmd", "close"}}.dump());
  EXPECT_FALSE(next(answerer, "event", "close").is_null());
  offerer.writeLine(json{{"cmd", "quit"}}.dump());
  answerer.writeLine(json{{"cmd", "quit"}}.dump());
}

namespace {

// The audio and video sections of Chromium's offer (tests/unit/rtc/vectors), without the
// transport lines, for appending to a live connection's own description: what a browser's
// renegotiation offer looks like when its page adds a stream.
std::string chromiumMediaSections() {
  std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "vectors" /
                   "chromium-offer-audio-video-data.sdp");
  std::string line, out;
  bool inMedia = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("m=", 0) == 0)
      inMedia = line.rfind("m=audio", 0) == 0 || line.rfind("m=video", 0) == 0;
    if (!inMedia) continue;
    for (const char* transport : {"a=ice-", "a=fingerprint", "a=setup", "a=candidate"}) {
      if (line.rfind(transport, 0) == 0) line.clear();
    }
    if (!line.empty()) out += line + "\r\n";
  }
  return out;
}

// Our answer to a renegotiation offer, or the error.
std::pair<std::string, std::string> answerFurtherOffer(loop::Loop& loop, rtc::PeerConnection& pc,
                                                       const std::string& offer) {
  std::promise<std::pair<std::string, std::string>> result;
  loop.invoke([&] {
    pc.setRemoteDescription({rtc::SdpType::Offer, offer}, [&](const std::string& error) {
      if (!error.empty()) return result.set_value({"", error});
      pc.createAnswer([&](auto answer, const std::string& error) {
        result.set_value({answer ? answer->sdp : "", error});
      });
    });
  });
  auto future = result.get_future();
  EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
  return future.get();
}

}  // namespace

// A browser whose page adds a stream renegotiates on the live connection. Either side answers
// (the first offerer too), rejects the media sections while listing their codecs (trystero drops
// an SDP without a=rtpmap), keeps its DTLS role, and the data channel carries on. An ICE restart
// or a changed certificate is refused.
TEST(PeerConnection, AnswersARenegotiationOnTheLiveConnection) {
  loop::Loop loop;
  Pair pair(loop);
  ASSERT_TRUE(pair.answererChannel);
  const std::string media = chromiumMediaSections();
  ASSERT_NE(media.find("m=video"), std::string::npos);
  for (bool toOfferer : {false, true}) {
    auto& from = toOfferer ? *pair.answerer : *pair.offerer;
    auto& to = toOfferer ? *pair.offerer : *pair.answerer;
    auto own = loop.invoke([&] { return from.localDescription(); });
    ASSERT_TRUE(own);
    auto [answer, error] = answerFurtherOffer(loop, to, own->sdp + media);
    ASSERT_EQ(error, "") << (toOfferer ? "offerer" : "answerer");
    EXPECT_NE(answer.find("m=application 9 "), std::string::npos);
    EXPECT_NE(answer.find("m=audio 0 "), std::string::npos);
    EXPECT_NE(answer.find("m=video 0 "), std::string::npos);
    EXPECT_NE(answer.find("a=rtpmap:111 opus/48000/2"), std::string::npos);
    EXPECT_NE(answer.find("a=rtpmap:96 VP8/90000"), std::string::npos);
    // The first answerer took "active" (the DTLS client) and keeps it; the offerer is passive.
    EXPECT_NE(answer.find(toOfferer ? "a=setup:passive" : "a=setup:active"), std::string::npos);
    auto parsed = rtc::sdp::parse(answer);
    ASSERT_TRUE(parsed.description) << parsed.error;
    EXPECT_EQ(parsed.description->bundleMids.size(), 1u);  // the data section only
  }
  auto own = loop.invoke([&] { return pair.offerer->localDescription(); });
  auto restart = own->sdp;
  auto at = restart.find("a=ice-ufrag:");
  restart.replace(at + 12, 4, "ZZZZ");
  EXPECT_NE(answerFurtherOffer(loop, *pair.answerer, restart + media).second.find("ICE restart"),
            std::string::npos);
  std::string stray;
  loop.invoke([&] {
    pair.answerer->setRemoteDescription({rtc::SdpType::Answer, own->sdp},
                                        [&](const std::string& error) { stray = error; });
  });
  EXPECT_FALSE(stray.empty());

  std::promise<std::string> echoed;
  loop.invoke([&] {
    pair.answererChannel->onMessage(
        [&](std::span<const std::uint8_t> data, bool) { pair.answererChannel->send(text(data)); });
    pair.offererChannel->onMessage(
        [&](std::span<const std::uint8_t> data, bool) { echoed.set_value(text(data)); });
    EXPECT_TRUE(pair.offererChannel->send(std::string_view("still here")));
  });
  auto future = echoed.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(future.get(), "still here");
}

namespace {

// Offers and answers between two peer connections on one loop, as trystero's @_signal carries
// them on a live connection: each delivery is a task of its own, so two offers made in the same
// task cross (glare). Errors (a refused colliding offer) are recorded.
struct Negotiator {
  loop::Loop& loop;
  std::vector<std::string> errors;  // loop thread

  void wire(const std::shared_ptr<rtc::PeerConnection>& a,
            const std::shared_ptr<rtc::PeerConnection>& b) {
    a->onNegotiationNeeded([this, a = std::weak_ptr(a), b = std::weak_ptr(b)] { offer(a, b); });
    b->onNegotiationNeeded([this, a = std::weak_ptr(a), b = std::weak_ptr(b)] { offer(b, a); });
  }
  void offer(std::weak_ptr<rtc::PeerConnection> from, std::weak_ptr<rtc::PeerConnection> to) {
    auto pc = from.lock();
    if (!pc) return;
    pc->createOffer([this, from, to](auto offer, const std::string& error) {
      if (!offer) return errors.push_back("createOffer: " + error);
      loop.post([this, from, to, offer = *offer] { deliver(to, from, offer); });
    });
  }
  void deliver(std::weak_ptr<rtc::PeerConnection> to, std::weak_ptr<rtc::PeerConnection> from,
               rtc::SessionDescription description) {
    auto pc = to.lock();
    if (!pc) return;
    pc->setRemoteDescription(
        description, [this, to, from, type = description.type](const std::string& error) {
          if (!error.empty()) return errors.push_back(error);
          if (type != rtc::SdpType::Offer) return;
          to.lock()->createAnswer([this, to, from](auto answer, const std::string& error) {
            if (!answer) return errors.push_back("createAnswer: " + error);
            loop.post([this, to, from, answer = *answer] { deliver(from, to, answer); });
          });
        });
  }
};

// What one side receives: the sections announced and RTP packets per mid.
struct MediaSink {
  std::mutex mutex;
  std::vector<rtc::PeerConnection::RemoteMedia> sections;
  std::map<std::string, std::size_t> packets;
  std::map<std::string, std::uint32_t> ssrcs;
  std::map<std::string, std::vector<std::uint16_t>> sequenceNumbers;

  rtc::PeerConnection::MediaHandlers handlers() {
    rtc::PeerConnection::MediaHandlers h;
    h.section = [this](const rtc::PeerConnection::RemoteMedia& media) {
      std::lock_guard lock(mutex);
      sections.push_back(media);
    };
    h.rtp = [this](const std::string& mid, std::span<const std::uint8_t> packet) {
      std::lock_guard lock(mutex);
      packets[mid]++;
      sequenceNumbers[mid].push_back(static_cast<std::uint16_t>((packet[2] << 8) | packet[3]));
      ssrcs[mid] =
          (std::uint32_t(packet[8]) << 24) | (packet[9] << 16) | (packet[10] << 8) | packet[11];
    };
    return h;
  }
  std::size_t count(const std::string& mid) {
    std::lock_guard lock(mutex);
    return packets.count(mid) ? packets[mid] : 0;
  }
};

// A recognisable frame of size bytes starting with first (a VP8 keyframe tag: bit 0 clear).
std::vector<std::uint8_t> fakeFrame(std::size_t size, std::uint8_t first) {
  std::vector<std::uint8_t> frame(size);
  for (std::size_t i = 0; i < size; ++i) frame[i] = static_cast<std::uint8_t>(i * 7 + first);
  frame[0] = first;
  return frame;
}

}  // namespace

// The native side adds tracks on the live connection: its offer (over the data channel in
// trystero) carries sendonly sections with msid and SSRC, the peer answers recvonly, and frames
// sent afterwards arrive as SRTP-protected RTP on the right section, with sender reports. The
// peer's acceptance asks us for a keyframe first. Removing a track stops it.
TEST(PeerConnection, SendsAudioAndVideoAfterRenegotiatingOnTheLiveConnection) {
  loop::Loop loop;
  // Declared before the pair: its connections call into them until they are gone.
  Negotiator negotiator{loop, {}};
  MediaSink sink;
  std::vector<std::string> keyframeRequests;
  Pair pair(loop);
  std::string audioMid, videoMid;
  loop.invoke([&] {
    negotiator.wire(pair.offerer, pair.answerer);
    pair.answerer->receiveMedia(sink.handlers());
    pair.offerer->onKeyframeRequest(
        [&](const std::string& mid) { keyframeRequests.push_back(mid); });
    audioMid = pair.offerer->addLocalMedia({"audio", "opus", "stream-1", "audio-1"});
    videoMid = pair.offerer->addLocalMedia({"video", "VP8", "stream-1", "video-1"});
  });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(sink.mutex);
    return sink.sections.size() == 2;
  }));
  {
    std::lock_guard lock(sink.mutex);
    for (const auto& section : sink.sections) {
      EXPECT_EQ(section.streamId, "stream-1");
      EXPECT_EQ(section.mid == audioMid ? "audio-1" : "video-1", section.trackId);
      EXPECT_EQ(section.codec, section.kind == "audio" ? "opus" : "VP8");
    }
  }
  ASSERT_TRUE(
      eventually([&] { return loop.invoke([&] { return !pair.offerer->hasLocalOffer(); }); }));
  EXPECT_EQ(loop.invoke([&] { return keyframeRequests; }), std::vector<std::string>{videoMid});

  // 60 frames each: 20 ms of Opus (one packet) and a 3,000-byte picture (three packets), ten at
  // a time, each batch waiting for the last to arrive (a socket buffer's worth at most).
  for (int batch = 0; batch < 6; ++batch) {
    loop.invoke([&] {
      for (int i = batch * 10; i < batch * 10 + 10; ++i) {
        EXPECT_TRUE(pair.offerer->sendFrame(audioMid, fakeFrame(120, 0x78), i * 960));
        EXPECT_TRUE(
            pair.offerer->sendFrame(videoMid, fakeFrame(3000, i == 0 ? 0x10 : 0x11), i * 3000));
      }
    });
    const std::size_t frames = (batch + 1) * 10;
    ASSERT_TRUE(eventually(
        [&] { return sink.count(audioMid) == frames && sink.count(videoMid) == 3 * frames; }, 10s))
        << sink.count(audioMid) << " audio, " << sink.count(videoMid) << " video packets";
  }
  ASSERT_TRUE(
      eventually([&] { return loop.invoke([&] { return pair.answerer->stats().rtcpIn; }) >= 2; }));
  auto sent = loop.invoke([&] { return pair.offerer->stats(); });
  EXPECT_EQ(sent.rtpOut, 240u);
  EXPECT_GE(sent.rtcpOut, 2u);
  auto received = loop.invoke([&] { return pair.answerer->stats(); });
  EXPECT_EQ(received.srtpRefused, 0u);
  EXPECT_EQ(received.rtpUnrouted, 0u);

  // Removed: the next exchange marks it inactive and frames are refused.
  loop.invoke([&] { pair.offerer->removeLocalMedia(videoMid); });
  ASSERT_TRUE(eventually([&] {
    return loop.invoke([&] {
      auto local = pair.offerer->localDescription();
      return !pair.offerer->hasLocalOffer() && local &&
             local->sdp.find("a=mid:" + videoMid + "\r\na=inactive") != std::string::npos;
    });
  })) << loop.invoke([&] { return pair.offerer->localDescription()->sdp; });
  loop.invoke([&] {
    EXPECT_FALSE(pair.offerer->sendFrame(videoMid, fakeFrame(3000, 0x11), 999999));
    EXPECT_TRUE(pair.offerer->sendFrame(audioMid, fakeFrame(120, 0x78), 999999));
  });
  EXPECT_TRUE(loop.invoke([&] { return negotiator.errors; }).empty());
}

// RTCP between two of ours: the receiver's reports reach the sender (a round trip from the
// echoed sender report, no loss on loopback), and a NACK is answered from the packets the
// sender still holds, byte for byte: the copies of packets that did arrive are then refused by
// the receiver's SRTP replay check, and a packet long gone is counted as a miss.
TEST(PeerConnection, ReportsReachTheSenderAndNacksAreAnsweredFromWhatItHolds) {
  loop::Loop loop;
  Negotiator negotiator{loop, {}};
  MediaSink sink;
  Pair pair(loop);
  std::string videoMid;
  loop.invoke([&] {
    negotiator.wire(pair.offerer, pair.answerer);
    pair.answerer->receiveMedia(sink.handlers());
    videoMid = pair.offerer->addLocalMedia({"video", "VP8", "stream-1", "video-1"});
  });
  std::uint32_t timestamp = 0;
  // A sender report must go out, and a receiver report echo it: two report intervals.
  ASSERT_TRUE(eventually(
      [&] {
        return loop.invoke([&] {
          const std::uint8_t tag = timestamp == 0 ? 0x10 : 0x11;
          timestamp += 3000;
          pair.offerer->sendFrame(videoMid, fakeFrame(2500, tag), timestamp);
          return pair.offerer->stats().roundTripMs >= 0;
        });
      },
      15s));
  auto sender = loop.invoke([&] { return pair.offerer->stats(); });
  EXPECT_GE(sender.reportBlocksIn, 1u);
  EXPECT_EQ(sender.packetsLostReported, 0);
  EXPECT_LT(sender.roundTripMs, 1000.0);
  EXPECT_GE(loop.invoke([&] { return pair.answerer->stats().receiverReportsSent; }), 1u);

  std::vector<std::uint16_t> asked;
  {
    std::lock_guard lock(sink.mutex);
    const auto& received = sink.sequenceNumbers[videoMid];
    ASSERT_GE(received.size(), 6u);
    asked = {received[received.size() - 1], received[received.size() - 3],
             received[received.size() - 5]};
    asked.push_back(static_cast<std::uint16_t>(received.front() - 2000));  // never sent
  }
  const auto refusedBefore = loop.invoke([&] { return pair.answerer->stats().srtpRefused; });
  EXPECT_TRUE(loop.invoke([&] { return pair.answerer->requestRetransmission(videoMid, asked); }));
  ASSERT_TRUE(eventually([&] {
    auto stats = loop.invoke([&] { return pair.offerer->stats(); });
    return stats.rtpRetransmitted == 3 && stats.nackMisses == 1;
  }));
  ASSERT_TRUE(eventually([&] {
    return loop.invoke([&] { return pair.answerer->stats().srtpRefused; }) == refusedBefore + 3;
  }));
  EXPECT_EQ(sink.count(videoMid), loop.invoke([&] { return pair.offerer->stats().rtpOut; }));
  // Nothing arrives on a section that does not exist.
  EXPECT_FALSE(loop.invoke([&] { return pair.answerer->requestRetransmission("nope", {1}); }));
  EXPECT_TRUE(loop.invoke([&] { return negotiator.errors; }).empty());
}

// Perfect negotiation: both sides add a track in the same moment, so their offers cross. The
// impolite side (the first offerer) refuses the peer's offer; the polite side rolls its own back,
// answers, and offers again afterwards. Both end up receiving the other's track, every time.
TEST(PeerConnection, CrossingOffersSettleWithTheFirstOffererImpolite) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    loop::Loop loop;
    Negotiator negotiator{loop, {}};
    MediaSink offererSink, answererSink;
    Pair pair(loop);
    std::string offererMid, answererMid;
    loop.invoke([&] {
      EXPECT_FALSE(pair.offerer->polite());
      EXPECT_TRUE(pair.answerer->polite());
      negotiator.wire(pair.offerer, pair.answerer);
      pair.offerer->receiveMedia(offererSink.handlers());
      pair.answerer->receiveMedia(answererSink.handlers());
      offererMid = pair.offerer->addLocalMedia({"video", "VP8", "a", "a-video"});
      answererMid = pair.answerer->addLocalMedia({"video", "VP8", "b", "b-video"});
    });
    ASSERT_TRUE(eventually([&] {
      return loop.invoke([&] {
        pair.offerer->sendFrame(offererMid, fakeFrame(500, 0x10), 0);
        pair.answerer->sendFrame(answererMid, fakeFrame(500, 0x10), 0);
        return !pair.offerer->hasLocalOffer() && !pair.answerer->hasLocalOffer();
      }) && answererSink.count(offererMid) > 0 &&
             offererSink.count(answererMid) > 0;
    }));
    auto errors = loop.invoke([&] { return negotiator.errors; });
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("glare"), std::string::npos) << errors[0];
  }
}

#include "rtc/peer_connection.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <map>

#include "media/h264.hpp"
#include "media/opus.hpp"
#include "media/reception_stats.hpp"
#include "media/retransmit_buffer.hpp"
#include "media/rtcp.hpp"
#include "media/rtp.hpp"
#include "media/vp8.hpp"
#include "rtc/dtls/dtls_transport.hpp"
#include "rtc/ice/ice_transport.hpp"
#include "rtc/packet_queue.hpp"
#include "rtc/sctp/sctp_transport.hpp"
#include "rtc/sdp/rtp_parameters.hpp"
#include "rtc/sdp/sdp.hpp"
#include "rtc/sdp/sdp_text.hpp"
#include "rtc/srtp/srtp_session.hpp"
#include "rtc/transport.hpp"

namespace trystero::rtc {

namespace {

constexpr std::size_t kLocalMaxMessageSize = 262144;
// DTLS datagrams produced before ICE has a pair (ClientHello, retransmissions): a handful.
constexpr std::size_t kMaxQueuedDatagrams = 64;
// RTP payload budget: an SRTP packet (12-byte header, GCM tag) stays well under a 1,280-byte path.
constexpr std::size_t kMaxRtpPayload = 1100;
// Sender and receiver reports: once a second, as browsers send theirs.
constexpr std::chrono::milliseconds kReportInterval{1000};
// Video packets kept per section for NACKs: about 2 s at 2 Mbit/s, 600 KB at most. A power of
// two, so that a slot's number survives the sequence number's wrap.
constexpr std::size_t kRetransmitSlots = 512;
// SSRCs we keep reception statistics for per connection (browsers send one or two per track).
constexpr std::size_t kMaxReceivedSsrcs = 64;
// Our payload types in our own offers (Chromium's numbers; any dynamic ones would do).
constexpr std::uint8_t kOpusPayloadType = 111;
constexpr std::uint8_t kVp8PayloadType = 96;
constexpr std::uint8_t kH264PayloadType = 102;

std::uint32_t randomU32() {
  std::uint32_t value = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof(value));
  return value;
}

// RFC 3550 section 4: NTP time, seconds since 1900 in the high word.
std::uint64_t ntpNow() {
  const std::int64_t micros = g_get_real_time();
  const std::uint64_t seconds = static_cast<std::uint64_t>(micros / 1000000) + 2208988800ull;
  const std::uint64_t fraction = (static_cast<std::uint64_t>(micros % 1000000) << 32) / 1000000;
  return (seconds << 32) | fraction;
}

std::int64_t monotonicUs() { return g_get_monotonic_time(); }

std::uint64_t randomSessionId() {
  std::uint64_t id = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof(id));
  return id & 0x3FFFFFFFFFFFFFFFull;  // stays positive as a signed 64-bit number
}

}  // namespace

std::string toString(SdpType type) { return type == SdpType::Offer ? "offer" : "answer"; }

std::optional<SdpType> sdpTypeFromString(const std::string& type) {
  if (type == "offer") return SdpType::Offer;
  if (type == "answer") return SdpType::Answer;
  return std::nullopt;
}

std::string toString(PeerConnection::State state) {
  switch (state) {
    case PeerConnection::State::New:
      return "new";
    case PeerConnection::State::Connecting:
      return "connecting";
    case PeerConnection::State::Connected:
      return "connected";
    case PeerConnection::State::Disconnected:
      return "disconnected";
    case PeerConnection::State::Failed:
      return "failed";
    case PeerConnection::State::Closed:
      return "closed";
  }
  return "unknown";
}

struct PeerConnection::Impl {
  loop::Loop& loop;
  Configuration config;
  std::shared_ptr<Certificate> certificate;
  std::unique_ptr<IceTransport> ice;
  std::unique_ptr<DtlsTransport> dtls;
  std::shared_ptr<SctpTransport> sctp;
  State state = State::New;
  bool closed = false;
  PacketQueue pendingDatagrams{kMaxQueuedDatagrams};  // DTLS's, before ICE has a pair

  std::optional<SessionDescription> localDescription;
  std::optional<sdp::SessionDescription> remote;
  std::uint64_t sessionId = randomSessionId();
  std::uint64_t sessionVersion = 1;
  bool isOfferer = false;
  bool dtlsStarted = false;
  bool renegotiating = false;  // a further offer of the peer's is applied and awaits our answer

  // Media we receive: the sections our answers accepted, how packets find them, and SRTP.
  MediaHandlers media;
  bool receivesMedia = false;
  std::map<std::string, RemoteMedia> acceptedMedia;   // by mid, as in the last answer
  std::map<std::string, RemoteMedia> announcedMedia;  // what media.section was told
  std::map<std::uint32_t, std::string> midBySsrc;
  std::map<std::uint32_t, media::ReceptionStats> reception;  // by SSRC, for receiver reports
  std::map<std::uint8_t, std::string> midByPayloadType;      // payload types of one section only
  std::uint8_t midExtensionId = 0;                           // 0: not negotiated
  std::unique_ptr<SrtpSession> srtp;
  std::vector<std::uint8_t> packetBuffer;
  DescriptionCallback pendingDescription;
  SdpType pendingType = SdpType::Offer;

  // Media we send: one section per local track, by mid, with its RTP state.
  struct LocalSection {
    LocalMedia media;
    std::string mid;
    std::uint32_t ssrc = randomU32();
    std::uint16_t sequence = static_cast<std::uint16_t>(randomU32());
    std::uint32_t timestampOffset = randomU32();
    std::uint8_t payloadType = 0;
    std::uint32_t clockRate = 0;
    bool removed = false;
    bool sending = false;   // the peer's answer accepted it
    bool answered = false;  // a peer's answer covered it (accepted or not)
    std::uint32_t packets = 0, octets = 0;
    std::uint32_t lastTimestamp = 0;  // RTP, offset included
    std::int64_t lastFrameMs = 0;
    media::Vp8Packetizer vp8;
    media::RetransmitBuffer history;  // video only
    bool continueTimeline = false;    // the next frame rebases timestampOffset
    std::uint64_t added = 0;          // order of addLocalMedia: new m-lines go in that order
  };
  std::map<std::string, LocalSection> localSections;
  std::uint64_t localSectionsAdded = 0;
  std::string cname = "trystero-" + std::to_string(randomU32());
  // m-line order of the last description (offer or answer); later offers keep it.
  std::vector<std::string> sessionMids;
  std::map<std::string, sdp::MediaSection> lastLocalSections;  // as we last wrote them
  bool haveLocalOffer = false;
  bool negotiationQueued = false;
  // An offer of ours is due once the exchange under way is done: ours gave way to the peer's
  // (rollback), or was asked for while busy.
  bool offerDue = false;
  std::function<void()> onNegotiationNeeded;
  std::function<void(const std::string&)> onKeyframeRequest;
  loop::Timer reportTimer;

  std::function<void(std::shared_ptr<DataChannel>)> onDataChannel;
  std::function<void(State)> onStateChange;

  std::int64_t describeStartMs = 0, remoteAppliedMs = 0;
  Stats stats;

  // The stack of transport.hpp, wired bottom up: ICE -> demultiplex() -> DTLS -> SCTP.
  Impl(loop::Loop& l, Configuration c) : loop(l), config(std::move(c)) {
    certificate = config.certificate ? config.certificate : Certificate::shared();
    ice = std::make_unique<IceTransport>(
        loop, config,
        IceTransport::Callbacks{
            [this] { onGatheringDone(); },
            [this](IceTransport::State s) { onIceState(s); },
            [this](std::span<const std::uint8_t> datagram) { demultiplex(datagram); },
        });
    dtls = std::make_unique<DtlsTransport>(
        loop, certificate,
        DtlsTransport::Callbacks{
            [this](std::span<const std::uint8_t> datagram) { sendDatagram(datagram); },
            [this] { onDtlsConnected(); },
            [this](std::span<const std::uint8_t> record) {
              if (sctp) sctp->receive(record);
            },
            [this] { fail(State::Closed, "peer closed DTLS"); },
            [this](const std::string& error) { fail(State::Failed, error); },
        });
    sctp = SctpTransport::create(
        loop, SctpTransport::Config{},
        SctpTransport::Callbacks{
            [this](std::span<const std::uint8_t> packet) {
              if (dtls) dtls->send(packet);
            },
            [] {},
            [this](std::shared_ptr<DataChannel> channel) { onRemoteChannel(std::move(channel)); },
            [this](const std::string& reason) { fail(State::Closed, reason); },
        });
  }

  ~Impl() { shutdown(); }

  // ---- the packet path ------------------------------------------------------------------------

  // Up from ICE: the one place where datagrams are told apart, by their first byte (RFC 7983).
  void demultiplex(std::span<const std::uint8_t> datagram) {
    switch (classify(datagram)) {
      case PacketKind::Dtls:
        if (dtls) dtls->receive(datagram);
        break;
      case PacketKind::Rtp:
        receiveSrtp(datagram);
        break;
      case PacketKind::Stun:  // libnice answers STUN itself and never hands it over
      case PacketKind::Other:
        break;
    }
  }

  // Down from DTLS: held until ICE has a selected pair (the ClientHello can come first).
  void sendDatagram(std::span<const std::uint8_t> datagram) {
    if (closed) return;
    if (ice->transportState() == TransportState::Connected && pendingDatagrams.empty()) {
      ice->send(datagram);
      return;
    }
    pendingDatagrams.push(datagram);
  }

  void onRemoteChannel(std::shared_ptr<DataChannel> channel) {
    if (onDataChannel && !closed) {
      onDataChannel(std::move(channel));
    } else {
      g_debug("trystero: a data channel the peer opened is not taken (%s)",
              closed ? "closed" : "nobody listens");
    }
  }

  // ---- state ----------------------------------------------------------------------------------

  void setState(State next) {
    if (state == next || state == State::Closed) return;
    state = next;
    if (onStateChange) onStateChange(next);
  }

  void fail(State next, const std::string& reason) {
    if (closed) return;
    g_debug("trystero: peer connection %s: %s", toString(next).c_str(), reason.c_str());
    setState(next);
  }

  void onIceState(IceTransport::State s) {
    switch (s) {
      case IceTransport::State::Checking:
        setState(State::Connecting);
        break;
      case IceTransport::State::Connected:
        for (auto& datagram : pendingDatagrams.takeAll()) ice->send(datagram);
        break;
      case IceTransport::State::Failed:
        fail(State::Failed, "ICE failed");
        break;
      default:
        break;
    }
  }

  void onDtlsConnected() {
    stats.connectMs = loop::nowMs() - remoteAppliedMs;
    stats.selectedLocalCandidate = ice->selectedLocal();
    stats.selectedRemoteCandidate = ice->selectedRemote();
    startSrtp();
    setState(State::Connected);
    sctp->start(dtls->role() == DtlsTransport::Role::Client);
  }

  // ---- media we receive ----------------------------------------------------------------------

  void startSrtp() {
    auto profile = dtls->srtpProfile();
    if (!profile) return;  // the peer offered no profile of ours: no media on this connection
    auto material =
        dtls->exportKeyingMaterial("EXTRACTOR-dtls_srtp", srtpKeyingMaterialLength(*profile));
    std::string error;
    srtp = SrtpSession::fromDtls(
        *profile,
        std::span(reinterpret_cast<const std::uint8_t*>(material.data()), material.size()),
        dtls->role() == DtlsTransport::Role::Client, &error);
    if (!srtp) g_warning("trystero: SRTP not available on a connection: %s", error.c_str());
  }

  void receiveSrtp(std::span<const std::uint8_t> datagram) {
    if (!srtp || (!media.rtp && localSections.empty())) return;
    packetBuffer.assign(datagram.begin(), datagram.end());
    if (media::classifyRtpOrRtcp(packetBuffer) == media::RtpKind::kRtcp) {
      // Sender reports and the like: verified (so that forgeries are counted), not used yet.
      if (srtp->unprotectRtcp(packetBuffer) != SrtpSession::Error::None) {
        stats.srtpRefused++;
      } else {
        stats.rtcpIn++;
        receiveRtcp();
      }
      return;
    }
    if (!media.rtp || droppedForTest(packetBuffer)) return;
    if (srtp->unprotectRtp(packetBuffer) != SrtpSession::Error::None) {
      stats.srtpRefused++;
      return;
    }
    auto packet = media::parseRtp(packetBuffer);
    if (!packet) {
      stats.srtpRefused++;
      return;
    }
    auto mid = route(*packet);
    if (!mid) {
      stats.rtpUnrouted++;
      return;
    }
    stats.rtpIn++;
    noteReception(*packet, *mid);
    media.rtp(*mid, packetBuffer);
  }

  bool droppedForTest(std::span<const std::uint8_t> rtp) const {
    if (!dropIncomingRtp || rtp.size() < 12) return false;
    auto mid = midBySsrc.find(media::readU32(rtp, 8));
    if (mid == midBySsrc.end()) return false;
    auto section = acceptedMedia.find(mid->second);
    if (section == acceptedMedia.end()) return false;
    return dropIncomingRtp(section->second.kind, media::readU16(rtp, 2));
  }

  void noteReception(const media::RtpPacket& packet, const std::string& mid) {
    auto it = reception.find(packet.ssrc);
    if (it == reception.end()) {
      auto section = acceptedMedia.find(mid);
      if (section == acceptedMedia.end() || reception.size() >= kMaxReceivedSsrcs) return;
      it = reception.emplace(packet.ssrc, media::ReceptionStats(section->second.clockRate)).first;
    }
    it->second.onPacket(packet.sequenceNumber, packet.timestamp, monotonicUs());
  }

  std::optional<std::string> route(const media::RtpPacket& packet) {
    if (auto it = midBySsrc.find(packet.ssrc); it != midBySsrc.end()) return it->second;
    if (midExtensionId != 0) {
      for (const auto& extension : packet.extensions) {
        if (extension.id != midExtensionId) continue;
        std::string mid(extension.data.begin(), extension.data.end());
        if (!acceptedMedia.count(mid)) return std::nullopt;
        // Later packets of this SSRC carry no MID (browsers stop sending it once answered).
        if (midBySsrc.size() < 64) midBySsrc[packet.ssrc] = mid;
        return mid;
      }
    }
    if (auto it = midByPayloadType.find(packet.payloadType); it != midByPayloadType.end()) {
      return it->second;
    }
    return std::nullopt;
  }

  // An offered audio/video section we can receive: written into our answer as recvonly, and
  // remembered for routing. False when we share no codec with it.
  bool acceptMedia(const sdp::MediaSection& offered, sdp::MediaSection& section) {
    auto rtp = sdp::parseRtp(offered);
    if (!rtp.section) return false;
    auto codecs =
        sdp::answerCodecs(rtp.section->codecs, offered.kind == "audio" ? sdp::defaultAudioCodecs()
                                                                       : sdp::defaultVideoCodecs());
    if (codecs.empty()) return false;
    static const std::string kMidUri = "urn:ietf:params:rtp-hdrext:sdes:mid";
    sdp::RtpSection answer;
    answer.codecs = codecs;
    answer.extensions = sdp::answerExtensions(rtp.section->extensions, {kMidUri});
    answer.rtcpMux = true;
    sdp::writeRtp(answer, section);
    section.port = 9;
    section.direction = sdp::answerDirection(offered.direction, false, true);
    const bool sending = section.direction == "recvonly";
    for (const auto& extension : answer.extensions) {
      if (extension.uri == kMidUri) midExtensionId = extension.id;
    }
    recordRemoteMedia(offered, *rtp.section, codecs, sending);
    return true;
  }

  // What the peer sends on a section: the first of `codecs` (the ones both sides have), its
  // track (a=msid) and SSRCs, for routing its packets to the section.
  void recordRemoteMedia(const sdp::MediaSection& theirs, const sdp::RtpSection& rtp,
                         const std::vector<sdp::RtpCodec>& codecs, bool sending) {
    RemoteMedia remote;
    remote.sending = sending;
    remote.mid = theirs.mid;
    remote.kind = theirs.kind;
    remote.codec = codecs.front().name;
    remote.clockRate = codecs.front().clockRate;
    remote.channels = codecs.front().channels;
    for (const auto& codec : codecs) {
      if (codec.is(remote.codec)) remote.payloadTypes.push_back(codec.payloadType);
    }
    if (rtp.msid) {
      remote.streamId = rtp.msid->stream;
      remote.trackId = rtp.msid->track;
    }
    for (auto ssrc : rtp.ssrcs) midBySsrc[ssrc] = theirs.mid;
    acceptedMedia[theirs.mid] = std::move(remote);
  }

  // ---- media we send -------------------------------------------------------------------------

  // What the peer says about the media we exchange: keyframe requests and NACKs for the
  // sections we send, report blocks on them (the round trip), and sender reports on what it
  // sends us (echoed in our receiver reports).
  void receiveRtcp() {
    auto packets = media::parseRtcpCompound(packetBuffer);
    if (!packets) return;
    std::vector<std::uint32_t> wanted;
    for (const auto& packet : *packets) {
      if (const auto* pli = std::get_if<media::PictureLossIndication>(&packet)) {
        wanted.push_back(pli->mediaSsrc);
      } else if (const auto* fir = std::get_if<media::FullIntraRequest>(&packet)) {
        for (const auto& entry : fir->entries) wanted.push_back(entry.ssrc);
      } else if (const auto* nack = std::get_if<media::GenericNack>(&packet)) {
        retransmit(*nack);
      } else if (const auto* sr = std::get_if<media::SenderReport>(&packet)) {
        if (auto it = reception.find(sr->ssrc); it != reception.end()) {
          it->second.onSenderReport(sr->ntpTimestamp, monotonicUs());
        }
        noteReportBlocks(sr->reports);
      } else if (const auto* rr = std::get_if<media::ReceiverReport>(&packet)) {
        noteReportBlocks(rr->reports);
      }
    }
    for (auto ssrc : wanted) {
      for (const auto& [mid, section] : localSections) {
        if (section.ssrc != ssrc || !section.sending) continue;
        stats.keyframeRequests++;
        requestKeyframe(mid);
      }
    }
  }

  LocalSection* sendingSection(std::uint32_t ssrc) {
    for (auto& [mid, section] : localSections) {
      if (section.ssrc == ssrc && section.sending) return &section;
    }
    return nullptr;
  }

  // RFC 3550 6.4.1: the round trip is now minus the echoed sender report minus the peer's delay.
  void noteReportBlocks(const std::vector<media::ReportBlock>& blocks) {
    for (const auto& block : blocks) {
      if (!sendingSection(block.ssrc)) continue;
      stats.reportBlocksIn++;
      stats.packetsLostReported = block.cumulativeLost;
      if (block.lastSenderReport == 0) continue;
      const auto now = static_cast<std::uint32_t>(ntpNow() >> 16);
      const std::uint32_t rtt = now - block.lastSenderReport - block.delaySinceLastSenderReport;
      if (rtt < (10u << 16)) stats.roundTripMs = rtt * 1000.0 / 65536.0;
    }
  }

  void retransmit(const media::GenericNack& nack) {
    auto* section = sendingSection(nack.mediaSsrc);
    if (!section || !srtp || ice->transportState() != TransportState::Connected) return;
    auto lost = nack.lostSequenceNumbers();
    if (lost.size() > section->history.capacity()) lost.resize(section->history.capacity());
    for (auto sequenceNumber : lost) {
      auto packet = section->history.find(sequenceNumber);
      if (packet.empty()) {
        stats.nackMisses++;
        continue;
      }
      ice->send(packet);
      stats.rtpRetransmitted++;
    }
  }

  // RFC 4585 6.3.1 (PLI) and 6.2.1 (generic NACK), in a compound that starts with a receiver
  // report (no rtcp-rsize), for each SSRC known to arrive on the section.
  template <typename Feedback>
  bool sendFeedback(const std::string& mid, Feedback feedbackFor) {
    if (!srtp || closed || ice->transportState() != TransportState::Connected) return false;
    std::vector<media::RtcpPacket> compound;
    compound.push_back(media::ReceiverReport{receiverSsrc, {}});
    for (const auto& [ssrc, section] : midBySsrc) {
      if (section == mid) compound.push_back(feedbackFor(ssrc));
    }
    return compound.size() > 1 && sendRtcp(compound);
  }

  bool sendPictureLossIndication(const std::string& mid) {
    const bool sent = sendFeedback(mid, [this](std::uint32_t ssrc) {
      return media::PictureLossIndication{receiverSsrc, ssrc};
    });
    if (sent) stats.keyframeRequestsSent++;
    return sent;
  }

  bool sendNack(const std::string& mid, const std::vector<std::uint16_t>& sequenceNumbers) {
    if (sequenceNumbers.empty()) return false;
    const bool sent = sendFeedback(mid, [&](std::uint32_t ssrc) {
      return media::GenericNack::fromLost(receiverSsrc, ssrc, sequenceNumbers);
    });
    if (sent) stats.rtpRequested += sequenceNumbers.size();
    return sent;
  }
  const std::uint32_t receiverSsrc = randomU32();
  std::function<bool(const std::string&, std::uint16_t)> dropOutgoingRtp;  // test hooks
  std::function<bool(const std::string&, std::uint16_t)> dropIncomingRtp;

  void requestKeyframe(const std::string& mid) {
    if (!onKeyframeRequest) return;
    auto handler = onKeyframeRequest;
    handler(mid);
  }

  void negotiationNeeded() {
    if (negotiationQueued || closed) return;
    negotiationQueued = true;
    loop.post([weak = weakSelf] {
      auto self = weak.lock();
      if (!self) return;
      auto& impl = *self->impl_;
      impl.negotiationQueued = false;
      if (impl.closed || !impl.onNegotiationNeeded) return;
      auto handler = impl.onNegotiationNeeded;
      handler();
    });
  }
  std::weak_ptr<PeerConnection> weakSelf;

  static const sdp::LocalCodec* localCodec(const std::string& kind, const std::string& name) {
    static const auto audio = sdp::defaultAudioCodecs();
    static const auto video = sdp::defaultVideoCodecs();
    for (const auto& codec : kind == "audio" ? audio : video) {
      if (sdp::text::equalsIgnoreCase(codec.name, name)) return &codec;
    }
    return nullptr;
  }

  // Our section for a local track, in an offer (offered == nullptr) or in the answer to an
  // offer that has its mid. False when the offer leaves us no codec.
  bool writeSendSection(LocalSection& local, const sdp::MediaSection* offered,
                        sdp::MediaSection& section) {
    section.kind = local.media.kind;
    section.protocol = "UDP/TLS/RTP/SAVPF";
    section.mid = local.mid;
    section.port = 9;
    const auto* ours = localCodec(local.media.kind, local.media.codec);
    if (!ours) return false;
    sdp::RtpSection rtp;
    if (offered) {
      auto parsed = sdp::parseRtp(*offered);
      if (!parsed.section) return false;
      rtp.codecs = sdp::answerCodecs(parsed.section->codecs, {*ours});
      if (rtp.codecs.empty()) return false;
      section.direction = sdp::answerDirection(offered->direction, !local.removed, false);
    } else {
      const std::uint8_t type = ours->name == "opus"  ? kOpusPayloadType
                                : ours->name == "VP8" ? kVp8PayloadType
                                                      : kH264PayloadType;
      rtp.codecs.push_back(
          {type, ours->name, ours->clockRate, ours->channels, ours->fmtp, ours->feedback});
      section.direction = local.removed ? "inactive" : "sendonly";
    }
    local.payloadType = rtp.codecs.front().payloadType;
    local.clockRate = rtp.codecs.front().clockRate;
    rtp.rtcpMux = true;
    if (!local.removed) {
      rtp.ssrcs = {local.ssrc};
      rtp.cname = cname;
      rtp.msid = sdp::MediaStreamId{local.media.streamId.empty() ? "-" : local.media.streamId,
                                    local.media.trackId};
    }
    sdp::writeRtp(rtp, section);
    return true;
  }

  // A later description of the peer's: it must keep the transport as it is (the same ICE
  // credentials and certificate). Nullopt, after calling fail with why, otherwise.
  template <typename Fail>
  std::optional<sdp::SessionDescription> parseOnLiveTransport(const SessionDescription& description,
                                                              Fail& fail) {
    auto parsed = sdp::parse(description.sdp);
    if (!parsed.description) {
      fail("invalid SDP: " + parsed.error);
      return std::nullopt;
    }
    const auto& later = *parsed.description;
    if (later.iceUfrag != remote->iceUfrag || later.icePwd != remote->icePwd) {
      fail("an ICE restart is not supported");
      return std::nullopt;
    }
    if (later.fingerprint != remote->fingerprint) {
      fail("the peer's certificate changed");
      return std::nullopt;
    }
    return std::move(parsed.description);
  }

  // The peer's answer to our offer on the live connection: which of our sections it receives.
  template <typename Fail>
  void applyAnswer(const SessionDescription& description, Fail& fail) {
    auto parsed = parseOnLiveTransport(description, fail);
    if (!parsed) return;
    auto& answer = *parsed;
    haveLocalOffer = false;
    for (const auto& section : answer.media) {
      auto local = localSections.find(section.mid);
      if (local == localSections.end()) continue;
      const bool wasSending = local->second.sending;
      auto rtp = sdp::parseRtp(section);
      const bool accepted = section.port != 0 && rtp.section && !local->second.removed &&
                            (section.direction == "recvonly" || section.direction == "sendrecv");
      local->second.sending = accepted;
      local->second.answered = true;
      if (accepted && !wasSending && local->second.media.kind == "video") {
        requestKeyframe(section.mid);
      }
      // We offer our sections sendrecv when we take media (see writeLocal): a browser that has
      // a track of its own to send puts it on one (JSEP 5.10) and answers sendrecv.
      const bool peerSends = receivesMedia && section.port != 0 && rtp.section &&
                             !rtp.section->codecs.empty() &&
                             (section.direction == "sendrecv" || section.direction == "sendonly");
      if (peerSends) {
        recordRemoteMedia(section, *rtp.section, rtp.section->codecs, true);
      } else if (auto received = acceptedMedia.find(section.mid); received != acceptedMedia.end()) {
        received->second.sending = false;
      }
    }
    remote->media = std::move(answer.media);
    indexPayloadTypes();
    announceMedia();
    startReports();
    fail("");
    offerIfDue();
  }

  void offerIfDue() {
    if (!offerDue || haveLocalOffer || renegotiating) return;
    offerDue = false;
    negotiationNeeded();
  }

  void startReports() {
    if (reportTimer) return;
    reportTimer = loop.every(kReportInterval, [weak = weakSelf] {
      auto self = weak.lock();
      return self && self->impl_->sendReports();
    });
  }

  // RFC 3550 6.4: a sender report and our CNAME for each section that sent anything, and a
  // receiver report on every stream we receive.
  bool sendReports() {
    if (closed) return false;
    if (!srtp || ice->transportState() != TransportState::Connected) return true;
    const auto now = loop::nowMs();
    for (auto& [mid, local] : localSections) {
      if (!local.sending || local.packets == 0) continue;
      media::SenderReport report;
      report.ssrc = local.ssrc;
      report.ntpTimestamp = ntpNow();
      // The RTP time of this instant, extrapolated from the last frame.
      report.rtpTimestamp =
          local.lastTimestamp +
          static_cast<std::uint32_t>((now - local.lastFrameMs) * (local.clockRate / 1000));
      report.packetCount = local.packets;
      report.octetCount = local.octets;
      sendRtcp({report, cnameOf(local.ssrc)});
    }
    media::ReceiverReport receiverReport{receiverSsrc, {}};
    for (auto& [ssrc, received] : reception) {
      if (!received.hasPackets() || receiverReport.reports.size() == 31) continue;
      receiverReport.reports.push_back(received.report(ssrc, monotonicUs()));
    }
    if (!receiverReport.reports.empty() && sendRtcp({receiverReport, cnameOf(receiverSsrc)})) {
      stats.receiverReportsSent++;
    }
    return true;
  }

  media::SourceDescription cnameOf(std::uint32_t ssrc) const {
    media::SourceDescription sdes;
    sdes.chunks.push_back({ssrc, {{media::kSdesCname, cname}}});
    return sdes;
  }

  bool sendRtcp(const std::vector<media::RtcpPacket>& compound) {
    auto bytes = media::serializeRtcpCompound(compound);
    if (!bytes || srtp->protectRtcp(*bytes) != SrtpSession::Error::None) return false;
    ice->send(*bytes);
    stats.rtcpOut++;
    return true;
  }

  bool sendFrame(const std::string& mid, std::span<const std::uint8_t> frame,
                 std::uint32_t rtpTimestamp) {
    auto it = localSections.find(mid);
    if (closed || it == localSections.end() || !it->second.sending || !srtp ||
        ice->transportState() != TransportState::Connected) {
      return false;
    }
    auto& local = it->second;
    const media::ByteView view(frame.data(), frame.size());
    std::vector<media::Bytes> payloads;
    if (local.media.codec == "opus") {
      payloads = media::packetizeOpus(view, kMaxRtpPayload);
    } else if (local.media.codec == "VP8") {
      payloads = local.vp8.packetize(view, kMaxRtpPayload);
    } else {
      payloads = media::packetizeH264(view, kMaxRtpPayload);
    }
    if (payloads.empty()) return false;
    if (local.continueTimeline && local.packets > 0) {
      const auto elapsed = std::max<std::int64_t>(1, loop::nowMs() - local.lastFrameMs);
      const auto ticks = static_cast<std::uint32_t>(elapsed * (local.clockRate / 1000));
      local.timestampOffset = local.lastTimestamp + ticks - rtpTimestamp;
    }
    local.continueTimeline = false;
    const std::uint32_t timestamp = rtpTimestamp + local.timestampOffset;
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      media::RtpPacket packet;
      // Video: the last packet of a frame. Audio: a talkspurt's first, which we never mark.
      packet.marker = local.media.kind == "video" && i + 1 == payloads.size();
      packet.payloadType = local.payloadType;
      packet.sequenceNumber = local.sequence++;
      packet.timestamp = timestamp;
      packet.ssrc = local.ssrc;
      packet.payload = payloads[i];
      auto bytes = media::serializeRtp(packet);
      if (!bytes) return false;
      if (srtp->protectRtp(*bytes) != SrtpSession::Error::None) return false;
      if (!dropOutgoingRtp || !dropOutgoingRtp(mid, packet.sequenceNumber)) ice->send(*bytes);
      local.history.store(packet.sequenceNumber, *bytes);
      local.packets++;
      local.octets += static_cast<std::uint32_t>(payloads[i].size());
      stats.rtpOut++;
    }
    local.lastTimestamp = timestamp;
    local.lastFrameMs = loop::nowMs();
    return true;
  }

  // Payload types that identify one section alone (browsers reuse numbers across sections).
  void indexPayloadTypes() {
    std::map<std::uint8_t, int> uses;
    for (const auto& [mid, remote] : acceptedMedia) {
      for (auto pt : remote.payloadTypes) uses[pt]++;
    }
    midByPayloadType.clear();
    for (const auto& [mid, remote] : acceptedMedia) {
      for (auto pt : remote.payloadTypes) {
        if (uses[pt] == 1) midByPayloadType[pt] = mid;
      }
    }
  }

  // After an answer went out: tell the receiver of sections that stopped, and that are new or
  // changed. A track sent again on a stopped section later is new.
  void announceMedia() {
    if (!media.section) return;
    std::vector<std::string> ended;
    for (const auto& [mid, known] : announcedMedia) {
      auto accepted = acceptedMedia.find(mid);
      if (accepted == acceptedMedia.end() || !accepted->second.sending) ended.push_back(mid);
    }
    for (const auto& mid : ended) {
      announcedMedia.erase(mid);
      if (media.ended) media.ended(mid);
    }
    // In m-line order, as a browser fires its track events: a stream's tracks as they were added.
    std::vector<std::string> order = sessionMids;
    for (const auto& [mid, remote] : acceptedMedia) {
      if (std::find(order.begin(), order.end(), mid) == order.end()) order.push_back(mid);
    }
    for (const auto& mid : order) {
      auto accepted = acceptedMedia.find(mid);
      if (accepted == acceptedMedia.end() || !accepted->second.sending) continue;
      const auto remote = accepted->second;  // the handler reaches user code
      auto known = announcedMedia.find(mid);
      if (known != announcedMedia.end() && known->second.codec == remote.codec &&
          known->second.trackId == remote.trackId) {
        continue;
      }
      announcedMedia[mid] = remote;
      auto handler = media.section;
      handler(remote);
    }
  }

  void onGatheringDone() {
    if (!pendingDescription) return;
    auto callback = std::move(pendingDescription);
    pendingDescription = nullptr;
    SessionDescription description{pendingType, writeLocal(pendingType)};
    localDescription = description;
    stats.gatheringMs = loop::nowMs() - describeStartMs;
    const bool answered = pendingType == SdpType::Answer;
    if (answered) startDtlsIfReady();
    callback(description, "");
    if (answered) announceMedia();
    if (answered && !acceptedMedia.empty()) startReports();
    if (answered) offerIfDue();
  }

  std::string writeLocal(SdpType type) {
    sdp::LocalParameters local;
    local.sessionId = sessionId;
    local.sessionVersion = ++sessionVersion;
    local.iceUfrag = ice->localUfrag();
    local.icePwd = ice->localPwd();
    local.fingerprint = certificate->fingerprint();
    local.candidates = ice->localCandidates();
    local.endOfCandidates = true;
    if (type == SdpType::Offer && remote) {
      // A later offer: the m-lines in their order, ours appended; the DTLS role stays.
      local.setup = dtls->role() == DtlsTransport::Role::Client ? "active" : "passive";
      std::vector<std::string> mids = sessionMids;
      std::vector<const LocalSection*> added;
      for (const auto& [mid, section] : localSections) {
        if (std::find(mids.begin(), mids.end(), mid) == mids.end()) added.push_back(&section);
      }
      // The peer fires its track events in m-line order: a stream's tracks as they were added.
      std::sort(added.begin(), added.end(),
                [](const LocalSection* x, const LocalSection* y) { return x->added < y->added; });
      for (const auto* section : added) mids.push_back(section->mid);
      for (const auto& mid : mids) {
        sdp::MediaSection section;
        if (auto it = localSections.find(mid); it != localSections.end()) {
          if (!writeSendSection(it->second, nullptr, section)) continue;
          // Taking media, we offer our sections both ways, as browsers do: a browser that has
          // tracks waiting when it takes our offer (both sides added streams at once) puts them
          // on our sections (JSEP 5.10); with sendonly it could never send them.
          const auto received = acceptedMedia.find(mid);
          const bool peerSends = received != acceptedMedia.end() && received->second.sending;
          if (receivesMedia && !it->second.removed) section.direction = "sendrecv";
          if (peerSends && it->second.removed) section.direction = "recvonly";
        } else if (auto last = lastLocalSections.find(mid); last != lastLocalSections.end()) {
          section = last->second;
        } else {
          continue;
        }
        local.media.push_back(std::move(section));
      }
    } else if (type == SdpType::Offer) {
      local.setup = "actpass";
      sdp::MediaSection data;
      data.kind = "application";
      data.protocol = "UDP/DTLS/SCTP";
      data.formats = {"webrtc-datachannel"};
      data.mid = "0";
      data.sctpPort = 5000;
      data.maxMessageSize = kLocalMaxMessageSize;
      local.media.push_back(std::move(data));
    } else {
      // RFC 8842: an answerer to "actpass" picks active, so it sends the ClientHello at once.
      // Later answers keep the role the connection has (Chrome fails a role change).
      local.setup = remote->setup == "active" ? "passive" : "active";
      if (dtlsStarted) {
        local.setup = dtls->role() == DtlsTransport::Role::Client ? "active" : "passive";
      }
      bool dataAccepted = false;
      for (const auto& offered : remote->media) {
        sdp::MediaSection section;
        section.kind = offered.kind;
        section.protocol = offered.protocol;
        section.formats = offered.formats;
        section.mid = offered.mid;
        auto ours = localSections.find(offered.mid);
        if (offered.kind == "application" && !dataAccepted && offered.port != 0) {
          dataAccepted = true;
          section.sctpPort = 5000;
          section.maxMessageSize = kLocalMaxMessageSize;
        } else if (ours != localSections.end() && offered.kind == ours->second.media.kind) {
          // A section of ours the peer offers back (its own renegotiation): still ours to send.
          // The peer may send on it too: a browser that had tracks waiting to be negotiated when
          // it took our offer (glare) puts them on our sections of their kind (JSEP 5.10), and
          // then offers them there.
          sdp::MediaSection receiving = section;
          const bool peerSends = offered.direction == "sendrecv" || offered.direction == "sendonly";
          const bool receives =
              receivesMedia && offered.port != 0 && peerSends && acceptMedia(offered, receiving);
          if (!receives) acceptedMedia.erase(offered.mid);
          if (offered.port == 0 || !writeSendSection(ours->second, &offered, section)) {
            if (receives) {
              section = std::move(receiving);
            } else {
              section.port = 0;
              listOfferedCodecs(offered, section);
            }
          } else if (receives) {
            section.direction =
                sdp::answerDirection(offered.direction, !ours->second.removed, true);
          }
          const bool accepted = section.port != 0 && (section.direction == "sendonly" ||
                                                      section.direction == "sendrecv");
          if (accepted && !ours->second.sending && offered.kind == "video") {
            requestKeyframe(offered.mid);
          }
          ours->second.sending = accepted;
        } else if (!(receivesMedia && offered.port != 0 &&
                     (offered.kind == "audio" || offered.kind == "video") &&
                     acceptMedia(offered, section))) {
          section.port = 0;
          acceptedMedia.erase(offered.mid);
          listOfferedCodecs(offered, section);
        }
        local.media.push_back(std::move(section));
      }
    }
    if (type == SdpType::Answer) indexPayloadTypes();
    sessionMids.clear();
    for (const auto& section : local.media) {
      sessionMids.push_back(section.mid);
      lastLocalSections[section.mid] = section;
    }
    return sdp::write(local);
  }

  // A further offer on the live connection: the transport must stay as it is (same ICE
  // credentials and certificate, the data section still there); only the media sections change.
  template <typename Fail>
  void applyFurtherOffer(const SessionDescription& description, Fail& fail) {
    if (description.type != SdpType::Offer)
      return fail("got an answer without having made an offer");
    if (pendingDescription) return fail("a description is being gathered");
    auto parsed = parseOnLiveTransport(description, fail);
    if (!parsed) return;
    auto& offer = *parsed;
    bool hasData = std::any_of(offer.media.begin(), offer.media.end(), [](const auto& section) {
      return section.kind == "application" && section.port != 0;
    });
    if (!hasData) return fail("the description has no data channel section");
    remote->media = std::move(offer.media);
    remote->bundleMids = std::move(offer.bundleMids);
    renegotiating = true;
    fail("");
  }

  // A rejected audio/video section keeps the offered codecs' a=rtpmap lines: trystero drops a
  // renegotiation SDP without any. Nothing else (no fmtp, feedback or SSRCs) is claimed.
  static void listOfferedCodecs(const sdp::MediaSection& offered, sdp::MediaSection& section) {
    if (offered.kind != "audio" && offered.kind != "video") return;
    auto rtp = sdp::parseRtp(offered);
    if (!rtp.section) return;
    sdp::RtpSection listed;
    for (auto codec : rtp.section->codecs) {
      codec.fmtp.clear();
      codec.feedback.clear();
      listed.codecs.push_back(std::move(codec));
    }
    sdp::writeRtp(listed, section);
    section.formats = offered.formats;
    section.direction = "inactive";
  }

  bool polite() const { return !isOfferer; }

  void startDtlsIfReady() {
    if (dtlsStarted || !remote || !localDescription) return;
    dtlsStarted = true;
    // Whoever the offerer is, we took the role the peer's a=setup left us (see writeLocal).
    bool weAreActive = remote->setup != "active";
    dtls->start(weAreActive ? DtlsTransport::Role::Client : DtlsTransport::Role::Server);
  }

  void shutdown() {
    if (closed) return;
    if (sctp) sctp->close();
    if (dtls) dtls->close();
    closed = true;
    if (ice) ice->close();
  }
};

PeerConnection::PeerConnection(loop::Loop& loop, Configuration configuration)
    : impl_(std::make_unique<Impl>(loop, std::move(configuration))) {}

std::shared_ptr<PeerConnection> PeerConnection::create(loop::Loop& loop,
                                                       Configuration configuration) {
  auto pc = std::shared_ptr<PeerConnection>(new PeerConnection(loop, std::move(configuration)));
  pc->impl_->weakSelf = pc;
  return pc;
}

PeerConnection::~PeerConnection() {
  // Tear down later, from the loop itself: the last reference may be dropped inside one of our
  // own callbacks, with libnice, OpenSSL or usrsctp frames still on the stack.
  impl_->onDataChannel = nullptr;
  impl_->onStateChange = nullptr;
  impl_->shutdown();
  auto& loop = impl_->loop;
  loop.post([impl = std::shared_ptr<Impl>(std::move(impl_))] {});
}

std::shared_ptr<DataChannel> PeerConnection::createDataChannel(const std::string& label) {
  return impl_->sctp->createDataChannel(label);
}

void PeerConnection::createOffer(DescriptionCallback callback) {
  auto& impl = *impl_;
  if (impl.closed) return callback(std::nullopt, "peer connection is closed");
  if (impl.pendingDescription) return callback(std::nullopt, "a description is being gathered");
  if (impl.remote) {
    // On the live connection (media of ours to negotiate): the transport stays as it is.
    if (impl.haveLocalOffer || impl.renegotiating) {
      impl.offerDue = true;  // negotiationNeeded fires again once it is done
      return callback(std::nullopt, "an offer/answer exchange is under way");
    }
    impl.haveLocalOffer = true;
    impl.offerDue = false;
  } else {
    impl.isOfferer = true;
    impl.ice->setControlling(true);
  }
  impl.pendingType = SdpType::Offer;
  impl.pendingDescription = std::move(callback);
  impl.describeStartMs = loop::nowMs();
  if (impl.ice->gatheringDone()) {
    impl.onGatheringDone();
  } else {
    impl.ice->gather();
  }
}

void PeerConnection::setRemoteDescription(const SessionDescription& description,
                                          std::function<void(const std::string&)> callback) {
  auto& impl = *impl_;
  auto fail = [&](const std::string& error) {
    if (callback) callback(error);
  };
  if (impl.closed) return fail("peer connection is closed");
  if (impl.remote) {
    if (description.type == SdpType::Answer) {
      if (!impl.haveLocalOffer) return fail("got an answer without having made an offer");
      return impl.applyAnswer(description, fail);
    }
    if (impl.haveLocalOffer) {
      if (!impl.polite())
        return fail("glare: the peer's offer collided with ours and we keep ours");
      // Polite: ours gives way (rollback), and is made again once this exchange is done.
      impl.haveLocalOffer = false;
      impl.offerDue = true;
    }
    return impl.applyFurtherOffer(description, fail);
  }
  if (description.type == SdpType::Answer && !impl.isOfferer) {
    return fail("got an answer without having made an offer");
  }
  if (description.type == SdpType::Offer && impl.isOfferer) {
    return fail("got an offer while having made one (glare)");
  }
  auto parsed = sdp::parse(description.sdp);
  if (!parsed.description) return fail("invalid SDP: " + parsed.error);
  auto& remote = *parsed.description;
  if (remote.fingerprintAlgorithm != "sha-256") {
    return fail("unsupported fingerprint algorithm: " + remote.fingerprintAlgorithm);
  }
  const sdp::MediaSection* data = nullptr;
  for (const auto& section : remote.media) {
    if (section.kind == "application" && section.port != 0) {
      data = &section;
      break;
    }
  }
  if (!data) return fail("the description has no data channel section");
  if (description.type == SdpType::Answer && remote.setup == "actpass") {
    return fail("an answer must not use a=setup:actpass");
  }
  impl.remoteAppliedMs = loop::nowMs();
  impl.remote = std::move(remote);
  impl.sctp->setRemoteMaxMessageSize(data->maxMessageSize.value_or(65536));
  if (description.type == SdpType::Offer) impl.ice->setControlling(false);
  impl.dtls->setRemoteFingerprint(impl.remote->fingerprintAlgorithm, impl.remote->fingerprint);
  impl.ice->setRemote(impl.remote->iceUfrag, impl.remote->icePwd, impl.remote->candidates);
  impl.stats.droppedRemoteCandidates = impl.ice->droppedRemoteCandidates();
  if (description.type == SdpType::Answer) impl.startDtlsIfReady();
  fail("");
}

void PeerConnection::createAnswer(DescriptionCallback callback) {
  auto& impl = *impl_;
  if (impl.closed) return callback(std::nullopt, "peer connection is closed");
  if (!impl.remote || (impl.isOfferer && !impl.renegotiating)) {
    return callback(std::nullopt, "no remote offer to answer");
  }
  impl.renegotiating = false;
  if (impl.pendingDescription) return callback(std::nullopt, "a description is being gathered");
  impl.pendingType = SdpType::Answer;
  impl.pendingDescription = std::move(callback);
  impl.describeStartMs = loop::nowMs();
  if (impl.ice->gatheringDone()) {
    impl.onGatheringDone();
  } else {
    impl.ice->gather();
  }
}

void PeerConnection::receiveMedia(MediaHandlers handlers) {
  impl_->media = std::move(handlers);
  impl_->receivesMedia = true;
}

void PeerConnection::announceMediaAgain() {
  impl_->announcedMedia.clear();
  impl_->announceMedia();
}

std::string PeerConnection::addLocalMedia(const LocalMedia& media) {
  auto& impl = *impl_;
  // Random, so that mids the two sides pick while offering at the same moment never collide
  // (browsers number theirs); at most 8 bytes, well within the MID header extension's 16.
  std::string mid;
  do {
    mid = "n";
    for (auto value = randomU32(); value != 0 && mid.size() < 8; value /= 36) {
      mid += "0123456789abcdefghijklmnopqrstuvwxyz"[value % 36];
    }
  } while (impl.lastLocalSections.count(mid) || impl.localSections.count(mid));
  auto& local = impl.localSections[mid];
  local.media = media;
  local.mid = mid;
  local.added = ++impl.localSectionsAdded;
  if (media.kind == "video") local.history = media::RetransmitBuffer(kRetransmitSlots);
  impl.negotiationNeeded();
  return mid;
}

void PeerConnection::removeLocalMedia(const std::string& mid) {
  auto it = impl_->localSections.find(mid);
  if (it == impl_->localSections.end() || it->second.removed) return;
  it->second.removed = true;
  it->second.sending = false;
  impl_->negotiationNeeded();
}

bool PeerConnection::sendFrame(const std::string& mid, std::span<const std::uint8_t> frame,
                               std::uint32_t rtpTimestamp) {
  return impl_->sendFrame(mid, frame, rtpTimestamp);
}

void PeerConnection::dropOutgoingRtpForTest(
    std::function<bool(const std::string&, std::uint16_t)> drop) {
  impl_->dropOutgoingRtp = std::move(drop);
}

void PeerConnection::dropIncomingRtpForTest(
    std::function<bool(const std::string&, std::uint16_t)> drop) {
  impl_->dropIncomingRtp = std::move(drop);
}

bool PeerConnection::requestRetransmission(const std::string& mid,
                                           std::vector<std::uint16_t> sequenceNumbers) {
  return impl_->sendNack(mid, sequenceNumbers);
}

bool PeerConnection::sectionAnswered(const std::string& mid) const {
  auto it = impl_->localSections.find(mid);
  return it != impl_->localSections.end() && it->second.answered;
}

void PeerConnection::continueTimeline(const std::string& mid) {
  if (auto it = impl_->localSections.find(mid); it != impl_->localSections.end()) {
    it->second.continueTimeline = true;
  }
}

void PeerConnection::onNegotiationNeeded(std::function<void()> f) {
  impl_->onNegotiationNeeded = std::move(f);
}

void PeerConnection::onKeyframeRequest(std::function<void(const std::string&)> f) {
  impl_->onKeyframeRequest = std::move(f);
}

bool PeerConnection::polite() const { return impl_->polite(); }

bool PeerConnection::hasLocalOffer() const { return impl_->haveLocalOffer; }

bool PeerConnection::requestKeyframe(const std::string& mid) {
  return impl_->sendPictureLossIndication(mid);
}

void PeerConnection::onDataChannel(std::function<void(std::shared_ptr<DataChannel>)> f) {
  impl_->onDataChannel = std::move(f);
}

void PeerConnection::onStateChange(std::function<void(State)> f) {
  impl_->onStateChange = std::move(f);
}

PeerConnection::State PeerConnection::state() const { return impl_->state; }

std::optional<SessionDescription> PeerConnection::localDescription() const {
  return impl_->localDescription;
}

void PeerConnection::close() {
  if (impl_->closed) return;
  impl_->shutdown();
  impl_->state = State::Closed;
  if (impl_->onStateChange) impl_->onStateChange(State::Closed);
}

PeerConnection::Stats PeerConnection::stats() const { return impl_->stats; }

}  // namespace trystero::rtc

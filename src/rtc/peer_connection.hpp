// RTCPeerConnection: ICE (libnice) -> DTLS (OpenSSL) -> {SCTP (usrsctp) -> DCEP, SRTP (libsrtp2)}.
// Non-trickle like trystero: a local description is handed out only once ICE gathering
// completed (or the gathering deadline passed), with every candidate inline.
//
// Threading: create, call and destroy on the loop thread only. Callbacks run on the loop
// thread. Destroying the object (dropping the last shared_ptr) closes everything silently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "rtc/dtls/certificate.hpp"
#include "rtc/sctp/data_channel.hpp"

namespace trystero::rtc {

struct IceServer {
  // "stun:host:port", "turn:host:port?transport=udp|tcp", "turns:host:port"
  std::vector<std::string> urls;
  std::string username;
  std::string credential;
};

enum class IceTransportPolicy { All, Relay };

struct Configuration {
  std::vector<IceServer> iceServers;
  IceTransportPolicy iceTransportPolicy = IceTransportPolicy::All;
  // Gather loopback host candidates too (needed when loopback is the only interface, as in
  // tests inside a network namespace). Off by default, as in browsers.
  bool allowLoopback = false;
  // Upper bound on ICE gathering before the description is handed out anyway (trystero: 5 s).
  std::chrono::milliseconds gatheringTimeout{5000};
  // Defaults to Certificate::shared().
  std::shared_ptr<Certificate> certificate;
};

enum class SdpType { Offer, Answer };

struct SessionDescription {
  SdpType type;
  std::string sdp;
};

std::string toString(SdpType type);  // "offer" / "answer"
std::optional<SdpType> sdpTypeFromString(const std::string& type);

class PeerConnection : public std::enable_shared_from_this<PeerConnection> {
 public:
  enum class State { New, Connecting, Connected, Disconnected, Failed, Closed };

  using DescriptionCallback =
      std::function<void(std::optional<SessionDescription> description, const std::string& error)>;

  static std::shared_ptr<PeerConnection> create(loop::Loop& loop, Configuration configuration);
  ~PeerConnection();

  // Must be called before createOffer() by the offering side (trystero's initiator).
  std::shared_ptr<DataChannel> createDataChannel(const std::string& label);

  // Gathers and hands out a complete offer. Calling it again before the callback ran is an error.
  void createOffer(DescriptionCallback callback);
  // Applies the peer's offer (answerer) or answer (offerer). The callback gets an error string
  // (empty on success): unparsable SDP, missing fingerprint/ICE credentials, wrong state.
  // Once a remote description is set, either side may take a further offer from the peer on the
  // live connection (a renegotiation: a browser adding or removing tracks). It must keep the ICE
  // credentials and the certificate (no ICE restart) and the data section.
  void setRemoteDescription(const SessionDescription& description,
                            std::function<void(const std::string& error)> callback);
  // After an offer was applied: gathers and hands out the complete answer. Audio and video
  // sections are rejected (port 0) until media lands, listing the offered codecs' a=rtpmap lines
  // (trystero drops a renegotiation SDP that has none). An answer to a renegotiation keeps the
  // DTLS role the connection has.
  void createAnswer(DescriptionCallback callback);

  // An audio or video section of the peer's we receive (answered recvonly).
  struct RemoteMedia {
    std::string mid;
    std::string kind;   // "audio" / "video"
    std::string codec;  // the first codec both sides have: "opus", "VP8", "H264"
    std::uint32_t clockRate = 0;
    std::uint8_t channels = 1;
    std::vector<std::uint8_t> payloadTypes;  // of that codec (the offerer's numbers)
    std::string streamId, trackId;           // a=msid; empty without one
    bool sending = false;                    // the peer sends on it (it offered send)
  };
  struct MediaHandlers {
    // A section the peer sends on, once the answer accepting it is handed out; again after a
    // later answer if its codec or track changed, or it stopped sending and sends again.
    std::function<void(const RemoteMedia&)> section;
    // One decrypted RTP packet of an accepted section, routed by SSRC, then by the MID header
    // extension, then by a payload type no other section uses. The span lives for the call.
    std::function<void(const std::string& mid, std::span<const std::uint8_t> packet)> rtp;
    // A section announced through `section` that the peer stopped sending on (removeTrack: a
    // later offer made it inactive or rejected it), once the answer saying so is handed out.
    std::function<void(const std::string& mid)> ended;
  };
  // From now on audio/video sections of offers are accepted (recvonly, Opus/VP8/H.264) and their
  // packets handed up, instead of rejected. Loop thread.
  void receiveMedia(MediaHandlers handlers);
  // Tells `section` again of every section the peer sends on (for a receiver that ignored them
  // until now). Loop thread.
  void announceMediaAgain();
  // Asks the peer for a keyframe on a section it sends us (RTCP PLI). False when nothing is
  // known to arrive there yet.
  bool requestKeyframe(const std::string& mid);
  // Asks the peer to send these packets of a section again (RTCP generic NACK); the peer
  // answers from what it still holds. False when nothing is known to arrive there yet.
  bool requestRetransmission(const std::string& mid, std::vector<std::uint16_t> sequenceNumbers);

  // ---- media we send ----
  // One track of ours: a sendonly section in our next offer (or in our answer, when the peer's
  // offer already has its mid).
  struct LocalMedia {
    std::string kind;   // "audio" / "video"
    std::string codec;  // "opus", "VP8" or "H264"
    std::string streamId, trackId;
  };
  // Returns the section's mid. negotiationNeeded fires (posted, once per burst of changes): the
  // owner then makes an offer with createOffer() on the live connection.
  std::string addLocalMedia(const LocalMedia& media);
  // Stops sending on the section; the next offer marks it inactive (m-lines are never removed).
  void removeLocalMedia(const std::string& mid);
  // Packetizes one encoded frame (VP8 picture, H.264 access unit in Annex B, Opus packet) and
  // sends it SRTP-protected. False, and nothing sent, until the peer's answer accepted the
  // section (or after it was removed). rtpTimestamp is in the codec's clock (48 kHz / 90 kHz).
  bool sendFrame(const std::string& mid, std::span<const std::uint8_t> frame,
                 std::uint32_t rtpTimestamp);
  // Whether an answer of the peer's covered the section (accepted or rejected it): the peer has
  // seen it, and its track event, if any, has run.
  bool sectionAnswered(const std::string& mid) const;
  // Another source takes over a section (replaceTrack): the next frame's RTP timestamp follows
  // on from the last one sent, by the time that passed, whatever its own timestamp says.
  void continueTimeline(const std::string& mid);
  void onNegotiationNeeded(std::function<void()> f);
  // The peer asked for a keyframe on a section we send (PLI or FIR), or just began receiving it.
  void onKeyframeRequest(std::function<void(const std::string& mid)> f);
  // Perfect negotiation (trystero's peer.js): the side that did not make the first offer is
  // polite. An offer of the peer's that collides with ours is taken by the polite side (ours is
  // rolled back and made again afterwards) and refused by the other ("glare" in the error).
  bool polite() const;
  bool hasLocalOffer() const;

  void onDataChannel(std::function<void(std::shared_ptr<DataChannel>)> f);
  void onStateChange(std::function<void(State)> f);

  State state() const;
  // Local/remote description as last set, for diagnostics.
  std::optional<SessionDescription> localDescription() const;

  // Closes channels, sends DTLS close_notify, stops ICE. State becomes Closed. Idempotent.
  void close();

  struct Stats {
    std::int64_t gatheringMs = -1;  // createOffer/createAnswer to description handed out
    std::int64_t connectMs = -1;    // remote description applied to DTLS connected
    std::string selectedLocalCandidate, selectedRemoteCandidate;
    // Remote candidates over kMaxRemoteCandidates (ice_transport.hpp), not used.
    std::size_t droppedRemoteCandidates = 0;
    // SRTP/SRTCP packets: handed up, refused by SRTP (forged, replayed, malformed), or not
    // matched to a section we receive.
    std::uint64_t rtpIn = 0, rtcpIn = 0, srtpRefused = 0, rtpUnrouted = 0;
    // What we sent: RTP packets, RTCP sender reports, keyframe requests (PLI/FIR) received.
    std::uint64_t rtpOut = 0, rtcpOut = 0, keyframeRequests = 0;
    std::uint64_t keyframeRequestsSent = 0;
    // NACKs: packets sent again, and asked for but no longer held; packets we asked for.
    std::uint64_t rtpRetransmitted = 0, nackMisses = 0, rtpRequested = 0;
    // Report blocks the peer sent on what we send, the loss it last reported, and the round
    // trip those blocks give (-1 until one echoed a sender report of ours).
    std::uint64_t reportBlocksIn = 0;
    std::int64_t packetsLostReported = 0;
    double roundTripMs = -1;
    // Receiver reports we sent on what the peer sends.
    std::uint64_t receiverReportsSent = 0;
  };
  Stats stats() const;
  // Test hook: media packets for which drop(mid, sequence number) holds are not sent the first
  // time (as if lost on the way); they stay held for NACKs. Loop thread.
  void dropOutgoingRtpForTest(std::function<bool(const std::string&, std::uint16_t)> drop);
  // Test hook: media packets arriving for which drop(kind, sequence number) holds are dropped
  // before SRTP sees them (as if lost on the way), once the section they belong to is known.
  // Loop thread.
  void dropIncomingRtpForTest(std::function<bool(const std::string&, std::uint16_t)> drop);

 private:
  struct Impl;
  PeerConnection(loop::Loop& loop, Configuration configuration);
  std::unique_ptr<Impl> impl_;
};

std::string toString(PeerConnection::State state);

}  // namespace trystero::rtc

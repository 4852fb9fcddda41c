// ICE (RFC 8445) for one BUNDLEd component over libnice, on the loop's GMainContext.
// Loop thread only; callbacks run on the loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "rtc/sdp/sdp.hpp"
#include "rtc/transport.hpp"

namespace trystero::rtc {

struct IceServer;
struct Configuration;

// Remote candidates handed to libnice per transport, at most; the rest are dropped (counted,
// logged once). libnice scans the host's interfaces for every candidate it is given, keeps and
// checks every pair, and opens a TCP socket for each TCP pair it checks: a description listing
// thousands of candidates costs all of that thousands of times. Browsers send a handful (one per
// interface, transport and type).
inline constexpr std::size_t kMaxRemoteCandidates = 64;
// Of those, TCP candidates (each may cost a socket).
inline constexpr std::size_t kMaxRemoteTcpCandidates = 16;

// The bottom of the stack: carries datagrams for DTLS (and later SRTP) as a PacketTransport.
class IceTransport final : public PacketTransport {
 public:
  enum class State { New, Gathering, Checking, Connected, Failed, Closed };

  struct Callbacks {
    std::function<void()> onGatheringDone;
    std::function<void(State)> onStateChange;
    // Up: one received datagram that is not STUN (DTLS, RTP, RTCP).
    PacketSink onPacket;
  };

  IceTransport(loop::Loop& loop, const Configuration& configuration, Callbacks callbacks);
  ~IceTransport();
  IceTransport(const IceTransport&) = delete;
  IceTransport& operator=(const IceTransport&) = delete;

  // Offerer: controlling. Must be set before remote candidates.
  void setControlling(bool controlling);

  // Resolves ICE server host names, then gathers; onGatheringDone fires once, after
  // gathering completed or the configured deadline passed.
  void gather();
  bool gatheringDone() const;

  const std::string& localUfrag() const;
  const std::string& localPwd() const;
  std::vector<sdp::Candidate> localCandidates() const;

  // Starts connectivity checks. May be called before gathering is done: it is applied then.
  // mDNS (.local) candidates are skipped: the peer's checks reach us as peer-reflexive ones.
  // Candidates beyond kMaxRemoteCandidates / kMaxRemoteTcpCandidates are dropped.
  void setRemote(const std::string& ufrag, const std::string& pwd,
                 const std::vector<sdp::Candidate>& candidates);
  // Remote candidates dropped by those caps so far.
  std::size_t droppedRemoteCandidates() const;

  // Sends one datagram over the selected pair; false when there is none yet or on error.
  bool send(std::span<const std::uint8_t> datagram) override;

  State state() const;
  // Gathering counts as New: no pair is being checked yet.
  TransportState transportState() const override;
  // "address:port typ" of the selected pair, for diagnostics.
  std::string selectedLocal() const;
  std::string selectedRemote() const;

  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trystero::rtc

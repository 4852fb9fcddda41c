// The WebRTC transport stack and the shape every layer of it follows.
//
//   IceTransport       datagrams on the selected candidate pair (libnice)
//        |  demultiplexed by first byte (RFC 7983, classify() below), in peer_connection.cpp
//        +-- DtlsTransport     handshake, then records of application data (OpenSSL)
//        |        +-- SctpTransport   one SCTP packet per record; data channels on top (usrsctp)
//        +-- (SRTP, with media: RTP/RTCP straight from the demultiplexer, keys from
//             DtlsTransport::exportKeyingMaterial)
//
// A layer is linked to its neighbours by packets, one per call, as spans valid for the call
// only (a layer copies what it keeps, into a PacketQueue when it cannot handle it yet):
//   - down: a layer carrying packets for layers above it is a PacketTransport: send();
//   - up: a layer riding on one below is a PacketReceiver: the layer below (through the wiring
//     in peer_connection.cpp) hands it what arrived with receive();
//   - each side reaches the other through a PacketSink given at construction (ICE's received
//     datagrams, DTLS's decrypted records, DTLS's and SCTP's outgoing packets);
//   - state: transportState(), each layer's finer states mapped onto TransportState.
// The layers are final classes wired by their concrete types, so these interfaces cost no
// virtual dispatch on the packet path.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace trystero::rtc {

enum class TransportState { New, Connecting, Connected, Closed, Failed };

using PacketSink = std::function<void(std::span<const std::uint8_t>)>;

// A layer that carries packets for the layers above it (ICE, DTLS).
class PacketTransport {
 public:
  // Down: one packet toward the wire. False when it cannot go now (not connected, closed).
  virtual bool send(std::span<const std::uint8_t> packet) = 0;
  virtual TransportState transportState() const = 0;

 protected:
  ~PacketTransport() = default;
};

// A layer that rides on a layer below it (DTLS on ICE, SCTP on DTLS).
class PacketReceiver {
 public:
  // Up: one packet the layer below received for this layer.
  virtual void receive(std::span<const std::uint8_t> packet) = 0;
  virtual TransportState transportState() const = 0;

 protected:
  ~PacketReceiver() = default;
};

// What a datagram on the ICE transport is, by its first byte (RFC 7983 section 7).
enum class PacketKind { Stun, Dtls, Rtp, Other };

inline PacketKind classify(std::span<const std::uint8_t> datagram) {
  if (datagram.empty()) return PacketKind::Other;
  std::uint8_t first = datagram[0];
  if (first <= 3) return PacketKind::Stun;
  if (first >= 20 && first <= 63) return PacketKind::Dtls;
  if (first >= 128 && first <= 191) return PacketKind::Rtp;  // RTP and RTCP
  return PacketKind::Other;                                  // ZRTP, TURN channels, unassigned
}

}  // namespace trystero::rtc

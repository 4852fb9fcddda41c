// DTLS 1.2 over an unreliable datagram path (the ICE transport), as RFC 8827 uses it for WebRTC.
// Loop thread only. Callbacks run on the loop thread; they may destroy the transport only by
// posting the destruction (never synchronously from inside a callback).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "loop/loop.hpp"
#include "rtc/dtls/certificate.hpp"
#include "rtc/srtp/srtp_session.hpp"
#include "rtc/transport.hpp"

namespace trystero::rtc {

// Carries SCTP packets for the layer above (PacketTransport), rides on ICE (PacketReceiver).
class DtlsTransport final : public PacketTransport, public PacketReceiver {
 public:
  enum class Role { Client, Server };
  using State = TransportState;

  struct Callbacks {
    // Down: one datagram to put on the wire (one DTLS record flight fragment; never merged).
    PacketSink sendDatagram;
    // Handshake done and the peer's certificate matches the expected fingerprint.
    std::function<void()> onConnected;
    // Up: decrypted application data (one SCTP packet per call).
    PacketSink onData;
    // close_notify received, or close() called: no more data either way.
    std::function<void()> onClosed;
    // Handshake failure, fingerprint mismatch or fatal alert; the message says which.
    std::function<void(const std::string&)> onFailed;
  };

  DtlsTransport(loop::Loop& loop, std::shared_ptr<Certificate> certificate, Callbacks callbacks);
  ~DtlsTransport();
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  // From the remote SDP's a=fingerprint, e.g. ("sha-256", "AB:CD:..."). Case-insensitive.
  // Only sha-256 needs to be supported; other algorithms fail the handshake with a clear error.
  void setRemoteFingerprint(const std::string& algorithm, const std::string& fingerprint);

  // Starts the handshake in the given role. Datagrams received before start() are kept (a
  // bounded few) and processed right after it, because the peer's ClientHello may arrive
  // before our own negotiation finished.
  void start(Role role);

  // One received datagram whose first byte is in [20, 63].
  void receive(std::span<const std::uint8_t> datagram) override;

  // Encrypts and sends application data; false when not connected.
  bool send(std::span<const std::uint8_t> data) override;

  // Sends close_notify (when connected) and stops; idempotent. onClosed is not called for a
  // local close.
  void close();

  State state() const;
  TransportState transportState() const override { return state(); }
  Role role() const;

  // RFC 5705 keying material (with "EXTRACTOR-dtls_srtp": the SRTP keys, RFC 5764). Empty when
  // not connected.
  std::string exportKeyingMaterial(const std::string& label, std::size_t length) const;
  // The SRTP profile both sides agreed on in the handshake's use_srtp extension; nullopt when not
  // connected or the peer offered none of ours.
  std::optional<SrtpProfile> srtpProfile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trystero::rtc

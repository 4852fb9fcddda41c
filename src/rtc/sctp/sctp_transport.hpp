// SCTP over DTLS (RFC 8261) with usrsctp in AF_CONN mode, and the data channels on top of it.
// usrsctp runs without its own threads: this transport drives its timers from the loop.
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "loop/loop.hpp"
#include "rtc/sctp/data_channel.hpp"
#include "rtc/transport.hpp"

namespace trystero::rtc {

// Rides on DTLS (PacketReceiver); what it carries goes up through data channels.
class SctpTransport final : public PacketReceiver,
                            public std::enable_shared_from_this<SctpTransport> {
 public:
  struct Config {
    std::uint16_t localPort = 5000;
    std::uint16_t remotePort = 5000;
    // The peer's a=max-message-size; 0 means the peer did not say (then 65536, per RFC 8841).
    std::size_t remoteMaxMessageSize = 262144;
    // Our a=max-message-size: larger incoming messages are dropped (and counted).
    std::size_t localMaxMessageSize = 262144;
  };

  struct Callbacks {
    // Down: one SCTP packet to send over DTLS. Called synchronously from inside usrsctp: it
    // must not call back into this transport.
    PacketSink sendPacket;
    // The association is up (channels created earlier are being opened now).
    std::function<void()> onConnected;
    // The peer opened a channel with DCEP; it is already Open.
    std::function<void(std::shared_ptr<DataChannel>)> onDataChannel;
    // The association ended (ABORT, SHUTDOWN, or close()); every channel is Closed first.
    std::function<void(const std::string& reason)> onClosed;
  };

  static std::shared_ptr<SctpTransport> create(loop::Loop& loop, Config config,
                                               Callbacks callbacks);
  ~SctpTransport();

  // Connects once DTLS is up; the DTLS role picks the stream id parity (client: even).
  // Both ends call connect (SCTP simultaneous open, as browsers do).
  void start(bool isDtlsClient);

  // Up: one SCTP packet that DTLS decrypted. Packets that arrive before start() are kept (a
  // bounded few): usrsctp would answer them with ABORT.
  void receive(std::span<const std::uint8_t> packet) override;

  // A new channel; opened with DCEP as soon as the association is up (or at once if it is).
  std::shared_ptr<DataChannel> createDataChannel(const std::string& label,
                                                 const std::string& protocol = "");

  // The peer's a=max-message-size once the remote description is known (0: 65536).
  void setRemoteMaxMessageSize(std::size_t bytes);

  // Graceful shutdown; every channel goes Closed. Idempotent.
  void close();

  bool connected() const;
  TransportState transportState() const override;

  // True while data is queued here or still unacknowledged by the peer's SCTP stack (what a
  // graceful leave waits for before tearing the connection down).
  bool hasDataInFlight() const;

  // Lifetime totals, for tests and benchmarks.
  struct Stats {
    std::uint64_t packetsSent = 0, packetsReceived = 0, bytesSent = 0, bytesReceived = 0;
    std::uint64_t messagesDropped = 0;  // malformed DCEP, unknown stream, oversize
  };
  Stats stats() const;

 private:
  friend class DataChannel;
  struct Impl;
  SctpTransport(loop::Loop& loop, Config config, Callbacks callbacks);
  bool sendMessage(DataChannel& channel, std::span<const std::uint8_t> data, bool binary);
  void closeChannel(DataChannel& channel);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trystero::rtc

// One SCTP association over usrsctp in AF_CONN mode: SCTP packets in and out (RFC 8261: they
// ride on DTLS), messages per stream, stream resets (RFC 6525), notifications. It knows streams
// and payload protocol identifiers, not data channels: whole messages (reassembled when usrsctp
// hands them over in pieces) go up to a Listener, the channel layer (sctp_transport.cpp).
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "loop/loop.hpp"
#include "rtc/packet_queue.hpp"
#include "rtc/sctp/sctp_transport.hpp"
#include "rtc/sctp/usrsctp_runtime.hpp"

namespace trystero::rtc {

class SctpAssociation final : public usrsctp::Endpoint {
 public:
  enum class State { Idle, Connecting, Connected, Closed };
  enum class SendResult { Sent, WouldBlock, Failed };
  // What a stream reset event reports (RFC 6525): our request was refused, the peer reset its
  // outgoing streams (our incoming ones), or the peer confirmed our outgoing reset.
  enum class ResetEvent { Refused, Incoming, OutgoingDone };

  // How the messages of a stream are delivered (from the channel type of a DCEP OPEN).
  struct StreamOptions {
    enum class Policy : std::uint8_t { Reliable, MaxRetransmits, MaxLifetime };
    bool unordered = false;
    Policy policy = Policy::Reliable;
    std::uint32_t value = 0;  // retransmissions or milliseconds
  };

  // The layer above. Called from service() (outside of usrsctp) or connect(); it may call back
  // into the association.
  class Listener {
   public:
    // The association is up: send() works now.
    virtual void onAssociationUp() = 0;
    // One whole message the peer sent on stream `sid`.
    virtual void onMessage(std::uint16_t sid, std::uint32_t ppid,
                           std::span<const std::uint8_t> data) = 0;
    // `sids` empty: every stream.
    virtual void onStreamReset(ResetEvent event, const std::vector<std::uint16_t>& sids) = 0;
    // usrsctp has room again after send() returned WouldBlock.
    virtual void onWritable() = 0;
    // ABORT, SHUTDOWN, lost, or failed to connect; not called for close().
    virtual void onAssociationEnded(const std::string& reason) = 0;

   protected:
    ~Listener() = default;
  };

  SctpAssociation(loop::Loop& loop, const SctpTransport::Config& config, PacketSink sendPacket,
                  Listener& listener);
  ~SctpAssociation();
  SctpAssociation(const SctpAssociation&) = delete;
  SctpAssociation& operator=(const SctpAssociation&) = delete;

  // The object owning this association, once it is shared (see usrsctp::setOwner).
  void setOwner(std::weak_ptr<void> owner);

  // Connecting takes two steps so that the layer above can assign stream ids in between:
  // begin() marks the association started (false if it was already, or is closed), connect()
  // connects and feeds it the packets that arrived before.
  bool begin();
  void connect();

  // One SCTP packet that DTLS decrypted.
  void receivePacket(std::span<const std::uint8_t> packet);

  // One message on stream `sid`; `options` null: reliable and ordered (DCEP messages).
  SendResult send(std::uint16_t sid, std::uint32_t ppid, std::span<const std::uint8_t> payload,
                  const StreamOptions* options);

  // Resets our outgoing side of `sid` (RFC 6525); the peer confirms with an OutgoingDone event
  // once it has received everything sent on the stream before.
  void resetOutgoing(std::uint16_t sid);
  // An outgoing reset of `sid` was sent and is not answered yet: the id cannot be reused.
  bool resetInProgress(std::uint16_t sid) const { return resetting_.count(sid) != 0; }

  // Closing takes two steps so that the layer above closes its channels (their callbacks run)
  // before SHUTDOWN goes out: close() marks the association closed (false if it was already),
  // shutdown() then ends a started association gracefully (SHUTDOWN once the data is out).
  bool close();
  void shutdown();

  State state() const { return state_; }
  bool started() const { return started_; }
  bool connected() const { return sock_ && state_ == State::Connected; }
  // send() would not just queue: connected and usrsctp's send buffer not known to be full.
  bool writable() const { return connected() && !writeBlocked_; }
  std::uint16_t outboundStreams() const { return outboundStreams_; }
  // Data still queued in usrsctp or unacknowledged by the peer.
  bool hasUnacknowledgedData() const;

  const SctpTransport::Stats& stats() const { return stats_; }
  // A message dropped by the layer above (malformed, unknown stream), counted here.
  void countDroppedMessage() { stats_.messagesDropped++; }

  // usrsctp::Endpoint
  void emitPacket(std::span<const std::uint8_t> packet) override;
  void service() override;

 private:
  bool configureSocket();
  void closeSocket();
  void ended(const std::string& reason);
  void issueResets();
  void readAll();
  void dropMessage(int line);
  void onDataPiece(std::uint16_t sid, std::uint32_t ppid, std::span<const std::uint8_t> data,
                   bool complete);
  void resetPartial();
  void onNotificationPiece(std::span<const std::uint8_t> data, bool complete);
  void onNotification(std::span<const std::uint8_t> data);
  void onStreamResetEvent(std::span<const std::uint8_t> data);
  void onAssociationChange(std::span<const std::uint8_t> data);

  loop::Loop& loop_;
  SctpTransport::Config config_;
  PacketSink sendPacket_;
  Listener& listener_;
  std::uintptr_t id_ = 0;
  struct socket* sock_ = nullptr;
  State state_ = State::Idle;
  bool started_ = false;
  bool writeBlocked_ = false;
  std::uint16_t outboundStreams_ = 0;
  SctpTransport::Stats stats_;

  PacketQueue early_;                            // packets that arrived before connect()
  std::vector<std::uint16_t> pendingResets_;     // outgoing resets not yet accepted by usrsctp
  std::unordered_set<std::uint16_t> resetting_;  // outgoing resets in progress

  std::vector<std::uint8_t> recvBuffer_;
  std::vector<std::uint8_t> partial_;  // reassembly of a message delivered in pieces
  int partialSid_ = -1;
  std::uint32_t partialPpid_ = 0;
  bool partialOversize_ = false;
  std::vector<std::uint8_t> notification_;
};

}  // namespace trystero::rtc

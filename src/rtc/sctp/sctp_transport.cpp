// Data channels over one SCTP association (RFC 8831, 8832): the channel table, DCEP opening,
// per-channel send queues served round-robin, and closing by stream reset.
//
// Layers of this directory, top down:
//   sctp_transport.cpp   channels (this file); dcep.cpp: their wire format; send_queue.cpp:
//                        messages waiting for room in usrsctp, served round-robin
//   sctp_association.cpp one usrsctp socket: packets, messages per stream, resets, notifications
//   usrsctp_runtime.cpp  usrsctp's process globals, timers and the registry of live associations
#include "rtc/sctp/sctp_transport.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rtc/sctp/dcep.hpp"
#include "rtc/sctp/sctp_association.hpp"
#include "rtc/sctp/send_queue.hpp"

namespace trystero::rtc {

namespace {

using SendResult = SctpAssociation::SendResult;
using ResetEvent = SctpAssociation::ResetEvent;

}  // namespace

struct SctpTransport::Impl final : SctpAssociation::Listener {
  struct Stream {
    std::shared_ptr<DataChannel> channel;
    bool openSent = false;           // our DCEP OPEN went out (local channels)
    bool resetWanted = false;        // reset the outgoing stream once the queue is drained
    bool resetRequested = false;     // outgoing reset handed to the association
    bool incomingReset = false;      // the peer closed its side
    bool outgoingResetDone = false;  // the peer confirmed our reset: it has all we sent
    SctpAssociation::StreamOptions options;
  };

  SctpTransport* owner;
  loop::Loop& loop;
  Config config;
  Callbacks callbacks;
  SctpAssociation association;
  bool isClient = false;
  bool flushing = false;

  std::unordered_map<std::uint16_t, Stream> streams;
  std::vector<std::shared_ptr<DataChannel>> unassigned;  // created before start()
  SendQueue queue;

  Impl(SctpTransport* owner, loop::Loop& loop, Config config, Callbacks callbacks)
      : owner(owner),
        loop(loop),
        config(config),
        callbacks(std::move(callbacks)),
        association(loop, config, this->callbacks.sendPacket, *this) {}

  ~Impl() {
    // Channels the application still holds just turn Closed; no callbacks from a destructor.
    for (auto& [sid, stream] : streams) {
      if (stream.channel) stream.channel->state_ = DataChannel::State::Closed;
    }
    for (auto& channel : unassigned) channel->state_ = DataChannel::State::Closed;
  }

  std::shared_ptr<DataChannel> newChannel(std::string label, std::string protocol) {
    return std::shared_ptr<DataChannel>(
        new DataChannel(owner->weak_from_this(), std::move(label), std::move(protocol)));
  }

  // Counted, and logged with where (source line) for diagnosis: drops are rare and unexpected.
  void dropMessage(int line) {
    association.countDroppedMessage();
    g_debug("trystero: sctp: message dropped (sctp_transport.cpp:%d)", line);
  }

  // ---- opening --------------------------------------------------------------------------------

  void start(bool client) {
    if (!association.begin()) return;
    isClient = client;
    auto pendingChannels = std::move(unassigned);
    unassigned.clear();
    for (auto& channel : pendingChannels) {
      int sid = allocateStreamId();
      if (sid < 0) {
        finishClose(channel);
        continue;
      }
      channel->streamId_ = sid;
      streams[static_cast<std::uint16_t>(sid)].channel = channel;
    }
    association.connect();
  }

  std::shared_ptr<DataChannel> createDataChannel(const std::string& label,
                                                 const std::string& protocol) {
    auto channel = newChannel(label, protocol);
    if (association.state() == SctpAssociation::State::Closed || label.size() > 0xffff ||
        protocol.size() > 0xffff) {
      channel->state_ = DataChannel::State::Closed;
      return channel;
    }
    if (!association.started()) {
      unassigned.push_back(channel);
      return channel;
    }
    int sid = allocateStreamId();
    if (sid < 0) {
      channel->state_ = DataChannel::State::Closed;
      return channel;
    }
    channel->streamId_ = sid;
    streams[static_cast<std::uint16_t>(sid)].channel = channel;
    if (association.connected()) sendOpen(static_cast<std::uint16_t>(sid));
    usrsctp::scheduleDrain(loop);
    return channel;
  }

  int allocateStreamId() const {
    std::uint32_t limit =
        association.connected() ? association.outboundStreams() : usrsctp::kMaxStreams;
    for (std::uint32_t sid = isClient ? 0 : 1; sid < limit; sid += 2) {
      auto key = static_cast<std::uint16_t>(sid);
      if (!streams.count(key) && !association.resetInProgress(key)) return static_cast<int>(sid);
    }
    return -1;
  }

  void onAssociationUp() override {
    std::vector<std::uint16_t> sids;
    for (const auto& [sid, stream] : streams) {
      if (!stream.openSent && stream.channel->state_ == DataChannel::State::Connecting) {
        sids.push_back(sid);
      }
    }
    std::sort(sids.begin(), sids.end());
    for (auto sid : sids) sendOpen(sid);
    if (callbacks.onConnected) callbacks.onConnected();
  }

  void sendOpen(std::uint16_t sid) {
    auto it = streams.find(sid);
    if (it == streams.end() || !it->second.channel || it->second.openSent) return;
    Stream& stream = it->second;
    if (sid >= association.outboundStreams()) {
      auto channel = stream.channel;
      eraseStream(sid);
      if (channel->onError_) channel->onError_("no SCTP stream available for the channel");
      finishClose(channel);
      return;
    }
    stream.openSent = true;
    auto message = dcep::buildOpen(stream.channel->label_, stream.channel->protocol_);
    submit(sid, stream, dcep::kPpid, message, 0, true);
  }

  void onDcep(std::uint16_t sid, std::span<const std::uint8_t> data) {
    if (dcep::isAck(data)) {
      auto it = streams.find(sid);
      if (it == streams.end() || !it->second.openSent) {
        dropMessage(__LINE__);
        return;
      }
      auto channel = it->second.channel;
      channel->setOpen();
      return;
    }
    if (streams.count(sid)) {
      g_debug("trystero: sctp: DCEP OPEN for stream %u, which is in use: dropped",
              static_cast<unsigned>(sid));
    }
    auto request = dcep::parseOpen(data);
    if (!request || streams.count(sid) || sid == 0xffff || !association.connected()) {
      dropMessage(__LINE__);
      return;
    }
    auto channel = newChannel(std::move(request->label), std::move(request->protocol));
    channel->streamId_ = sid;
    channel->state_ = DataChannel::State::Open;
    Stream& stream = streams[sid];
    stream.channel = channel;
    stream.options = request->options;
    submit(sid, stream, dcep::kPpid, dcep::ack(), 0, true);
    if (callbacks.onDataChannel) callbacks.onDataChannel(channel);
  }

  // ---- sending --------------------------------------------------------------------------------

  std::size_t sendLimit() const {
    std::size_t limit = config.remoteMaxMessageSize ? config.remoteMaxMessageSize : 65536;
    return std::min<std::size_t>(limit, usrsctp::kSendSpace);
  }

  bool sendMessage(DataChannel& channel, std::span<const std::uint8_t> data, bool binary) {
    if (channel.state_ != DataChannel::State::Open || !association.connected()) return false;
    if (data.size() > sendLimit()) return false;
    if (channel.streamId_ < 0) return false;
    auto sid = static_cast<std::uint16_t>(channel.streamId_);
    auto it = streams.find(sid);
    if (it == streams.end() || it->second.channel.get() != &channel) return false;
    static const std::uint8_t kZero = 0;
    // RFC 8831 section 6.6: an empty message is sent as one byte with the "empty" PPID.
    dcep::MessageKind kind{binary, data.empty()};
    std::span<const std::uint8_t> payload = kind.empty ? std::span(&kZero, 1) : data;
    bool ok = submit(sid, it->second, dcep::ppidFor(kind), payload, data.size(), false);
    usrsctp::scheduleDrain(loop);
    return ok;
  }

  SendResult sendNow(std::uint16_t sid, const Stream& stream, std::uint32_t ppid,
                     std::span<const std::uint8_t> payload, bool control) {
    // DCEP messages are always reliable and ordered (RFC 8832 section 6).
    return association.send(sid, ppid, payload, control ? nullptr : &stream.options);
  }

  // Hands a message to usrsctp now if nothing is queued ahead of it, else queues it.
  bool submit(std::uint16_t sid, Stream& stream, std::uint32_t ppid,
              std::span<const std::uint8_t> payload, std::size_t userSize, bool control) {
    if (queue.empty(sid) && association.writable()) {
      switch (sendNow(sid, stream, ppid, payload, control)) {
        case SendResult::Sent:
          return true;
        case SendResult::Failed:
          return false;
        case SendResult::WouldBlock:
          break;
      }
    }
    queue.push(sid, ppid, payload, control ? 0 : userSize, control);
    if (!control && stream.channel) stream.channel->bufferedAmount_ += userSize;
    return true;
  }

  void onWritable() override {
    if (!queue.empty()) flush();
  }

  // Sends queued messages round-robin across streams until usrsctp's buffer is full.
  void flush() {
    if (flushing) return;
    flushing = true;
    std::uint16_t sid = 0;
    while (association.writable()) {
      const SendQueue::Message* message = queue.front(sid);
      if (!message) break;
      auto it = streams.find(sid);
      if (it == streams.end()) {
        queue.erase(sid);
        continue;
      }
      SendResult result = sendNow(sid, it->second, message->ppid, message->data, message->control);
      if (result == SendResult::WouldBlock) break;
      afterSent(sid, it->second, queue.pop(sid), result == SendResult::Failed);
    }
    flushing = false;
  }

  // A queued message went out (or failed for good): channel callbacks, then the stream's reset if
  // it waited for the queue to drain.
  void afterSent(std::uint16_t sid, Stream& stream, std::size_t userSize, bool failed) {
    bool resetNow = queue.empty(sid) && stream.resetWanted;
    std::shared_ptr<DataChannel> channel = stream.channel;
    // From here on callbacks may run: do not use `stream` any more.
    if (failed && channel && channel->onError_) channel->onError_("SCTP send failed");
    if (channel && userSize > 0) channel->bufferedAmountSent(userSize);
    if (resetNow) {
      auto again = streams.find(sid);
      if (again != streams.end() && again->second.resetWanted && queue.empty(sid)) {
        requestReset(sid);
      }
    }
  }

  bool hasDataInFlight() const {
    if (!association.connected()) return false;
    return !queue.empty() || association.hasUnacknowledgedData();
  }

  // ---- receiving ------------------------------------------------------------------------------

  void onMessage(std::uint16_t sid, std::uint32_t ppid,
                 std::span<const std::uint8_t> data) override {
    if (ppid == dcep::kPpid) {
      onDcep(sid, data);
      return;
    }
    auto it = streams.find(sid);
    if (it == streams.end() || !it->second.channel) {
      dropMessage(__LINE__);
      g_debug("trystero: sctp: %zu bytes on stream %u, which has no channel: dropped", data.size(),
              static_cast<unsigned>(sid));
      return;
    }
    auto kind = dcep::messageKind(ppid);
    if (!kind) {
      dropMessage(__LINE__);
      return;
    }
    std::shared_ptr<DataChannel> channel = it->second.channel;
    if (channel->state_ == DataChannel::State::Connecting) {
      // Data before the ACK: the peer evidently accepted the channel (browsers do the same).
      channel->setOpen();
    }
    // A channel we are closing still delivers what the peer sent before it saw our reset.
    if (channel->state_ != DataChannel::State::Open &&
        channel->state_ != DataChannel::State::Closing) {
      dropMessage(__LINE__);
      g_debug("trystero: sctp: %zu bytes on closed stream %u: dropped", data.size(),
              static_cast<unsigned>(sid));
      return;
    }
    if (channel->onMessage_) {
      channel->onMessage_(kind->empty ? std::span<const std::uint8_t>() : data, kind->binary);
    } else {
      g_debug("trystero: sctp: %zu bytes on stream %u, which nobody reads: dropped", data.size(),
              static_cast<unsigned>(sid));
    }
  }

  // ---- closing --------------------------------------------------------------------------------

  void closeChannel(DataChannel& channel) {
    if (channel.state_ == DataChannel::State::Closing ||
        channel.state_ == DataChannel::State::Closed) {
      return;
    }
    auto self = channel.shared_from_this();
    if (channel.streamId_ < 0) {
      unassigned.erase(std::remove(unassigned.begin(), unassigned.end(), self), unassigned.end());
      finishClose(self);
      return;
    }
    auto sid = static_cast<std::uint16_t>(channel.streamId_);
    auto it = streams.find(sid);
    if (it == streams.end() || it->second.channel != self) {
      finishClose(self);
      return;
    }
    if (association.state() != SctpAssociation::State::Connected) {
      // Never announced to the peer: nothing to reset.
      eraseStream(sid);
      finishClose(self);
      return;
    }
    channel.state_ = DataChannel::State::Closing;
    // Messages accepted by send() before close() still go out, then the stream is reset.
    if (queue.empty(sid)) {
      requestReset(sid);
    } else {
      it->second.resetWanted = true;
    }
    usrsctp::scheduleDrain(loop);
  }

  void requestReset(std::uint16_t sid) {
    auto it = streams.find(sid);
    if (it != streams.end()) {
      if (it->second.resetRequested) return;
      it->second.resetRequested = true;
      it->second.resetWanted = false;
    }
    association.resetOutgoing(sid);
  }

  void onStreamReset(ResetEvent event, const std::vector<std::uint16_t>& list) override {
    std::vector<std::uint16_t> sids = list;
    if (sids.empty()) {
      for (const auto& [sid, stream] : streams) sids.push_back(sid);
      std::sort(sids.begin(), sids.end());
    }
    for (auto sid : sids) {
      auto it = streams.find(sid);
      if (it == streams.end()) continue;
      switch (event) {
        case ResetEvent::Refused:
          // Our request was refused: close the channel locally.
          if (it->second.channel->state_ == DataChannel::State::Closing) closeStream(sid);
          break;
        case ResetEvent::Incoming:
          onIncomingReset(sid, it->second);
          break;
        case ResetEvent::OutgoingDone:
          it->second.outgoingResetDone = true;
          // If we closed first, the peer's reset follows.
          if (it->second.incomingReset) closeStream(sid);
          break;
      }
    }
  }

  // The peer closed its side: close ours too (RFC 8831 section 6.7). What send() accepted before
  // still goes out (the peer keeps reading until our reset arrives), then ours is reset, and the
  // channel closes only once the peer confirms that reset: it does so after it has received
  // everything we sent on the stream (RFC 6525 section 5.2.2). Closing earlier would let the
  // connection be torn down with our last messages unacknowledged.
  void onIncomingReset(std::uint16_t sid, Stream& stream) {
    stream.incomingReset = true;
    if (stream.outgoingResetDone || !association.connected()) {
      closeStream(sid);
      return;
    }
    stream.channel->state_ = DataChannel::State::Closing;
    if (stream.resetRequested) return;
    if (queue.empty(sid)) {
      requestReset(sid);
    } else {
      stream.resetWanted = true;
    }
  }

  void closeStream(std::uint16_t sid) {
    auto it = streams.find(sid);
    if (it == streams.end()) return;
    auto channel = it->second.channel;
    eraseStream(sid);
    finishClose(channel);
  }

  void eraseStream(std::uint16_t sid) {
    auto it = streams.find(sid);
    if (it == streams.end()) return;
    queue.erase(sid);
    streams.erase(it);
  }

  void finishClose(const std::shared_ptr<DataChannel>& channel) {
    if (channel) channel->setClosed(loop);
  }

  void closeAllChannels() {
    std::vector<std::shared_ptr<DataChannel>> channels;
    for (auto& [sid, stream] : streams) {
      if (stream.channel) channels.push_back(stream.channel);
    }
    std::sort(channels.begin(), channels.end(),
              [](const auto& a, const auto& b) { return a->streamId_ < b->streamId_; });
    channels.insert(channels.end(), unassigned.begin(), unassigned.end());
    streams.clear();
    unassigned.clear();
    queue.clear();
    for (auto& channel : channels) finishClose(channel);
  }

  void close() {
    if (!association.close()) return;
    closeAllChannels();
    association.shutdown();
    if (callbacks.onClosed) callbacks.onClosed("closed");
    usrsctp::scheduleDrain(loop);
  }

  void onAssociationEnded(const std::string& reason) override {
    closeAllChannels();
    if (callbacks.onClosed) callbacks.onClosed(reason);
  }
};

std::shared_ptr<SctpTransport> SctpTransport::create(loop::Loop& loop, Config config,
                                                     Callbacks callbacks) {
  auto transport =
      std::shared_ptr<SctpTransport>(new SctpTransport(loop, config, std::move(callbacks)));
  transport->impl_->association.setOwner(transport);
  return transport;
}

SctpTransport::SctpTransport(loop::Loop& loop, Config config, Callbacks callbacks)
    : impl_(std::make_unique<Impl>(this, loop, config, std::move(callbacks))) {}

SctpTransport::~SctpTransport() = default;

void SctpTransport::start(bool isDtlsClient) { impl_->start(isDtlsClient); }

void SctpTransport::receive(std::span<const std::uint8_t> packet) {
  impl_->association.receivePacket(packet);
}

std::shared_ptr<DataChannel> SctpTransport::createDataChannel(const std::string& label,
                                                              const std::string& protocol) {
  return impl_->createDataChannel(label, protocol);
}

void SctpTransport::setRemoteMaxMessageSize(std::size_t bytes) {
  impl_->config.remoteMaxMessageSize = bytes;
}

void SctpTransport::close() { impl_->close(); }

bool SctpTransport::connected() const {
  return impl_->association.state() == SctpAssociation::State::Connected;
}

TransportState SctpTransport::transportState() const {
  switch (impl_->association.state()) {
    case SctpAssociation::State::Idle:
      return TransportState::New;
    case SctpAssociation::State::Connecting:
      return TransportState::Connecting;
    case SctpAssociation::State::Connected:
      return TransportState::Connected;
    case SctpAssociation::State::Closed:
      break;
  }
  return TransportState::Closed;
}

SctpTransport::Stats SctpTransport::stats() const { return impl_->association.stats(); }

bool SctpTransport::hasDataInFlight() const { return impl_->hasDataInFlight(); }

bool SctpTransport::sendMessage(DataChannel& channel, std::span<const std::uint8_t> data,
                                bool binary) {
  return impl_->sendMessage(channel, data, binary);
}

void SctpTransport::closeChannel(DataChannel& channel) { impl_->closeChannel(channel); }

}  // namespace trystero::rtc

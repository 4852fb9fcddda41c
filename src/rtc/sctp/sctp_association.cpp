#include "rtc/sctp/sctp_association.hpp"

#include <arpa/inet.h>
#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace trystero::rtc {

namespace {

// Largest SCTP packet handed to DTLS. usrsctp's AF_CONN path MTU does not count the 12-byte
// common header, hence the subtraction.
constexpr std::uint32_t kMaxPacketSize = 1200;
constexpr std::uint32_t kPathMtu = kMaxPacketSize - sizeof(sctp_common_header);
constexpr std::size_t kRecvChunk = 64 * 1024;
constexpr std::size_t kMaxEarlyPackets = 64;
constexpr std::size_t kMaxNotification = 64 * 1024;
constexpr std::size_t kMinPacket = 12 + 4;  // common header and one chunk header
constexpr std::size_t kMaxPacket = 65536;
// A reassembly buffer up to this size is kept for the next message.
constexpr std::size_t kReusableBufferMaxCapacity = 256 * 1024;

sockaddr_conn connAddress(std::uintptr_t id, std::uint16_t port) {
  sockaddr_conn addr{};
  addr.sconn_family = AF_CONN;
  addr.sconn_port = htons(port);
  addr.sconn_addr = usrsctp::address(id);
  return addr;
}

template <typename T>
bool setOption(struct socket* sock, int level, int name, const T& value) {
  return usrsctp_setsockopt(sock, level, name, &value, sizeof(value)) == 0;
}

// Reads a notification struct that usrsctp may have truncated.
template <typename T>
bool readStruct(std::span<const std::uint8_t> data, T& out) {
  if (data.size() < sizeof(out)) return false;
  std::memcpy(&out, data.data(), sizeof(out));
  return true;
}

}  // namespace

SctpAssociation::SctpAssociation(loop::Loop& loop, const SctpTransport::Config& config,
                                 PacketSink sendPacket, Listener& listener)
    : loop_(loop),
      config_(config),
      sendPacket_(std::move(sendPacket)),
      listener_(listener),
      early_(kMaxEarlyPackets) {
  recvBuffer_.resize(kRecvChunk);
  id_ = usrsctp::attach(loop_, *this);
  usrsctp_register_address(usrsctp::address(id_));
  sock_ = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
  if (!sock_ || !configureSocket()) {
    if (sock_) closeSocket();
    state_ = State::Closed;
  }
}

SctpAssociation::~SctpAssociation() {
  // From here on usrsctp cannot reach this object: packets it still emits for the association
  // (the ABORT sent by close) are dropped.
  usrsctp::detach(id_, loop_);
  closeSocket();
  usrsctp_deregister_address(usrsctp::address(id_));
}

void SctpAssociation::setOwner(std::weak_ptr<void> owner) {
  usrsctp::setOwner(id_, std::move(owner));
}

// ---- socket -----------------------------------------------------------------------------------

bool SctpAssociation::configureSocket() {
  if (usrsctp_set_non_blocking(sock_, 1) != 0) return false;
  struct linger abortOnClose {
    1, 0
  };
  setOption(sock_, SOL_SOCKET, SO_LINGER, abortOnClose);
  int sendSpace = static_cast<int>(usrsctp::kSendSpace);
  int recvSpace = static_cast<int>(usrsctp::kRecvSpace);
  setOption(sock_, SOL_SOCKET, SO_SNDBUF, sendSpace);
  setOption(sock_, SOL_SOCKET, SO_RCVBUF, recvSpace);

  sctp_assoc_value reset{};
  reset.assoc_id = SCTP_FUTURE_ASSOC;
  reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ | SCTP_ENABLE_CHANGE_ASSOC_REQ;
  if (!setOption(sock_, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, reset)) return false;
  int on = 1;
  int off = 0;
  if (!setOption(sock_, IPPROTO_SCTP, SCTP_RECVRCVINFO, on)) return false;
  setOption(sock_, IPPROTO_SCTP, SCTP_NODELAY, on);
  setOption(sock_, IPPROTO_SCTP, SCTP_EXPLICIT_EOR, off);

  for (std::uint16_t type :
       {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SENDER_DRY_EVENT, SCTP_SEND_FAILED_EVENT,
        SCTP_SHUTDOWN_EVENT, SCTP_PARTIAL_DELIVERY_EVENT, SCTP_STREAM_CHANGE_EVENT,
        SCTP_REMOTE_ERROR}) {
    sctp_event event{};
    event.se_assoc_id = SCTP_FUTURE_ASSOC;
    event.se_type = type;
    event.se_on = 1;
    if (!setOption(sock_, IPPROTO_SCTP, SCTP_EVENT, event)) return false;
  }

  sctp_initmsg init{};
  init.sinit_num_ostreams = usrsctp::kMaxStreams;
  init.sinit_max_instreams = usrsctp::kMaxStreams;
  if (!setOption(sock_, IPPROTO_SCTP, SCTP_INITMSG, init)) return false;

  sctp_paddrparams peer{};
  peer.spp_assoc_id = SCTP_FUTURE_ASSOC;
  peer.spp_flags = SPP_PMTUD_DISABLE;
  peer.spp_pathmtu = kPathMtu;
  setOption(sock_, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, peer);

  usrsctp::setUpcall(sock_, id_);

  sockaddr_conn local = connAddress(id_, config_.localPort);
  return usrsctp_bind(sock_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0;
}

void SctpAssociation::closeSocket() {
  if (!sock_) return;
  usrsctp::clearUpcall(sock_);
  usrsctp_close(sock_);
  sock_ = nullptr;
}

void SctpAssociation::emitPacket(std::span<const std::uint8_t> packet) {
  stats_.packetsSent++;
  stats_.bytesSent += packet.size();
  if (sendPacket_) sendPacket_(packet);
}

// ---- connecting and closing -------------------------------------------------------------------

bool SctpAssociation::begin() {
  if (started_ || state_ == State::Closed) return false;
  started_ = true;
  state_ = State::Connecting;
  return true;
}

void SctpAssociation::connect() {
  sockaddr_conn remote = connAddress(id_, config_.remotePort);
  int result = usrsctp_connect(sock_, reinterpret_cast<sockaddr*>(&remote), sizeof(remote));
  if (result != 0 && errno != EINPROGRESS) {
    ended("SCTP connect failed");
    return;
  }
  // Packets the peer sent before we connected: usrsctp would have answered them with ABORT.
  for (auto& packet : early_.takeAll()) {
    usrsctp_conninput(usrsctp::address(id_), packet.data(), packet.size(), 0);
  }
  usrsctp::scheduleDrain(loop_);
}

bool SctpAssociation::close() {
  if (state_ == State::Closed) return false;
  state_ = State::Closed;
  pendingResets_.clear();
  resetting_.clear();
  return true;
}

void SctpAssociation::shutdown() {
  if (sock_ && started_) usrsctp_shutdown(sock_, SHUT_RDWR);
}

void SctpAssociation::ended(const std::string& reason) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  pendingResets_.clear();
  resetting_.clear();
  listener_.onAssociationEnded(reason);
}

bool SctpAssociation::hasUnacknowledgedData() const {
  if (!connected()) return false;
  sctp_status status{};
  socklen_t length = sizeof status;
  if (usrsctp_getsockopt(sock_, IPPROTO_SCTP, SCTP_STATUS, &status, &length) != 0) return false;
  return status.sstat_unackdata > 0 || status.sstat_penddata > 0;
}

// ---- sending ----------------------------------------------------------------------------------

SctpAssociation::SendResult SctpAssociation::send(std::uint16_t sid, std::uint32_t ppid,
                                                  std::span<const std::uint8_t> payload,
                                                  const StreamOptions* options) {
  if (!sock_) return SendResult::Failed;
  sctp_sendv_spa spa{};
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
  spa.sendv_sndinfo.snd_sid = sid;
  spa.sendv_sndinfo.snd_ppid = htonl(ppid);
  if (options) {
    if (options->unordered) spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
    if (options->policy != StreamOptions::Policy::Reliable) {
      spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
      spa.sendv_prinfo.pr_policy = options->policy == StreamOptions::Policy::MaxRetransmits
                                       ? SCTP_PR_SCTP_RTX
                                       : SCTP_PR_SCTP_TTL;
      spa.sendv_prinfo.pr_value = options->value;
    }
  }
  ssize_t sent = usrsctp_sendv(sock_, payload.data(), payload.size(), nullptr, 0, &spa, sizeof(spa),
                               SCTP_SENDV_SPA, 0);
  if (sent >= 0) return SendResult::Sent;
  if (errno == EWOULDBLOCK || errno == EAGAIN) {
    writeBlocked_ = true;
    return SendResult::WouldBlock;
  }
  return SendResult::Failed;
}

// ---- stream reset -----------------------------------------------------------------------------

void SctpAssociation::resetOutgoing(std::uint16_t sid) {
  if (!sock_ || state_ != State::Connected) return;
  if (std::find(pendingResets_.begin(), pendingResets_.end(), sid) == pendingResets_.end()) {
    pendingResets_.push_back(sid);
  }
  issueResets();
}

void SctpAssociation::issueResets() {
  if (pendingResets_.empty() || !sock_ || state_ != State::Connected) return;
  std::size_t count = std::min<std::size_t>(pendingResets_.size(), 1024);
  std::size_t length = sizeof(sctp_reset_streams) + count * sizeof(std::uint16_t);
  std::vector<std::uint8_t> buffer(length);
  sctp_reset_streams header{};
  header.srs_assoc_id = SCTP_ALL_ASSOC;
  header.srs_flags = SCTP_STREAM_RESET_OUTGOING;
  header.srs_number_streams = static_cast<std::uint16_t>(count);
  std::memcpy(buffer.data(), &header, sizeof(header));
  std::memcpy(buffer.data() + sizeof(header), pendingResets_.data(), count * sizeof(std::uint16_t));
  auto issued = pendingResets_.begin() + static_cast<std::ptrdiff_t>(count);
  if (usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RESET_STREAMS, buffer.data(),
                         static_cast<socklen_t>(length)) == 0) {
    resetting_.insert(pendingResets_.begin(), issued);
    pendingResets_.erase(pendingResets_.begin(), issued);
  } else if (errno != EALREADY && errno != EBUSY && errno != EAGAIN && errno != ENOMEM) {
    // The stream is already reset or the association is gone: nothing to wait for.
    pendingResets_.erase(pendingResets_.begin(), issued);
  }
  // Otherwise another reset is in flight: retried on the next stream reset event or tick.
}

void SctpAssociation::onStreamResetEvent(std::span<const std::uint8_t> data) {
  sctp_stream_reset_event event{};
  if (!readStruct(data, event)) return;
  std::size_t count = (data.size() - sizeof(event)) / sizeof(std::uint16_t);
  std::vector<std::uint16_t> sids(count);
  if (count) std::memcpy(sids.data(), data.data() + sizeof(event), count * 2);
  if (state_ != State::Connected) return;
  std::uint16_t flags = event.strreset_flags;
  if (flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED |
               SCTP_STREAM_RESET_INCOMING_SSN | SCTP_STREAM_RESET_OUTGOING_SSN)) {
    ResetEvent kind = (flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED))
                          ? ResetEvent::Refused
                      : (flags & SCTP_STREAM_RESET_INCOMING_SSN) ? ResetEvent::Incoming
                                                                 : ResetEvent::OutgoingDone;
    // Our outgoing resets of these streams are answered, either way.
    if (kind != ResetEvent::Incoming) {
      if (sids.empty()) {
        resetting_.clear();
      } else {
        for (auto sid : sids) resetting_.erase(sid);
      }
    }
    listener_.onStreamReset(kind, sids);
  }
  issueResets();
}

// ---- receiving --------------------------------------------------------------------------------

void SctpAssociation::receivePacket(std::span<const std::uint8_t> packet) {
  stats_.packetsReceived++;
  stats_.bytesReceived += packet.size();
  if (!sock_ || packet.size() < kMinPacket || packet.size() > kMaxPacket) return;
  if (!started_) {
    early_.push(packet);
    return;
  }
  usrsctp_conninput(usrsctp::address(id_), packet.data(), packet.size(), 0);
  usrsctp::drainThisThread();
}

// Reads everything usrsctp has for us and sends what it now has room for.
void SctpAssociation::service() {
  if (!sock_) return;
  int events = usrsctp_get_events(sock_);
  if (events < 0) return;
  if (events & SCTP_EVENT_READ) readAll();
  if (!sock_) return;
  if (events & SCTP_EVENT_WRITE) {
    writeBlocked_ = false;
    listener_.onWritable();
  }
  if (!pendingResets_.empty()) issueResets();
}

void SctpAssociation::readAll() {
  while (sock_) {
    sctp_rcvinfo info{};
    socklen_t infoLength = sizeof(info);
    unsigned int infoType = SCTP_RECVV_NOINFO;
    int flags = 0;
    sockaddr_conn from{};
    socklen_t fromLength = sizeof(from);
    ssize_t n = usrsctp_recvv(sock_, recvBuffer_.data(), recvBuffer_.size(),
                              reinterpret_cast<sockaddr*>(&from), &fromLength, &info, &infoLength,
                              &infoType, &flags);
    if (n < 0) {
      if (errno != EWOULDBLOCK && errno != EAGAIN && errno != EINTR && errno != ENOTCONN &&
          state_ == State::Connected) {
        ended("SCTP receive failed");
      }
      return;
    }
    if (n == 0) {
      if (state_ == State::Connected || state_ == State::Connecting) {
        ended("SCTP association ended");
      }
      return;
    }
    std::span<const std::uint8_t> data(recvBuffer_.data(), static_cast<std::size_t>(n));
    bool complete = (flags & MSG_EOR) != 0;
    if (flags & MSG_NOTIFICATION) {
      onNotificationPiece(data, complete);
      continue;
    }
    if (state_ == State::Closed) continue;
    if (infoType != SCTP_RECVV_RCVINFO) {
      dropMessage(__LINE__);
      continue;
    }
    onDataPiece(info.rcv_sid, ntohl(info.rcv_ppid), data, complete);
  }
}

// Counted, and logged with where (source line) for diagnosis: drops are rare and unexpected.
void SctpAssociation::dropMessage(int line) {
  stats_.messagesDropped++;
  g_debug("trystero: sctp: message dropped (sctp_association.cpp:%d)", line);
}

void SctpAssociation::resetPartial() {
  partial_.clear();
  partialSid_ = -1;
  partialPpid_ = 0;
  partialOversize_ = false;
}

// usrsctp hands a message over in pieces when it is larger than the receive buffer, or when
// partial delivery started: pieces are put together here, up to the local maximum size.
void SctpAssociation::onDataPiece(std::uint16_t sid, std::uint32_t ppid,
                                  std::span<const std::uint8_t> data, bool complete) {
  if (partialSid_ < 0 && complete) {
    if (data.size() > config_.localMaxMessageSize) {
      dropMessage(__LINE__);
      return;
    }
    listener_.onMessage(sid, ppid, data);
    return;
  }
  if (partialSid_ >= 0 && (partialSid_ != sid || partialPpid_ != ppid)) {
    // Pieces of another message: the previous one will never complete.
    dropMessage(__LINE__);
    resetPartial();
  }
  if (partialSid_ < 0) {
    partialSid_ = sid;
    partialPpid_ = ppid;
  }
  if (!partialOversize_) {
    if (partial_.size() + data.size() > config_.localMaxMessageSize) {
      partialOversize_ = true;
      partial_.clear();
      partial_.shrink_to_fit();
    } else {
      partial_.insert(partial_.end(), data.begin(), data.end());
    }
  }
  if (!complete) return;
  if (partialOversize_) {
    dropMessage(__LINE__);
    resetPartial();
    return;
  }
  std::vector<std::uint8_t> message = std::move(partial_);
  resetPartial();
  listener_.onMessage(sid, ppid, message);
  if (partial_.capacity() == 0 && message.capacity() <= kReusableBufferMaxCapacity) {
    message.clear();
    partial_ = std::move(message);
  }
}

// ---- notifications ----------------------------------------------------------------------------

void SctpAssociation::onNotificationPiece(std::span<const std::uint8_t> data, bool complete) {
  if (notification_.empty() && complete) {
    onNotification(data);
    return;
  }
  if (notification_.size() + data.size() <= kMaxNotification) {
    notification_.insert(notification_.end(), data.begin(), data.end());
  }
  if (!complete) return;
  std::vector<std::uint8_t> whole = std::move(notification_);
  notification_.clear();
  onNotification(whole);
}

void SctpAssociation::onNotification(std::span<const std::uint8_t> data) {
  sctp_notification::sctp_tlv header{};
  if (!readStruct(data, header)) return;
  if (header.sn_length < data.size()) data = data.first(header.sn_length);
  switch (header.sn_type) {
    case SCTP_ASSOC_CHANGE:
      onAssociationChange(data);
      break;
    case SCTP_STREAM_RESET_EVENT:
      onStreamResetEvent(data);
      break;
    case SCTP_SENDER_DRY_EVENT:
      writeBlocked_ = false;
      listener_.onWritable();
      break;
    case SCTP_SHUTDOWN_EVENT:
      ended("SCTP association shut down by the peer");
      break;
    case SCTP_PARTIAL_DELIVERY_EVENT: {
      sctp_pdapi_event event{};
      if (!readStruct(data, event)) return;
      if (event.pdapi_indication == SCTP_PARTIAL_DELIVERY_ABORTED && partialSid_ >= 0) {
        dropMessage(__LINE__);
        resetPartial();
      }
      break;
    }
    case SCTP_STREAM_CHANGE_EVENT: {
      sctp_stream_change_event event{};
      if (!readStruct(data, event)) return;
      if (!(event.strchange_flags & (SCTP_STREAM_CHANGE_DENIED | SCTP_STREAM_CHANGE_FAILED))) {
        outboundStreams_ = event.strchange_outstrms;
      }
      break;
    }
    default:
      break;
  }
}

void SctpAssociation::onAssociationChange(std::span<const std::uint8_t> data) {
  sctp_assoc_change change{};
  if (!readStruct(data, change)) return;
  switch (change.sac_state) {
    case SCTP_COMM_UP:
      if (state_ != State::Connecting) return;
      state_ = State::Connected;
      outboundStreams_ = change.sac_outbound_streams;
      listener_.onAssociationUp();
      break;
    case SCTP_COMM_LOST:
      ended("SCTP association lost");
      break;
    case SCTP_SHUTDOWN_COMP:
      ended("SCTP association shut down");
      break;
    case SCTP_CANT_STR_ASSOC:
      ended("SCTP association could not be established");
      break;
    default:
      break;
  }
}

}  // namespace trystero::rtc

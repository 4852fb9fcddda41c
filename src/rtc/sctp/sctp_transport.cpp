// SCTP over DTLS with usrsctp in AF_CONN mode, and DCEP data channels (RFC 8831, 8832).
//
// Threading model. usrsctp is process-global and runs without threads of its own: each Loop
// that owns at least one transport runs a 10 ms timer that advances usrsctp's clock by the
// real time elapsed since the previous tick (by whichever loop). A usrsctp timer can therefore
// fire on the thread of another loop than the one owning the association; the output and
// upcall callbacks detect that and hand the work over to the owning loop with post().
//
// usrsctp only ever sees an opaque numeric id (registered with usrsctp_register_address and
// passed as the upcall argument), never a pointer: callbacks resolve it through a registry
// under a mutex, so a packet or upcall for a transport that has been destroyed is dropped.
//
// Upcalls only record that a socket needs attention; the socket is read and written later,
// outside of usrsctp (at the end of receivePacket, of a timer tick, or in a posted task), so
// user callbacks never run with usrsctp frames on the stack.
#include "rtc/sctp/sctp_transport.hpp"

#include <arpa/inet.h>
#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace trystero::rtc {

namespace {

// Payload protocol identifiers (RFC 8831 section 8, RFC 8832).
constexpr std::uint32_t kPpidDcep = 50;
constexpr std::uint32_t kPpidString = 51;
constexpr std::uint32_t kPpidBinaryPartial = 52;  // deprecated
constexpr std::uint32_t kPpidBinary = 53;
constexpr std::uint32_t kPpidStringPartial = 54;  // deprecated
constexpr std::uint32_t kPpidStringEmpty = 56;
constexpr std::uint32_t kPpidBinaryEmpty = 57;

// DCEP message types and channel types.
constexpr std::uint8_t kDcepAck = 0x02;
constexpr std::uint8_t kDcepOpen = 0x03;
constexpr std::uint8_t kChannelReliable = 0x00;
constexpr std::uint8_t kChannelPartialRexmit = 0x01;
constexpr std::uint8_t kChannelPartialTimed = 0x02;
constexpr std::uint8_t kChannelUnorderedBit = 0x80;
constexpr std::uint16_t kDcepPriorityLow = 256;  // W3C "low", the default
constexpr std::size_t kDcepOpenHeader = 12;

// Socket buffers: the send buffer bounds what usrsctp holds before EWOULDBLOCK (and so the data
// in flight), the receive buffer is the advertised window. In-process, CPU per MB grows with
// the send buffer (usrsctp walks longer queues): 1 MiB cost ~0.50 s of CPU per 128 MiB, 2 MiB
// ~0.6 s, 4 MiB ~0.95 s. 1 MiB still allows ~20 MB/s at 50 ms of RTT.
constexpr std::uint32_t kSendSpace = 1024 * 1024;
constexpr std::uint32_t kRecvSpace = 4 * 1024 * 1024;
constexpr std::uint32_t kMaxChunksOnQueue = 32768;
// Largest SCTP packet handed to DTLS. usrsctp's AF_CONN path MTU does not count the 12-byte
// common header, hence the subtraction.
constexpr std::uint32_t kMaxPacketSize = 1200;
constexpr std::uint32_t kPathMtu = kMaxPacketSize - sizeof(sctp_common_header);
// Streams announced in INIT, both directions. usrsctp allocates and initialises the per-stream
// state of an association eagerly: with 65535 streams each association cost ~6.5 MB and added
// 100-250 ms to the handshake on the development machine; with 1024 it costs ~1 ms. 1024
// streams allow 512 simultaneous channels opened by each side.
constexpr std::uint16_t kMaxStreams = 1024;
constexpr std::size_t kRecvChunk = 64 * 1024;
constexpr std::size_t kMaxEarlyPackets = 64;
constexpr std::size_t kMaxNotification = 64 * 1024;
constexpr std::size_t kMinPacket = 12 + 4;  // common header and one chunk header
constexpr std::size_t kMaxPacket = 65536;
constexpr std::size_t kSpareBuffers = 64;
constexpr std::size_t kSpareBufferMaxCapacity = 256 * 1024;
constexpr auto kTickInterval = std::chrono::milliseconds(10);

std::uint16_t readBe16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t readBe32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
void writeBe16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void writeBe32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Process-wide bookkeeping shared by every transport on every loop.
struct Entry {
  loop::Loop* loop = nullptr;
  SctpTransport* owner = nullptr;  // valid while the entry exists, on the owner's loop thread
  std::weak_ptr<SctpTransport> weak;
};

struct LoopState {
  std::size_t transports = 0;
  std::uint64_t generation = 0;  // identifies the current tick timer of that loop
  loop::Loop::TimerId timer = 0;
};

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::uintptr_t, Entry> entries;
  std::unordered_map<loop::Loop*, LoopState> loops;
  std::uintptr_t nextId = 1;
  std::uint64_t nextGeneration = 1;
  std::int64_t lastTickMs = 0;
};

// Leaked on purpose: usrsctp and the shared loop may still call in during static destruction.
Registry& registry() {
  static Registry* instance = new Registry();
  return *instance;
}

// Transports (by id) whose socket needs attention, per loop thread.
thread_local std::vector<std::uintptr_t> tlsPending;
thread_local std::vector<std::uintptr_t> tlsBatch;
thread_local bool tlsDraining = false;
thread_local bool tlsDrainPosted = false;

void markPending(std::uintptr_t id) {
  if (tlsPending.empty() || tlsPending.back() != id) tlsPending.push_back(id);
}

void noopUpcall(struct socket*, void*, int) {}

void* idToAddr(std::uintptr_t id) { return reinterpret_cast<void*>(id); }

}  // namespace

struct SctpTransport::Impl {
  enum class State { Idle, Connecting, Connected, Closed };
  enum class SendResult { Sent, WouldBlock, Failed };

  struct OutMessage {
    std::vector<std::uint8_t> data;
    std::uint32_t ppid = 0;
    std::size_t userSize = 0;  // counted in bufferedAmount (0 for DCEP control messages)
    bool control = false;
  };

  struct Stream {
    std::shared_ptr<DataChannel> channel;
    std::deque<OutMessage> queue;
    bool inReady = false;            // listed in the round-robin of streams with queued messages
    bool openSent = false;           // our DCEP OPEN went out (local channels)
    bool resetWanted = false;        // reset the outgoing stream once the queue is drained
    bool resetRequested = false;     // outgoing reset handed to usrsctp (or queued for it)
    bool incomingReset = false;      // the peer closed its side
    bool outgoingResetDone = false;  // the peer confirmed our reset: it has all we sent
    bool unordered = false;
    std::uint16_t prPolicy = SCTP_PR_SCTP_NONE;
    std::uint32_t prValue = 0;
  };

  SctpTransport* owner;
  loop::Loop& loop;
  Config config;
  Callbacks callbacks;
  std::uintptr_t id = 0;
  struct socket* sock = nullptr;
  State state = State::Idle;
  bool started = false;
  bool isClient = false;
  bool flushing = false;
  bool writeBlocked = false;
  std::uint16_t outboundStreams = 0;
  Stats stats;

  std::vector<std::vector<std::uint8_t>> early;  // packets that arrived before start()
  std::unordered_map<std::uint16_t, Stream> streams;
  std::vector<std::shared_ptr<DataChannel>> unassigned;  // created before start()
  std::deque<std::uint16_t> ready;                       // round robin for fairness
  std::vector<std::uint16_t> pendingResets;              // outgoing resets not yet accepted
  std::unordered_set<std::uint16_t> resetting;           // outgoing resets in progress

  std::vector<std::uint8_t> recvBuffer;
  std::vector<std::uint8_t> partial;  // reassembly of a message delivered in pieces
  int partialSid = -1;
  std::uint32_t partialPpid = 0;
  bool partialOversize = false;
  std::vector<std::uint8_t> notification;
  std::vector<std::vector<std::uint8_t>> spare;  // recycled queue buffers

  Impl(SctpTransport* owner, loop::Loop& loop, Config config, Callbacks callbacks)
      : owner(owner), loop(loop), config(config), callbacks(std::move(callbacks)) {
    globalInit();
    recvBuffer.resize(kRecvChunk);
    attach();
    usrsctp_register_address(idToAddr(id));
    sock = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
    if (!sock || !configureSocket()) {
      if (sock) closeSocket();
      state = State::Closed;
    }
  }

  ~Impl() { teardown(); }

  // ---- process-wide setup -------------------------------------------------------------------

  static void globalInit() {
    static std::once_flag once;
    std::call_once(once, [] {
      usrsctp_init_nothreads(0, &Impl::connOutput, nullptr);
      usrsctp_sysctl_set_sctp_sendspace(kSendSpace);
      usrsctp_sysctl_set_sctp_recvspace(kRecvSpace);
      usrsctp_sysctl_set_sctp_ecn_enable(0);
      usrsctp_sysctl_set_sctp_asconf_enable(0);
      usrsctp_sysctl_set_sctp_auth_enable(0);
      usrsctp_sysctl_set_sctp_nrsack_enable(0);
      usrsctp_sysctl_set_sctp_pktdrop_enable(0);
      usrsctp_sysctl_set_sctp_pr_enable(1);
      usrsctp_sysctl_set_sctp_reconfig_enable(1);
      usrsctp_sysctl_set_sctp_max_chunks_on_queue(kMaxChunksOnQueue);
      usrsctp_sysctl_set_sctp_heartbeat_interval_default(10000);
      usrsctp_sysctl_set_sctp_rto_initial_default(1000);
      usrsctp_sysctl_set_sctp_rto_min_default(200);
      usrsctp_sysctl_set_sctp_rto_max_default(10000);
      usrsctp_sysctl_set_sctp_init_rto_max_default(10000);
      usrsctp_sysctl_set_sctp_init_rtx_max_default(8);
      usrsctp_sysctl_set_sctp_assoc_rtx_max_default(10);
      usrsctp_sysctl_set_sctp_path_rtx_max_default(5);
      usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
      usrsctp_sysctl_set_sctp_nr_outgoing_streams_default(kMaxStreams);
    });
  }

  // Registers this transport and makes sure its loop ticks usrsctp's timers.
  void attach() {
    auto& reg = registry();
    bool startTimer = false;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(reg.mutex);
      id = reg.nextId++;
      if (reg.entries.empty()) reg.lastTickMs = loop::nowMs();
      reg.entries[id] = Entry{&loop, owner, {}};
      auto& state = reg.loops[&loop];
      if (state.transports++ == 0) {
        state.generation = reg.nextGeneration++;
        state.timer = 0;
        startTimer = true;
        generation = state.generation;
      }
    }
    if (!startTimer) return;
    auto start = [loopPtr = &loop, generation] {
      auto timer = loopPtr->addTimer(kTickInterval,
                                     [loopPtr, generation] { return tick(loopPtr, generation); });
      auto& reg = registry();
      bool current = false;
      {
        std::lock_guard lock(reg.mutex);
        auto it = reg.loops.find(loopPtr);
        if (it != reg.loops.end() && it->second.generation == generation) {
          it->second.timer = timer;
          current = true;
        }
      }
      if (!current) loopPtr->cancelTimer(timer);
    };
    if (loop.isLoopThread()) {
      start();
    } else {
      loop.post(start);
    }
  }

  void detach() {
    auto& reg = registry();
    loop::Loop::TimerId cancel = 0;
    {
      std::lock_guard lock(reg.mutex);
      reg.entries.erase(id);
      auto it = reg.loops.find(&loop);
      if (it != reg.loops.end() && it->second.transports > 0 && --it->second.transports == 0 &&
          loop.isLoopThread()) {
        cancel = it->second.timer;
        reg.loops.erase(it);
      }
      // Off the loop thread the timer notices at its next tick that it is no longer needed.
    }
    if (cancel) loop.cancelTimer(cancel);
  }

  // One tick of a loop's timer: advance usrsctp's clock and look at this loop's sockets.
  static bool tick(loop::Loop* loopPtr, std::uint64_t generation) {
    auto& reg = registry();
    std::uint32_t elapsed = 0;
    {
      std::lock_guard lock(reg.mutex);
      auto it = reg.loops.find(loopPtr);
      if (it == reg.loops.end() || it->second.generation != generation) return false;
      if (it->second.transports == 0) {
        reg.loops.erase(it);
        return false;
      }
      std::int64_t now = loop::nowMs();
      if (now > reg.lastTickMs) {
        elapsed = static_cast<std::uint32_t>(std::min<std::int64_t>(now - reg.lastTickMs, 60000));
        reg.lastTickMs = now;
      }
      for (const auto& [entryId, entry] : reg.entries) {
        if (entry.loop == loopPtr) markPending(entryId);
      }
    }
    if (elapsed > 0) usrsctp_handle_timers(elapsed);
    drainThisThread();
    return true;
  }

  // ---- usrsctp callbacks (any thread, inside usrsctp) ---------------------------------------

  static int connOutput(void* addr, void* buffer, size_t length, uint8_t, uint8_t) {
    auto entryId = reinterpret_cast<std::uintptr_t>(addr);
    SctpTransport* target = nullptr;
    {
      auto& reg = registry();
      std::lock_guard lock(reg.mutex);
      auto it = reg.entries.find(entryId);
      if (it == reg.entries.end()) return 0;  // destroyed: drop
      if (!it->second.loop->isLoopThread()) {
        // A timer of another loop fired for us: send from our own loop.
        const auto* bytes = static_cast<const std::uint8_t*>(buffer);
        std::vector<std::uint8_t> copy(bytes, bytes + length);
        it->second.loop->post([entryId, copy = std::move(copy)] {
          SctpTransport* owner = lookupOnLoop(entryId);
          if (owner) owner->impl_->emit(copy);
        });
        return 0;
      }
      target = it->second.owner;
    }
    target->impl_->emit({static_cast<const std::uint8_t*>(buffer), length});
    return 0;
  }

  static void upcall(struct socket*, void* arg, int) {
    auto entryId = reinterpret_cast<std::uintptr_t>(arg);
    auto& reg = registry();
    std::lock_guard lock(reg.mutex);
    auto it = reg.entries.find(entryId);
    if (it == reg.entries.end()) return;
    if (it->second.loop->isLoopThread()) {
      markPending(entryId);
      return;
    }
    it->second.loop->post([entryId] {
      markPending(entryId);
      drainThisThread();
    });
  }

  static SctpTransport* lookupOnLoop(std::uintptr_t entryId) {
    auto& reg = registry();
    std::lock_guard lock(reg.mutex);
    auto it = reg.entries.find(entryId);
    if (it == reg.entries.end() || !it->second.loop->isLoopThread()) return nullptr;
    return it->second.owner;
  }

  // Services every socket of this thread that asked for attention. Never nested.
  static void drainThisThread() {
    if (tlsDraining) return;
    tlsDraining = true;
    while (!tlsPending.empty()) {
      tlsBatch.clear();
      tlsBatch.swap(tlsPending);
      if (tlsBatch.size() > 1) {
        std::sort(tlsBatch.begin(), tlsBatch.end());
        tlsBatch.erase(std::unique(tlsBatch.begin(), tlsBatch.end()), tlsBatch.end());
      }
      for (std::size_t i = 0; i < tlsBatch.size(); ++i) {
        std::shared_ptr<SctpTransport> transport;
        {
          auto& reg = registry();
          std::lock_guard lock(reg.mutex);
          auto it = reg.entries.find(tlsBatch[i]);
          if (it == reg.entries.end() || !it->second.loop->isLoopThread()) continue;
          transport = it->second.weak.lock();
        }
        // The reference keeps the transport alive while its callbacks run.
        if (transport) transport->impl_->service();
      }
    }
    tlsBatch.clear();
    tlsDraining = false;
  }

  // After an API call that may have triggered upcalls: service them soon, from the loop, so
  // that user callbacks do not run inside the API call.
  void scheduleDrain() {
    if (tlsPending.empty() || tlsDraining || tlsDrainPosted) return;
    tlsDrainPosted = true;
    loop.post([] {
      tlsDrainPosted = false;
      drainThisThread();
    });
  }

  // ---- socket ---------------------------------------------------------------------------------

  template <typename T>
  bool setOption(int level, int name, const T& value) {
    return usrsctp_setsockopt(sock, level, name, &value, sizeof(value)) == 0;
  }

  bool configureSocket() {
    if (usrsctp_set_non_blocking(sock, 1) != 0) return false;
    struct linger abortOnClose {
      1, 0
    };
    setOption(SOL_SOCKET, SO_LINGER, abortOnClose);
    int sendSpace = static_cast<int>(kSendSpace);
    int recvSpace = static_cast<int>(kRecvSpace);
    setOption(SOL_SOCKET, SO_SNDBUF, sendSpace);
    setOption(SOL_SOCKET, SO_RCVBUF, recvSpace);

    sctp_assoc_value reset{};
    reset.assoc_id = SCTP_FUTURE_ASSOC;
    reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ | SCTP_ENABLE_CHANGE_ASSOC_REQ;
    if (!setOption(IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, reset)) return false;
    int on = 1;
    int off = 0;
    if (!setOption(IPPROTO_SCTP, SCTP_RECVRCVINFO, on)) return false;
    setOption(IPPROTO_SCTP, SCTP_NODELAY, on);
    setOption(IPPROTO_SCTP, SCTP_EXPLICIT_EOR, off);

    for (std::uint16_t type :
         {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SENDER_DRY_EVENT, SCTP_SEND_FAILED_EVENT,
          SCTP_SHUTDOWN_EVENT, SCTP_PARTIAL_DELIVERY_EVENT, SCTP_STREAM_CHANGE_EVENT,
          SCTP_REMOTE_ERROR}) {
      sctp_event event{};
      event.se_assoc_id = SCTP_FUTURE_ASSOC;
      event.se_type = type;
      event.se_on = 1;
      if (!setOption(IPPROTO_SCTP, SCTP_EVENT, event)) return false;
    }

    sctp_initmsg init{};
    init.sinit_num_ostreams = kMaxStreams;
    init.sinit_max_instreams = kMaxStreams;
    if (!setOption(IPPROTO_SCTP, SCTP_INITMSG, init)) return false;

    sctp_paddrparams peer{};
    peer.spp_assoc_id = SCTP_FUTURE_ASSOC;
    peer.spp_flags = SPP_PMTUD_DISABLE;
    peer.spp_pathmtu = kPathMtu;
    setOption(IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, peer);

    usrsctp_set_upcall(sock, &Impl::upcall, idToAddr(id));

    sockaddr_conn local = address(config.localPort);
    return usrsctp_bind(sock, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0;
  }

  sockaddr_conn address(std::uint16_t port) const {
    sockaddr_conn addr{};
    addr.sconn_family = AF_CONN;
    addr.sconn_port = htons(port);
    addr.sconn_addr = idToAddr(id);
    return addr;
  }

  void closeSocket() {
    if (!sock) return;
    // Deregister our upcall first: closing may wake the socket up one last time.
    usrsctp_set_upcall(sock, &noopUpcall, nullptr);
    usrsctp_close(sock);
    sock = nullptr;
  }

  void teardown() {
    // From here on usrsctp cannot reach this object: packets it still emits for the
    // association (the ABORT sent by close) are dropped.
    detach();
    closeSocket();
    usrsctp_deregister_address(idToAddr(id));
    // Channels the application still holds just turn Closed; no callbacks from a destructor.
    for (auto& [sid, stream] : streams) {
      if (stream.channel) stream.channel->state_ = DataChannel::State::Closed;
    }
    for (auto& channel : unassigned) channel->state_ = DataChannel::State::Closed;
    streams.clear();
    unassigned.clear();
  }

  void emit(std::span<const std::uint8_t> packet) {
    stats.packetsSent++;
    stats.bytesSent += packet.size();
    if (callbacks.sendPacket) callbacks.sendPacket(packet);
  }

  // ---- public operations ----------------------------------------------------------------------

  void start(bool client) {
    if (started || state == State::Closed) return;
    started = true;
    isClient = client;
    state = State::Connecting;
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
    sockaddr_conn remote = address(config.remotePort);
    int result = usrsctp_connect(sock, reinterpret_cast<sockaddr*>(&remote), sizeof(remote));
    if (result != 0 && errno != EINPROGRESS) {
      associationEnded("SCTP connect failed");
      return;
    }
    // Packets the peer sent before we connected: usrsctp would have answered them with ABORT.
    auto packets = std::move(early);
    early.clear();
    for (auto& packet : packets) {
      usrsctp_conninput(idToAddr(id), packet.data(), packet.size(), 0);
    }
    scheduleDrain();
  }

  void receivePacket(std::span<const std::uint8_t> packet) {
    stats.packetsReceived++;
    stats.bytesReceived += packet.size();
    if (!sock || packet.size() < kMinPacket || packet.size() > kMaxPacket) return;
    if (!started) {
      if (early.size() < kMaxEarlyPackets) early.emplace_back(packet.begin(), packet.end());
      return;
    }
    usrsctp_conninput(idToAddr(id), packet.data(), packet.size(), 0);
    drainThisThread();
  }

  std::shared_ptr<DataChannel> createDataChannel(const std::string& label,
                                                 const std::string& protocol) {
    auto channel =
        std::shared_ptr<DataChannel>(new DataChannel(owner->weak_from_this(), label, protocol));
    if (state == State::Closed || label.size() > 0xffff || protocol.size() > 0xffff) {
      channel->state_ = DataChannel::State::Closed;
      return channel;
    }
    if (!started) {
      unassigned.push_back(channel);
      return channel;
    }
    int sid = allocateStreamId();
    if (sid < 0) {
      channel->state_ = DataChannel::State::Closed;
      return channel;
    }
    channel->streamId_ = sid;
    auto& stream = streams[static_cast<std::uint16_t>(sid)];
    stream.channel = channel;
    if (state == State::Connected) sendOpen(static_cast<std::uint16_t>(sid));
    scheduleDrain();
    return channel;
  }

  int allocateStreamId() const {
    std::uint32_t limit = state == State::Connected ? outboundStreams : kMaxStreams;
    for (std::uint32_t sid = isClient ? 0 : 1; sid < limit; sid += 2) {
      auto key = static_cast<std::uint16_t>(sid);
      if (!streams.count(key) && !resetting.count(key)) return static_cast<int>(sid);
    }
    return -1;
  }

  std::size_t sendLimit() const {
    std::size_t limit = config.remoteMaxMessageSize ? config.remoteMaxMessageSize : 65536;
    return std::min<std::size_t>(limit, kSendSpace);
  }

  bool sendMessage(DataChannel& channel, std::span<const std::uint8_t> data, bool binary) {
    if (channel.state_ != DataChannel::State::Open || state != State::Connected) return false;
    if (data.size() > sendLimit()) return false;
    if (channel.streamId_ < 0) return false;
    auto sid = static_cast<std::uint16_t>(channel.streamId_);
    auto it = streams.find(sid);
    if (it == streams.end() || it->second.channel.get() != &channel) return false;
    static const std::uint8_t kZero = 0;
    std::uint32_t ppid;
    std::span<const std::uint8_t> payload = data;
    if (data.empty()) {
      // RFC 8831 section 6.6: an empty message is sent as one byte with the "empty" PPID.
      ppid = binary ? kPpidBinaryEmpty : kPpidStringEmpty;
      payload = {&kZero, 1};
    } else {
      ppid = binary ? kPpidBinary : kPpidString;
    }
    bool ok = submit(sid, it->second, ppid, payload, data.size(), false);
    scheduleDrain();
    return ok;
  }

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
    if (state != State::Connected) {
      // Never announced to the peer: nothing to reset.
      eraseStream(sid);
      finishClose(self);
      return;
    }
    channel.state_ = DataChannel::State::Closing;
    // Messages accepted by send() before close() still go out, then the stream is reset.
    if (it->second.queue.empty()) {
      requestReset(sid);
    } else {
      it->second.resetWanted = true;
    }
    scheduleDrain();
  }

  void close() {
    if (state == State::Closed) return;
    bool associated = started;
    state = State::Closed;
    closeAllChannels();
    if (sock && associated) usrsctp_shutdown(sock, SHUT_RDWR);
    if (callbacks.onClosed) callbacks.onClosed("closed");
    scheduleDrain();
  }

  // ---- sending --------------------------------------------------------------------------------

  SendResult sendRaw(std::uint16_t sid, const Stream& stream, std::uint32_t ppid,
                     std::span<const std::uint8_t> payload, bool control) {
    if (!sock) return SendResult::Failed;
    sctp_sendv_spa spa{};
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = sid;
    spa.sendv_sndinfo.snd_ppid = htonl(ppid);
    // DCEP messages are always reliable and ordered (RFC 8832 section 6).
    if (!control) {
      if (stream.unordered) spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
      if (stream.prPolicy != SCTP_PR_SCTP_NONE) {
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = stream.prPolicy;
        spa.sendv_prinfo.pr_value = stream.prValue;
      }
    }
    ssize_t sent = usrsctp_sendv(sock, payload.data(), payload.size(), nullptr, 0, &spa,
                                 sizeof(spa), SCTP_SENDV_SPA, 0);
    if (sent >= 0) return SendResult::Sent;
    if (errno == EWOULDBLOCK || errno == EAGAIN) {
      writeBlocked = true;
      return SendResult::WouldBlock;
    }
    return SendResult::Failed;
  }

  std::vector<std::uint8_t> takeBuffer(std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> buffer;
    if (!spare.empty()) {
      buffer = std::move(spare.back());
      spare.pop_back();
    }
    buffer.assign(payload.begin(), payload.end());
    return buffer;
  }

  void recycle(std::vector<std::uint8_t>&& buffer) {
    if (spare.size() < kSpareBuffers && buffer.capacity() <= kSpareBufferMaxCapacity) {
      spare.push_back(std::move(buffer));
    }
  }

  // Hands a message to usrsctp now if nothing is queued ahead of it, else queues it.
  bool submit(std::uint16_t sid, Stream& stream, std::uint32_t ppid,
              std::span<const std::uint8_t> payload, std::size_t userSize, bool control) {
    if (stream.queue.empty() && !writeBlocked && state == State::Connected) {
      switch (sendRaw(sid, stream, ppid, payload, control)) {
        case SendResult::Sent:
          return true;
        case SendResult::Failed:
          return false;
        case SendResult::WouldBlock:
          break;
      }
    }
    stream.queue.push_back(OutMessage{takeBuffer(payload), ppid, control ? 0 : userSize, control});
    if (!control && stream.channel) stream.channel->bufferedAmount_ += userSize;
    if (!stream.inReady) {
      stream.inReady = true;
      ready.push_back(sid);
    }
    return true;
  }

  // Sends queued messages round-robin across streams until usrsctp's buffer is full.
  void flush() {
    if (flushing) return;
    flushing = true;
    while (!ready.empty() && !writeBlocked && state == State::Connected && sock) {
      std::uint16_t sid = ready.front();
      ready.pop_front();
      auto it = streams.find(sid);
      if (it == streams.end()) continue;
      Stream& stream = it->second;
      if (stream.queue.empty()) {
        stream.inReady = false;
        continue;
      }
      OutMessage& front = stream.queue.front();
      SendResult result = sendRaw(sid, stream, front.ppid, front.data, front.control);
      if (result == SendResult::WouldBlock) {
        ready.push_front(sid);
        break;
      }
      OutMessage done = std::move(front);
      stream.queue.pop_front();
      if (stream.queue.empty()) {
        stream.inReady = false;
      } else {
        ready.push_back(sid);
      }
      bool resetNow = stream.queue.empty() && stream.resetWanted;
      std::shared_ptr<DataChannel> channel = stream.channel;
      std::size_t userSize = done.userSize;
      recycle(std::move(done.data));
      // From here on callbacks may run: do not use `stream` any more.
      if (result == SendResult::Failed && channel && channel->onError_) {
        channel->onError_("SCTP send failed");
      }
      if (channel && userSize > 0) bufferedAmountDecreased(*channel, userSize);
      if (resetNow) {
        auto again = streams.find(sid);
        if (again != streams.end() && again->second.resetWanted && again->second.queue.empty()) {
          requestReset(sid);
        }
      }
    }
    flushing = false;
  }

  void bufferedAmountDecreased(DataChannel& channel, std::size_t bytes) {
    std::size_t before = channel.bufferedAmount_;
    channel.bufferedAmount_ = before - std::min(before, bytes);
    if (before > channel.lowThreshold_ && channel.bufferedAmount_ <= channel.lowThreshold_ &&
        channel.onBufferedAmountLow_ && channel.state_ == DataChannel::State::Open) {
      auto guard = channel.shared_from_this();
      channel.onBufferedAmountLow_();
    }
  }

  void sendOpen(std::uint16_t sid) {
    auto it = streams.find(sid);
    if (it == streams.end() || !it->second.channel || it->second.openSent) return;
    Stream& stream = it->second;
    if (sid >= outboundStreams) {
      auto channel = stream.channel;
      eraseStream(sid);
      if (channel->onError_) channel->onError_("no SCTP stream available for the channel");
      finishClose(channel);
      return;
    }
    const std::string& label = stream.channel->label_;
    const std::string& protocol = stream.channel->protocol_;
    std::vector<std::uint8_t> message(kDcepOpenHeader + label.size() + protocol.size());
    message[0] = kDcepOpen;
    message[1] = kChannelReliable;
    writeBe16(&message[2], kDcepPriorityLow);
    writeBe32(&message[4], 0);
    writeBe16(&message[8], static_cast<std::uint16_t>(label.size()));
    writeBe16(&message[10], static_cast<std::uint16_t>(protocol.size()));
    std::copy(label.begin(), label.end(), message.begin() + kDcepOpenHeader);
    std::copy(protocol.begin(), protocol.end(),
              message.begin() + static_cast<std::ptrdiff_t>(kDcepOpenHeader + label.size()));
    stream.openSent = true;
    submit(sid, stream, kPpidDcep, message, 0, true);
  }

  // ---- stream reset ---------------------------------------------------------------------------

  void requestReset(std::uint16_t sid) {
    auto it = streams.find(sid);
    if (it != streams.end()) {
      if (it->second.resetRequested) return;
      it->second.resetRequested = true;
      it->second.resetWanted = false;
    }
    if (!sock || state != State::Connected) return;
    if (std::find(pendingResets.begin(), pendingResets.end(), sid) == pendingResets.end()) {
      pendingResets.push_back(sid);
    }
    issueResets();
  }

  void issueResets() {
    if (pendingResets.empty() || !sock || state != State::Connected) return;
    std::size_t count = std::min<std::size_t>(pendingResets.size(), 1024);
    std::size_t length = sizeof(sctp_reset_streams) + count * sizeof(std::uint16_t);
    std::vector<std::uint8_t> buffer(length);
    sctp_reset_streams header{};
    header.srs_assoc_id = SCTP_ALL_ASSOC;
    header.srs_flags = SCTP_STREAM_RESET_OUTGOING;
    header.srs_number_streams = static_cast<std::uint16_t>(count);
    std::memcpy(buffer.data(), &header, sizeof(header));
    std::memcpy(buffer.data() + sizeof(header), pendingResets.data(),
                count * sizeof(std::uint16_t));
    if (usrsctp_setsockopt(sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, buffer.data(),
                           static_cast<socklen_t>(length)) == 0) {
      resetting.insert(pendingResets.begin(),
                       pendingResets.begin() + static_cast<std::ptrdiff_t>(count));
      pendingResets.erase(pendingResets.begin(),
                          pendingResets.begin() + static_cast<std::ptrdiff_t>(count));
    } else if (errno != EALREADY && errno != EBUSY && errno != EAGAIN && errno != ENOMEM) {
      // The stream is already reset or the association is gone: nothing to wait for.
      pendingResets.erase(pendingResets.begin(),
                          pendingResets.begin() + static_cast<std::ptrdiff_t>(count));
    }
    // Otherwise another reset is in flight: retried on the next stream reset event or tick.
  }

  void onStreamReset(std::uint16_t flags, const std::vector<std::uint16_t>& list) {
    std::vector<std::uint16_t> sids = list;
    if (sids.empty()) {
      for (const auto& [sid, stream] : streams) sids.push_back(sid);
      std::sort(sids.begin(), sids.end());
    }
    if (flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) {
      // Our request was refused: close those channels locally.
      for (auto sid : sids) {
        resetting.erase(sid);
        auto it = streams.find(sid);
        if (it == streams.end() || it->second.channel->state_ != DataChannel::State::Closing) {
          continue;
        }
        auto channel = it->second.channel;
        eraseStream(sid);
        finishClose(channel);
      }
    } else if (flags & SCTP_STREAM_RESET_INCOMING_SSN) {
      // The peer closed its side: close ours too (RFC 8831 section 6.7). What send() accepted
      // before still goes out (the peer keeps reading until our reset arrives), then ours is
      // reset, and the channel closes only once the peer confirms that reset: it does so after
      // it has received everything we sent on the stream (RFC 6525 section 5.2.2). Closing
      // earlier would let the connection be torn down with our last messages unacknowledged.
      for (auto sid : sids) {
        auto it = streams.find(sid);
        if (it == streams.end()) continue;
        auto& stream = it->second;
        auto channel = stream.channel;
        stream.incomingReset = true;
        if (stream.outgoingResetDone || state != State::Connected) {
          eraseStream(sid);
          finishClose(channel);
          continue;
        }
        channel->state_ = DataChannel::State::Closing;
        if (stream.resetRequested) continue;
        if (stream.queue.empty()) {
          requestReset(sid);
        } else {
          stream.resetWanted = true;
        }
      }
    } else if (flags & SCTP_STREAM_RESET_OUTGOING_SSN) {
      for (auto sid : sids) {
        resetting.erase(sid);
        auto it = streams.find(sid);
        if (it == streams.end()) continue;
        it->second.outgoingResetDone = true;
        if (!it->second.incomingReset) continue;  // we closed first: the peer's reset follows
        auto channel = it->second.channel;
        eraseStream(sid);
        finishClose(channel);
      }
    }
    issueResets();
  }

  // ---- closing --------------------------------------------------------------------------------

  void eraseStream(std::uint16_t sid) {
    auto it = streams.find(sid);
    if (it == streams.end()) return;
    for (auto& message : it->second.queue) recycle(std::move(message.data));
    if (it->second.inReady) ready.erase(std::remove(ready.begin(), ready.end(), sid), ready.end());
    streams.erase(it);
  }

  void finishClose(const std::shared_ptr<DataChannel>& channel) {
    if (!channel || channel->state_ == DataChannel::State::Closed) return;
    channel->state_ = DataChannel::State::Closed;
    if (channel->onClose_) channel->onClose_();
    // Drop the application's callbacks later (they may be running right now) so that lambdas
    // capturing the channel do not keep it alive forever.
    loop.post([channel] {
      channel->onOpen_ = nullptr;
      channel->onMessage_ = nullptr;
      channel->onClose_ = nullptr;
      channel->onBufferedAmountLow_ = nullptr;
      channel->onError_ = nullptr;
    });
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
    ready.clear();
    pendingResets.clear();
    resetting.clear();
    for (auto& channel : channels) finishClose(channel);
  }

  void associationEnded(const std::string& reason) {
    if (state == State::Closed) return;
    state = State::Closed;
    closeAllChannels();
    if (callbacks.onClosed) callbacks.onClosed(reason);
  }

  // ---- receiving ------------------------------------------------------------------------------

  // Reads everything usrsctp has for us and sends what it now has room for.
  void service() {
    if (!sock) return;
    int events = usrsctp_get_events(sock);
    if (events < 0) return;
    if (events & SCTP_EVENT_READ) readAll();
    if (!sock) return;
    if (events & SCTP_EVENT_WRITE) {
      writeBlocked = false;
      if (!ready.empty()) flush();
    }
    if (!pendingResets.empty()) issueResets();
  }

  void readAll() {
    while (sock) {
      sctp_rcvinfo info{};
      socklen_t infoLength = sizeof(info);
      unsigned int infoType = SCTP_RECVV_NOINFO;
      int flags = 0;
      sockaddr_conn from{};
      socklen_t fromLength = sizeof(from);
      ssize_t n = usrsctp_recvv(sock, recvBuffer.data(), recvBuffer.size(),
                                reinterpret_cast<sockaddr*>(&from), &fromLength, &info, &infoLength,
                                &infoType, &flags);
      if (n < 0) {
        if (errno != EWOULDBLOCK && errno != EAGAIN && errno != EINTR && errno != ENOTCONN &&
            state == State::Connected) {
          associationEnded("SCTP receive failed");
        }
        return;
      }
      if (n == 0) {
        if (state == State::Connected || state == State::Connecting) {
          associationEnded("SCTP association ended");
        }
        return;
      }
      std::span<const std::uint8_t> data(recvBuffer.data(), static_cast<std::size_t>(n));
      bool complete = (flags & MSG_EOR) != 0;
      if (flags & MSG_NOTIFICATION) {
        onNotificationPiece(data, complete);
        continue;
      }
      if (state == State::Closed) continue;
      if (infoType != SCTP_RECVV_RCVINFO) {
        dropMessage(__LINE__);
        continue;
      }
      onDataPiece(info.rcv_sid, ntohl(info.rcv_ppid), data, complete);
    }
  }

  // Counted, and logged with where (source line) for diagnosis: drops are rare and unexpected.
  void dropMessage(int line) {
    stats.messagesDropped++;
    g_debug("trystero: sctp: message dropped (sctp_transport.cpp:%d)", line);
  }

  void resetPartial() {
    partial.clear();
    partialSid = -1;
    partialPpid = 0;
    partialOversize = false;
  }

  void onDataPiece(std::uint16_t sid, std::uint32_t ppid, std::span<const std::uint8_t> data,
                   bool complete) {
    if (partialSid < 0 && complete) {
      if (data.size() > config.localMaxMessageSize) {
        dropMessage(__LINE__);
        return;
      }
      onMessage(sid, ppid, data);
      return;
    }
    if (partialSid >= 0 && (partialSid != sid || partialPpid != ppid)) {
      // Pieces of another message: the previous one will never complete.
      dropMessage(__LINE__);
      resetPartial();
    }
    if (partialSid < 0) {
      partialSid = sid;
      partialPpid = ppid;
    }
    if (!partialOversize) {
      if (partial.size() + data.size() > config.localMaxMessageSize) {
        partialOversize = true;
        partial.clear();
        partial.shrink_to_fit();
      } else {
        partial.insert(partial.end(), data.begin(), data.end());
      }
    }
    if (!complete) return;
    if (partialOversize) {
      dropMessage(__LINE__);
      resetPartial();
      return;
    }
    std::vector<std::uint8_t> message = std::move(partial);
    resetPartial();
    onMessage(sid, ppid, message);
    if (partial.capacity() == 0 && message.capacity() <= kSpareBufferMaxCapacity) {
      message.clear();
      partial = std::move(message);
    }
  }

  void onMessage(std::uint16_t sid, std::uint32_t ppid, std::span<const std::uint8_t> data) {
    if (ppid == kPpidDcep) {
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
    bool binary;
    bool empty = false;
    switch (ppid) {
      case kPpidString:
        binary = false;
        break;
      case kPpidBinary:
        binary = true;
        break;
      case kPpidStringEmpty:
        binary = false;
        empty = true;
        break;
      case kPpidBinaryEmpty:
        binary = true;
        empty = true;
        break;
      case kPpidBinaryPartial:
      case kPpidStringPartial:
      default:
        dropMessage(__LINE__);
        return;
    }
    std::shared_ptr<DataChannel> channel = it->second.channel;
    if (channel->state_ == DataChannel::State::Connecting) {
      // Data before the ACK: the peer evidently accepted the channel (browsers do the same).
      open(channel);
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
      channel->onMessage_(empty ? std::span<const std::uint8_t>() : data, binary);
    } else {
      g_debug("trystero: sctp: %zu bytes on stream %u, which nobody reads: dropped", data.size(),
              static_cast<unsigned>(sid));
    }
  }

  void open(const std::shared_ptr<DataChannel>& channel) {
    if (channel->state_ != DataChannel::State::Connecting) return;
    channel->state_ = DataChannel::State::Open;
    if (channel->onOpen_) channel->onOpen_();
  }

  void onDcep(std::uint16_t sid, std::span<const std::uint8_t> data) {
    if (data.empty()) {
      dropMessage(__LINE__);
      return;
    }
    if (data[0] == kDcepAck) {
      auto it = streams.find(sid);
      if (it == streams.end() || !it->second.openSent) {
        dropMessage(__LINE__);
        return;
      }
      auto channel = it->second.channel;
      open(channel);
      return;
    }
    if (data[0] != kDcepOpen || data.size() < kDcepOpenHeader) {
      dropMessage(__LINE__);
      return;
    }
    std::uint8_t channelType = data[1];
    std::uint32_t reliability = readBe32(&data[4]);
    std::size_t labelLength = readBe16(&data[8]);
    std::size_t protocolLength = readBe16(&data[10]);
    std::uint8_t kind = channelType & static_cast<std::uint8_t>(~kChannelUnorderedBit);
    if (streams.count(sid)) {
      g_debug("trystero: sctp: DCEP OPEN for stream %u, which is in use: dropped",
              static_cast<unsigned>(sid));
    }
    if (kDcepOpenHeader + labelLength + protocolLength != data.size() ||
        (kind != kChannelReliable && kind != kChannelPartialRexmit &&
         kind != kChannelPartialTimed) ||
        streams.count(sid) || sid == 0xffff || state != State::Connected) {
      dropMessage(__LINE__);
      return;
    }
    const char* text = reinterpret_cast<const char*>(data.data()) + kDcepOpenHeader;
    std::string label(text, labelLength);
    std::string protocol(text + labelLength, protocolLength);
    auto channel = std::shared_ptr<DataChannel>(
        new DataChannel(owner->weak_from_this(), std::move(label), std::move(protocol)));
    channel->streamId_ = sid;
    channel->state_ = DataChannel::State::Open;
    Stream& stream = streams[sid];
    stream.channel = channel;
    stream.unordered = (channelType & kChannelUnorderedBit) != 0;
    if (kind == kChannelPartialRexmit) {
      stream.prPolicy = SCTP_PR_SCTP_RTX;
      stream.prValue = reliability;
    } else if (kind == kChannelPartialTimed) {
      stream.prPolicy = SCTP_PR_SCTP_TTL;
      stream.prValue = reliability;
    }
    static const std::uint8_t kAck[] = {kDcepAck};
    submit(sid, stream, kPpidDcep, kAck, 0, true);
    if (callbacks.onDataChannel) callbacks.onDataChannel(channel);
  }

  // ---- notifications --------------------------------------------------------------------------

  void onNotificationPiece(std::span<const std::uint8_t> data, bool complete) {
    if (notification.empty() && complete) {
      onNotification(data);
      return;
    }
    if (notification.size() + data.size() <= kMaxNotification) {
      notification.insert(notification.end(), data.begin(), data.end());
    }
    if (!complete) return;
    std::vector<std::uint8_t> whole = std::move(notification);
    notification.clear();
    onNotification(whole);
  }

  void onNotification(std::span<const std::uint8_t> data) {
    sctp_notification::sctp_tlv header{};
    if (data.size() < sizeof(header)) return;
    std::memcpy(&header, data.data(), sizeof(header));
    if (header.sn_length < data.size()) data = data.first(header.sn_length);
    switch (header.sn_type) {
      case SCTP_ASSOC_CHANGE: {
        sctp_assoc_change change{};
        if (data.size() < sizeof(change)) return;
        std::memcpy(&change, data.data(), sizeof(change));
        onAssociationChange(change);
        break;
      }
      case SCTP_STREAM_RESET_EVENT: {
        sctp_stream_reset_event event{};
        if (data.size() < sizeof(event)) return;
        std::memcpy(&event, data.data(), sizeof(event));
        std::size_t count = (data.size() - sizeof(event)) / sizeof(std::uint16_t);
        std::vector<std::uint16_t> list(count);
        if (count) std::memcpy(list.data(), data.data() + sizeof(event), count * 2);
        if (state == State::Connected) onStreamReset(event.strreset_flags, list);
        break;
      }
      case SCTP_SENDER_DRY_EVENT:
        writeBlocked = false;
        flush();
        break;
      case SCTP_SHUTDOWN_EVENT:
        associationEnded("SCTP association shut down by the peer");
        break;
      case SCTP_PARTIAL_DELIVERY_EVENT: {
        sctp_pdapi_event event{};
        if (data.size() < sizeof(event)) return;
        std::memcpy(&event, data.data(), sizeof(event));
        if (event.pdapi_indication == SCTP_PARTIAL_DELIVERY_ABORTED && partialSid >= 0) {
          dropMessage(__LINE__);
          resetPartial();
        }
        break;
      }
      case SCTP_STREAM_CHANGE_EVENT: {
        sctp_stream_change_event event{};
        if (data.size() < sizeof(event)) return;
        std::memcpy(&event, data.data(), sizeof(event));
        if (!(event.strchange_flags & (SCTP_STREAM_CHANGE_DENIED | SCTP_STREAM_CHANGE_FAILED))) {
          outboundStreams = event.strchange_outstrms;
        }
        break;
      }
      default:
        break;
    }
  }

  void onAssociationChange(const sctp_assoc_change& change) {
    switch (change.sac_state) {
      case SCTP_COMM_UP: {
        if (state != State::Connecting) return;
        state = State::Connected;
        outboundStreams = change.sac_outbound_streams;
        std::vector<std::uint16_t> sids;
        for (const auto& [sid, stream] : streams) {
          if (!stream.openSent && stream.channel->state_ == DataChannel::State::Connecting) {
            sids.push_back(sid);
          }
        }
        std::sort(sids.begin(), sids.end());
        for (auto sid : sids) sendOpen(sid);
        if (callbacks.onConnected) callbacks.onConnected();
        break;
      }
      case SCTP_COMM_LOST:
        associationEnded("SCTP association lost");
        break;
      case SCTP_SHUTDOWN_COMP:
        associationEnded("SCTP association shut down");
        break;
      case SCTP_CANT_STR_ASSOC:
        associationEnded("SCTP association could not be established");
        break;
      default:
        break;
    }
  }
};

std::shared_ptr<SctpTransport> SctpTransport::create(loop::Loop& loop, Config config,
                                                     Callbacks callbacks) {
  auto transport =
      std::shared_ptr<SctpTransport>(new SctpTransport(loop, config, std::move(callbacks)));
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  auto it = reg.entries.find(transport->impl_->id);
  if (it != reg.entries.end()) it->second.weak = transport;
  return transport;
}

SctpTransport::SctpTransport(loop::Loop& loop, Config config, Callbacks callbacks)
    : impl_(std::make_unique<Impl>(this, loop, config, std::move(callbacks))) {}

SctpTransport::~SctpTransport() = default;

void SctpTransport::start(bool isDtlsClient) { impl_->start(isDtlsClient); }

void SctpTransport::receivePacket(std::span<const std::uint8_t> packet) {
  impl_->receivePacket(packet);
}

std::shared_ptr<DataChannel> SctpTransport::createDataChannel(const std::string& label,
                                                              const std::string& protocol) {
  return impl_->createDataChannel(label, protocol);
}

void SctpTransport::setRemoteMaxMessageSize(std::size_t bytes) {
  impl_->config.remoteMaxMessageSize = bytes;
}

void SctpTransport::close() { impl_->close(); }

bool SctpTransport::connected() const { return impl_->state == Impl::State::Connected; }

SctpTransport::Stats SctpTransport::stats() const { return impl_->stats; }

bool SctpTransport::hasDataInFlight() const {
  if (!impl_->sock || impl_->state != Impl::State::Connected) return false;
  if (!impl_->ready.empty()) return true;
  sctp_status status{};
  socklen_t length = sizeof status;
  if (usrsctp_getsockopt(impl_->sock, IPPROTO_SCTP, SCTP_STATUS, &status, &length) != 0)
    return false;
  return status.sstat_unackdata > 0 || status.sstat_penddata > 0;
}

bool SctpTransport::sendMessage(DataChannel& channel, std::span<const std::uint8_t> data,
                                bool binary) {
  return impl_->sendMessage(channel, data, binary);
}

void SctpTransport::closeChannel(DataChannel& channel) { impl_->closeChannel(channel); }

}  // namespace trystero::rtc

// The process-wide side of usrsctp: one-time initialisation, the timers driven from the loops,
// and the registry that lets usrsctp's callbacks find a live association.
//
// Threading model. usrsctp is process-global and runs without threads of its own: each Loop
// that owns at least one association runs a 10 ms timer that advances usrsctp's clock by the
// real time elapsed since the previous tick (by whichever loop). A usrsctp timer can therefore
// fire on the thread of another loop than the one owning the association; the output and
// upcall callbacks detect that and hand the work over to the owning loop with post().
//
// usrsctp only ever sees an opaque numeric id (registered with usrsctp_register_address and
// passed as the upcall argument), never a pointer: callbacks resolve it through the registry
// under a mutex, so a packet or upcall for an association that has been destroyed is dropped.
//
// Upcalls only record that a socket needs attention; the socket is serviced later, outside of
// usrsctp (drainThisThread(): at the end of a received packet, of a timer tick, or in a posted
// task), so user callbacks never run with usrsctp frames on the stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "loop/loop.hpp"

struct socket;  // usrsctp's

namespace trystero::rtc::usrsctp {

// Socket buffers: the send buffer bounds what usrsctp holds before EWOULDBLOCK (and so the data
// in flight), the receive buffer is the advertised window. In-process, CPU per MB grows with
// the send buffer (usrsctp walks longer queues): 1 MiB cost ~0.50 s of CPU per 128 MiB, 2 MiB
// ~0.6 s, 4 MiB ~0.95 s. 1 MiB still allows ~20 MB/s at 50 ms of RTT.
inline constexpr std::uint32_t kSendSpace = 1024 * 1024;
inline constexpr std::uint32_t kRecvSpace = 4 * 1024 * 1024;
// Streams announced in INIT, both directions. usrsctp allocates and initialises the per-stream
// state of an association eagerly: with 65535 streams each association cost ~6.5 MB and added
// 100-250 ms to the handshake on the development machine; with 1024 it costs ~1 ms. 1024
// streams allow 512 simultaneous channels opened by each side.
inline constexpr std::uint16_t kMaxStreams = 1024;

// What the runtime calls back: one association.
class Endpoint {
 public:
  // A packet usrsctp produced for this endpoint. On the endpoint's loop thread, possibly from
  // inside usrsctp: it must not call back into usrsctp.
  virtual void emitPacket(std::span<const std::uint8_t> packet) = 0;
  // The socket asked for attention (readable, writable, a notification). On the endpoint's loop
  // thread, outside of usrsctp.
  virtual void service() = 0;

 protected:
  ~Endpoint() = default;
};

// Registers an endpoint living on `loop` and makes sure that loop ticks usrsctp's timers;
// initialises usrsctp the first time. The id is the endpoint's AF_CONN address (address(id)).
std::uintptr_t attach(loop::Loop& loop, Endpoint& endpoint);
// The object owning the endpoint, once it is shared: service() runs only while it can be
// locked, and the lock keeps it alive meanwhile.
void setOwner(std::uintptr_t id, std::weak_ptr<void> owner);
// From here on usrsctp cannot reach the endpoint: its packets and upcalls are dropped.
void detach(std::uintptr_t id, loop::Loop& loop);

inline void* address(std::uintptr_t id) { return reinterpret_cast<void*>(id); }

// Routes the socket's upcalls to the endpoint `id` (which then gets service() calls), or
// disconnects them (before closing the socket: closing may wake it up one last time).
void setUpcall(struct socket* sock, std::uintptr_t id);
void clearUpcall(struct socket* sock);

// Services every endpoint of this thread that asked for attention. Never nested.
void drainThisThread();
// After an API call that may have triggered upcalls: service them soon, from the loop, so that
// user callbacks do not run inside the API call.
void scheduleDrain(loop::Loop& loop);

}  // namespace trystero::rtc::usrsctp

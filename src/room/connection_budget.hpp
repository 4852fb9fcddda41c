// Process-wide admission of new peer connections. Anyone who can post to a room's topic on a
// public relay can make us create connections (an announce from an invented peer id costs them
// one signed event and us an ICE agent, a DTLS context and about five descriptors), so the
// number of connections still being set up is bounded per process, and so is the total by the
// descriptors the operating system lets us have: libnice and GLib abort the process when a
// descriptor cannot be made, so we must refuse before that happens.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trystero::room {

struct ConnectionLimits {
  // Connections whose data channel has not opened yet (offers in the pool and on their way,
  // answers to offers). A room of a few hundred honest peers stays well below it.
  std::size_t maxHalfOpen = 256;
  // Descriptors kept free for everything else (relay sockets, files, the program's own).
  std::size_t reservedDescriptors = 128;
  // What one connection costs, measured: ICE sockets per interface, DTLS/SCTP, wakeups.
  std::size_t descriptorsPerConnection = 8;
};

class ConnectionBudget {
 public:
  // Whether one more connection may be created now. Thread-safe.
  static bool admit();
  // Counted by room::Peer: created (half-open), opened, destroyed.
  static void created();
  static void opened();
  static void destroyed(bool wasOpen);

  static std::size_t halfOpen();
  static std::size_t live();
  static std::uint64_t refused();

  // For tests and embedders with unusual needs; the defaults suit a normal process.
  static void setLimits(const ConnectionLimits& limits);
  static ConnectionLimits limits();
};

}  // namespace trystero::room

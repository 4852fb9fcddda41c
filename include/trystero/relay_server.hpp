// A self-hosted Nostr relay: the signalling a team can run itself and point both C++ and browser
// peers at (`trystero::nostr::joinRoom({.relayUrls = {server.url()}})` in C++,
// `joinRoom({appId, relayUrls: [url]}, room)` from 'trystero/nostr' in JavaScript).
//
//   trystero::nostr::RelayServer server({.port = 7447});
//   std::cout << server.url() << "\n";   // ws://127.0.0.1:7447
//
// It speaks strict NIP-01 over WebSocket: EVENT ids and BIP-340 signatures are verified, REQ
// filters (ids, authors, kinds, #x tags, since, until, limit) route events to subscriptions,
// CLOSE ends them. It is a relay for signalling, so it keeps nothing: events are forwarded to the
// matching subscriptions and dropped (REQ gets EOSE at once). Events of every kind are relayed
// that way unless ephemeralOnly is set. Each connection is bounded (message size, events per
// second, subscriptions, filter memory, bytes waiting to be sent); an offender gets an OK false /
// CLOSED / NOTICE and, when it persists, is closed. A plain HTTP GET gets the NIP-11 relay
// information (Accept: application/nostr+json) or a line of text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace trystero::nostr {

struct RelayServerOptions {
  std::string host = "127.0.0.1";            // an IP address ("0.0.0.0", "::1"), or "localhost"
  std::uint16_t port = 0;                    // 0: a free port, see RelayServer::port()
  std::size_t maxMessageBytes = 128 * 1024;  // one WebSocket message (>= 1024); larger: closed
  double eventsPerSecond = 50;               // per connection, sustained (a token bucket) ...
  std::size_t eventBurst = 200;              // ... and its burst
  std::size_t maxSubscriptions = 64;         // per connection
  std::size_t maxFiltersPerReq = 16;
  std::size_t maxConnections = 4096;
  // Outgoing bytes a connection may have waiting (a subscriber that does not read); beyond
  // this it is closed (1008), so a slow consumer cannot make the server buffer without bound.
  std::size_t maxQueuedBytes = 1024 * 1024;
  // Memory the subscriptions of one connection may hold (an estimate of the parsed filters).
  std::size_t maxFilterBytes = 256 * 1024;
  // Refused messages (malformed, invalid or rate-limited events, bad REQs) a connection may
  // send: a token bucket of violationBurst refilled at violationsPerSecond. Empty: closed (1008).
  double violationsPerSecond = 1;
  std::size_t violationBurst = 100;
  // false: events of every kind are verified and forwarded (nothing is stored either way).
  // true: only ephemeral kinds (20000-29999, what trystero uses); others get OK false "blocked:".
  bool ephemeralOnly = false;
  // Diagnostics (connections, rejected events, notices). Called on the network thread; empty:
  // quiet.
  std::function<void(const std::string&)> log;
};

class RelayServer {
 public:
  struct Stats {
    std::size_t connections = 0;       // open now
    std::uint64_t eventsAccepted = 0;  // valid events, forwarded
    std::uint64_t eventsRejected = 0;  // bad id/signature, rate-limited, malformed
    std::uint64_t deliveries = 0;      // EVENT messages sent to subscribers
    std::size_t subscriptions = 0;     // open now, all connections
    std::uint64_t connectionsAccepted = 0;
    std::uint64_t connectionsRefused = 0;  // over maxConnections (HTTP 503)
    std::uint64_t notices = 0;             // NOTICE messages sent
    std::uint64_t closedTooBig = 0;        // closed for a message over maxMessageBytes (1009)
    std::uint64_t closedTooSlow = 0;       // closed for an outgoing backlog over maxQueuedBytes
    std::uint64_t closedMisbehaving = 0;   // closed for too many refused messages
  };

  // Starts listening at once; throws std::runtime_error (naming the address) when it cannot.
  // Runs on the trystero network thread. Any thread may construct, query and destroy it.
  explicit RelayServer(RelayServerOptions options = {});
  ~RelayServer();  // stops listening and closes every connection
  RelayServer(const RelayServer&) = delete;
  RelayServer& operator=(const RelayServer&) = delete;

  std::uint16_t port() const;
  std::string url() const;  // ws://host:port
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace trystero::nostr

// trystero's Supabase strategy (supabase.js): rooms meet on the Realtime broadcast channels of
// one Supabase project. appId is the project URL, Config::supabaseKey its anon key.
//
// One relay: a Phoenix socket (vsn 2.0.0) to <appId>/realtime/v1/websocket?apikey=<key>, kept
// up by net::RelaySocket with the Phoenix reconnect delays (1, 2, 5, 10 s). Channels, as
// supabase.js uses them:
//   * the room's root topic: announce = broadcast "join" {"peerId": selfId}; "join" is delivered;
//     the first announce of a room is repeated after 1 and 2.5 s (peers joining together meet
//     within about a second instead of at the next 5.3 s announce);
//   * our self topic: "sdp" broadcasts (payload: the signal as a JSON string) are delivered;
//   * another peer's self topic: joined on the first signal to that peer, then "sdp" sent on it
//     (the server delivers only on joined topics). Left again after kPeerChannelIdle unused.
// A channel joins with phx_join (fresh ref = join ref), waits up to kPushTimeout for the reply
// and retries with the rejoin delays (1, 2, 5, 10 s) after a refusal, a timeout or a phx_error;
// pushes made before it is joined wait in a bounded per-channel buffer (Phoenix buffers them
// the same way). A heartbeat goes out every kHeartbeatInterval; one still unanswered when the
// next is due closes the socket, which reconnects and rejoins every channel.
//
// We send vsn 2.0.0 text frames (the server takes them as well as binary kind 3) and accept text
// in either serializer form and binary kind-4 broadcasts. Malformed frames are dropped, counted
// and logged at debug level.
//
// Glare: a JS peer delivers at most one signal per peer channel, so this medium asks the room
// engine to answer every offer, even when we offered the same peer too (answersCrossedOffers).
//
// Loop thread only (construction and destruction included).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "room/strategy.hpp"
#include "trystero/trystero.hpp"

namespace trystero::strategies::supabase {

// The WebSocket URL supabase-js derives from a project URL (http -> ws, https -> wss, trailing
// slash ensured, realtime/v1/websocket?apikey=<key>&vsn=2.0.0). Throws std::invalid_argument
// with supabase-js's message when projectUrl is not an http(s) URL or the key is empty.
std::string realtimeUrl(const std::string& projectUrl, const std::string& apiKey);

class SupabaseStrategy : public room::Strategy {
 public:
  struct Options {
    std::chrono::milliseconds heartbeatInterval{25000};  // supabase-js override of Phoenix 30 s
    std::chrono::milliseconds pushTimeout{10000};        // join reply timeout
    std::vector<std::chrono::milliseconds> rejoinDelays{
        std::chrono::milliseconds(1000), std::chrono::milliseconds(2000),
        std::chrono::milliseconds(5000), std::chrono::milliseconds(10000)};
    std::vector<std::chrono::milliseconds> reconnectDelays{
        std::chrono::milliseconds(1000), std::chrono::milliseconds(2000),
        std::chrono::milliseconds(5000), std::chrono::milliseconds(10000)};
    // After a room's first announce, more at these delays (not in supabase.js; see the .cpp).
    std::vector<std::chrono::milliseconds> earlyAnnounceDelays{std::chrono::milliseconds(1000),
                                                               std::chrono::milliseconds(2500)};
    std::chrono::milliseconds peerChannelIdle{120000};
    std::size_t maxBufferedPushes = 100;  // per channel, oldest dropped (Phoenix: 100)
    std::size_t maxChannels = 512;        // peer channels beyond are left, least recent first
    std::size_t maxFrameBytes = 1u << 20;
  };

  struct Stats {
    std::uint64_t framesIn = 0;
    std::uint64_t framesOut = 0;
    std::uint64_t malformedFrames = 0;
    std::uint64_t broadcastsIn = 0;
    std::uint64_t broadcastsDelivered = 0;
    std::uint64_t broadcastsOut = 0;
    std::uint64_t pushesDropped = 0;  // buffer full or channel left
    std::uint64_t joinsSent = 0;
    std::uint64_t joinsOk = 0;
    std::uint64_t joinsRefused = 0;
    std::uint64_t joinTimeouts = 0;
    std::uint64_t heartbeatsOut = 0;
    std::uint64_t heartbeatTimeouts = 0;
    std::string lastError;
  };

  SupabaseStrategy(loop::Loop& loop, std::string url, std::string accessToken, std::string selfId,
                   Options options);
  SupabaseStrategy(loop::Loop& loop, std::string url, std::string accessToken, std::string selfId)
      : SupabaseStrategy(loop, std::move(url), std::move(accessToken), std::move(selfId),
                         Options{}) {}
  ~SupabaseStrategy() override;
  SupabaseStrategy(const SupabaseStrategy&) = delete;
  SupabaseStrategy& operator=(const SupabaseStrategy&) = delete;

  std::size_t relayCount() const override { return 1; }
  // f runs (posted) once the socket is open, now if it is.
  void whenReady(std::size_t relay, std::function<void()> f) override;
  void subscribe(std::size_t relay, const std::string& rootTopic, const std::string& selfTopic,
                 MessageHandler handler) override;
  void unsubscribe(std::size_t relay, const std::string& rootTopic,
                   const std::string& selfTopic) override;
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& rootTopic,
                                                    const std::string& selfTopic) override;
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override;
  // Refusals reach the rooms they concern: a channel join the server refused (its reason), or a
  // handshake it turned down (HTTP 4xx, e.g. 401 for a wrong key; every room). Each once until
  // that channel or socket works again.
  void setErrorHandler(ErrorHandler handler) override;
  std::vector<RelaySocketInfo> relaySockets() const override;
  bool answersCrossedOffers() const override { return true; }

  // Diagnostics and tests.
  Stats stats() const;
  // Channel names (without "realtime:") currently joined.
  std::vector<std::string> joinedChannels() const;

 private:
  struct Client;
  std::shared_ptr<Client> client_;
  std::string selfId_;
};

// The factory behind trystero::supabase::joinRoom.
std::unique_ptr<room::Strategy> makeStrategy(loop::Loop& loop, const Config& config,
                                             const std::string& selfId);

}  // namespace trystero::strategies::supabase

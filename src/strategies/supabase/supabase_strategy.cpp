#include "strategies/supabase/supabase_strategy.hpp"

#include <glib.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "net/relay_socket.hpp"
#include "room/registry.hpp"
#include "strategies/supabase/phoenix_codec.hpp"

namespace trystero::strategies::supabase {

namespace {

using Json = nlohmann::json;
constexpr const char* kTopicPrefix = "realtime:";
constexpr const char* kJoinEvent = "join";  // supabase.js: announces on the root topic
constexpr const char* kSdpEvent = "sdp";    // supabase.js: signals on a peer's self topic

std::string trim(const std::string& s) {
  auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

bool startsWithNoCase(const std::string& s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), s.begin(),
                    [](char a, char b) { return g_ascii_tolower(a) == g_ascii_tolower(b); });
}

// The user's key in a query string (URLSearchParams encoding, minus its '+' for spaces).
std::string queryEscape(const std::string& s) {
  char* escaped = g_uri_escape_string(s.c_str(), nullptr, false);
  std::string out = escaped;
  g_free(escaped);
  return out;
}

// phx_join's payload as realtime-js sends it once setAuth resolved (the anon key as token).
Json joinPayload(const std::string& accessToken) {
  return {{"config",
           {{"broadcast", {{"ack", false}, {"self", false}}},
            {"presence", {{"key", ""}, {"enabled", false}}},
            {"postgres_changes", Json::array()},
            {"private", false}}},
          {"access_token", accessToken}};
}

std::string describe(const Json& payload) {
  if (payload.is_object() && payload.contains("response")) {
    const auto& response = payload["response"];
    if (response.is_object() && response.contains("reason") && response["reason"].is_string()) {
      return response["reason"].get<std::string>();
    }
    return response.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  return payload.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string realtimeUrl(const std::string& projectUrl, const std::string& apiKey) {
  std::string url = trim(projectUrl);
  if (url.empty()) throw std::invalid_argument("trystero: supabaseUrl is required.");
  bool secure = startsWithNoCase(url, "https://");
  if (!secure && !startsWithNoCase(url, "http://")) {
    throw std::invalid_argument(
        "trystero: Invalid supabaseUrl: Must be a valid HTTP or HTTPS URL.");
  }
  if (apiKey.empty()) throw std::invalid_argument("trystero: supabaseKey is required.");
  url = url.substr(0, url.find_first_of("?#"));
  std::size_t hostStart = secure ? 8 : 7;
  if (url.size() <= hostStart || url[hostStart] == '/') {
    throw std::invalid_argument("trystero: Invalid supabaseUrl: Provided URL is malformed.");
  }
  if (url.back() != '/') url += '/';
  return (secure ? "wss://" : "ws://") + url.substr(hostStart) +
         "realtime/v1/websocket?apikey=" + queryEscape(apiKey) + "&vsn=2.0.0";
}

std::unique_ptr<room::Strategy> makeStrategy(loop::Loop& loop, const Config& config,
                                             const std::string& selfId) {
  // supabase.js: createClient(config.appId, config.supabaseKey); without a session supabase-js
  // uses the anon key as the channels' access token.
  return std::make_unique<SupabaseStrategy>(loop, realtimeUrl(config.appId, config.supabaseKey),
                                            config.supabaseKey, selfId);
}

// ---------------------------------------------------------------------------------------------

struct SupabaseStrategy::Client : std::enable_shared_from_this<Client> {
  enum class ChannelState { Joining, Joined, Errored };
  struct Push {
    std::string event;
    Json payload;
  };
  struct Channel {
    std::string name;   // the trystero topic
    std::string topic;  // on the wire: "realtime:" + name
    ChannelState state = ChannelState::Errored;
    std::string joinRef;
    std::size_t rejoins = 0;  // since the last successful join
    loop::Timer joinTimeout;
    loop::Timer rejoinTimer;
    std::deque<Push> buffered;
    // Root and self topics: the broadcast event handed to the room (peer channels: none), and
    // the room's root topic, to which a refusal is reported.
    std::string deliverEvent;
    std::string rootTopic;
    std::shared_ptr<MessageHandler> handler;
    std::int64_t lastUsedMs = 0;
    // Root topics: the extra announces that follow the first one (see earlyAnnounces).
    bool announced = false;
    std::vector<loop::Timer> earlyAnnounces;
  };

  loop::Loop& loop;
  const Options options;
  const std::string url;
  // The URL without its query string (which holds the key), for logs and getRelaySockets.
  const std::string displayUrl = url.substr(0, url.find('?'));
  const std::string accessToken;
  std::shared_ptr<net::RelaySocket> socket;
  std::map<std::string, std::shared_ptr<Channel>> channels;  // by wire topic
  std::vector<std::function<void()>> ready;
  std::uint64_t refCounter = 0;
  std::optional<std::string> pendingHeartbeat;
  loop::Timer heartbeatTimer;
  loop::Timer sweepTimer;
  bool closed = false;
  bool warnedSinceOpen = false;
  Stats stats;
  ErrorHandler errorHandler;
  // Errors told to the engine, by root topic ("" for every room): each once until the room's
  // channels (or, for "", the socket) work again, as refusals repeat with every retry.
  std::map<std::string, std::set<std::string>> reported;

  Client(loop::Loop& l, Options o, std::string u, std::string token)
      : loop(l), options(std::move(o)), url(std::move(u)), accessToken(std::move(token)) {}

  void start() {
    std::weak_ptr<Client> weak = weak_from_this();
    auto callbacks = net::RelaySocket::Callbacks::forwardingTo(
        weak, &Client::received, &Client::opened, &Client::ended, &Client::connectionFailed);
    net::WebSocket::Options ws;
    ws.maxIncomingPayload = options.maxFrameBytes;
    socket = net::RelaySocket::create(loop, url, std::move(callbacks), std::move(ws),
                                      options.reconnectDelays);
    sweepTimer = loop.every(options.peerChannelIdle / 2, [weak] {
      auto self = weak.lock();
      if (self) self->leaveIdlePeerChannels();
      return !!self;
    });
  }

  void close() {
    if (closed) return;
    for (auto& [topic, channel] : channels) sendLeave(*channel);
    closed = true;
    channels.clear();
    ready.clear();
    heartbeatTimer.cancel();
    sweepTimer.cancel();
    if (socket) socket->close();
  }

  std::string nextRef() { return std::to_string(++refCounter); }

  bool isOpen() const { return !closed && socket && socket->isOpen(); }

  bool send(const Message& message) {
    if (!isOpen() || !socket->send(encodeText(message))) return false;
    stats.framesOut++;
    return true;
  }

  // --- Socket -------------------------------------------------------------------------------

  // A wrong project URL or key shows here first: the first failure of an outage is a warning
  // (with the URL, not the key), the retries that follow are debug lines.
  void connectionFailed(const std::string& failure) {
    std::string error = failure;
    if (auto at = error.find(url); at != std::string::npos)
      error.replace(at, url.size(), displayUrl);
    stats.lastError = error;
    if (warnedSinceOpen) {
      g_debug("trystero: supabase %s", error.c_str());
    } else {
      warnedSinceOpen = true;
      g_warning("trystero: supabase %s (retrying)", error.c_str());
    }
    // The server turned the handshake down (a wrong key is HTTP 401 from Supabase's gateway):
    // the user can act on that, unlike a network failure, which the retries ride out.
    if (error.find("(HTTP 4") != std::string::npos) report("", "supabase: " + error);
  }

  void report(const std::string& rootTopic, const std::string& error) {
    if (!errorHandler || !reported[rootTopic].insert(error).second) return;
    auto handler = errorHandler;  // may leave rooms, and so channels
    handler(rootTopic, error);
  }

  void opened() {
    if (closed) return;
    warnedSinceOpen = false;
    reported.erase("");
    pendingHeartbeat.reset();
    std::weak_ptr<Client> weak = weak_from_this();
    heartbeatTimer = loop.every(options.heartbeatInterval, [weak] {
      auto self = weak.lock();
      return self && self->heartbeat();
    });
    // Phoenix: every errored channel rejoins as soon as the socket opens.
    for (auto& [topic, channel] : channels) join(*channel);
    auto queue = std::move(ready);
    ready.clear();
    for (auto& f : queue) loop.post(std::move(f));
  }

  void ended(int code, const std::string& reason) {
    g_debug("trystero: supabase socket %s closed (%d %s)", displayUrl.c_str(), code,
            reason.c_str());
    heartbeatTimer.cancel();
    pendingHeartbeat.reset();
    for (auto& [topic, channel] : channels) {
      channel->state = ChannelState::Errored;
      channel->joinTimeout.cancel();
      channel->rejoinTimer.cancel();
    }
  }

  // Returns whether the heartbeat timer keeps running.
  bool heartbeat() {
    if (!isOpen()) return false;
    if (pendingHeartbeat) {
      // Phoenix: the previous heartbeat is still unanswered: close and reconnect.
      stats.heartbeatTimeouts++;
      stats.lastError = "heartbeat timeout";
      g_debug("trystero: supabase %s: heartbeat timeout; reconnecting", displayUrl.c_str());
      pendingHeartbeat.reset();
      if (auto ws = socket->socket()) ws->close(1000, "heartbeat timeout");
      return false;
    }
    pendingHeartbeat = nextRef();
    if (send({std::nullopt, pendingHeartbeat, "phoenix", "heartbeat", Json::object()})) {
      stats.heartbeatsOut++;
    }
    return true;
  }

  // --- Channels ------------------------------------------------------------------------------

  Channel& openChannel(const std::string& name) {
    auto& slot = channels[kTopicPrefix + name];
    if (!slot) {
      slot = std::make_shared<Channel>();
      slot->name = name;
      slot->topic = kTopicPrefix + name;
      slot->lastUsedMs = loop.nowMs();
      if (isOpen()) join(*slot);
    }
    return *slot;
  }

  void join(Channel& channel) {
    channel.rejoinTimer.cancel();
    if (!isOpen()) {
      channel.state = ChannelState::Errored;  // joins when the socket opens
      return;
    }
    channel.joinRef = nextRef();
    channel.state = ChannelState::Joining;
    stats.joinsSent++;
    send({channel.joinRef, channel.joinRef, channel.topic, "phx_join", joinPayload(accessToken)});
    std::weak_ptr<Client> weak = weak_from_this();
    channel.joinTimeout = loop.after(options.pushTimeout, [weak, topic = channel.topic] {
      if (auto self = weak.lock()) self->joinTimedOut(topic);
    });
  }

  Channel* find(const std::string& topic) {
    auto it = channels.find(topic);
    return it == channels.end() ? nullptr : it->second.get();
  }

  void joinTimedOut(const std::string& topic) {
    auto* channel = find(topic);
    if (!channel || channel->state != ChannelState::Joining) return;
    stats.joinTimeouts++;
    g_debug("trystero: supabase channel %s: no join reply in time", topic.c_str());
    sendLeave(*channel);  // as Phoenix does, so a late join does not linger on the server
    rejoinLater(*channel);
  }

  void rejoinLater(Channel& channel) {
    channel.state = ChannelState::Errored;
    channel.joinTimeout.cancel();
    const auto& delays = options.rejoinDelays;
    auto delay = delays.empty() ? std::chrono::milliseconds(1000)
                                : delays[std::min(channel.rejoins++, delays.size() - 1)];
    std::weak_ptr<Client> weak = weak_from_this();
    channel.rejoinTimer = loop.after(delay, [weak, topic = channel.topic] {
      auto self = weak.lock();
      if (!self) return;
      auto* channel = self->find(topic);
      if (channel && channel->state == ChannelState::Errored) self->join(*channel);
    });
  }

  void sendLeave(Channel& channel) {
    if (channel.state == ChannelState::Errored || channel.joinRef.empty()) return;
    send({channel.joinRef, nextRef(), channel.topic, "phx_leave", Json::object()});
  }

  void leave(const std::string& name) {
    auto it = channels.find(kTopicPrefix + name);
    if (it == channels.end()) return;
    auto channel = it->second;  // the timers die with it
    channels.erase(it);
    stats.pushesDropped += channel->buffered.size();
    sendLeave(*channel);
  }

  void joined(Channel& channel) {
    channel.state = ChannelState::Joined;
    channel.rejoins = 0;
    channel.joinTimeout.cancel();
    stats.joinsOk++;
    if (!channel.rootTopic.empty()) reported.erase(channel.rootTopic);
    auto buffered = std::move(channel.buffered);
    channel.buffered.clear();
    for (auto& push : buffered) sendBroadcast(channel, push);
  }

  void refused(Channel& channel, const Json& payload) {
    stats.joinsRefused++;
    stats.lastError = "channel " + channel.name + " refused: " + describe(payload);
    // Once per streak of refusals: the reason is what the user can act on (key, project,
    // Realtime settings); the retries that follow are routine.
    if (channel.rejoins == 0) {
      g_warning("trystero: supabase %s refused to join channel %s: %s", displayUrl.c_str(),
                channel.topic.c_str(), describe(payload).c_str());
    }
    rejoinLater(channel);
    // A peer's channel belongs to no one room (its name is a hash): every room hears of it.
    report(channel.rootTopic,
           "supabase: the server refused to join a channel: " + describe(payload));
  }

  // --- Pushes ----------------------------------------------------------------------------------

  void sendBroadcast(Channel& channel, const Push& push) {
    Json body = {{"type", "broadcast"}, {"event", push.event}, {"payload", push.payload}};
    if (send({channel.joinRef, nextRef(), channel.topic, "broadcast", std::move(body)})) {
      stats.broadcastsOut++;
    } else {
      stats.pushesDropped++;
    }
  }

  // Sends now when joined; otherwise waits for the join (bounded, oldest dropped).
  void push(Channel& channel, std::string event, Json payload) {
    channel.lastUsedMs = loop.nowMs();
    Push p{std::move(event), std::move(payload)};
    if (channel.state == ChannelState::Joined && isOpen()) return sendBroadcast(channel, p);
    // Announces that pile up while the channel is down say the same thing: one will do.
    bool repeated =
        std::any_of(channel.buffered.begin(), channel.buffered.end(), [&](const Push& q) {
          return q.event == kJoinEvent && q.event == p.event && q.payload == p.payload;
        });
    if (repeated) return;
    if (channel.buffered.size() >= options.maxBufferedPushes) {
      channel.buffered.pop_front();
      stats.pushesDropped++;
    }
    channel.buffered.push_back(std::move(p));
  }

  // The first announce of a root channel is followed by a few more at short intervals. Peers
  // that join at about the same time otherwise miss each other until the next regular
  // announce (5.3 s): a JS peer's first announce usually goes by REST before it has joined its
  // own channels, and our offer to it is lost when it arrives before it joined its self topic.
  // Extra announces are harmless: a peer we have an offer pending with ignores them.
  void announce(Channel& root, const Json& payload) {
    push(root, kJoinEvent, payload);
    if (root.announced) return;
    root.announced = true;
    std::weak_ptr<Client> weak = weak_from_this();
    for (auto delay : options.earlyAnnounceDelays) {
      root.earlyAnnounces.push_back(loop.after(delay, [weak, topic = root.topic, payload] {
        auto self = weak.lock();
        auto* channel = self ? self->find(topic) : nullptr;
        if (channel) self->push(*channel, kJoinEvent, payload);
      }));
    }
  }

  // A channel to a peer's self topic, for signals; the least recently used peer channel makes
  // room when there are too many.
  Channel& peerChannel(const std::string& name) {
    if (!channels.count(kTopicPrefix + name) && channels.size() >= options.maxChannels) {
      std::shared_ptr<Channel> oldest;
      for (auto& [topic, c] : channels) {
        if (!c->handler && (!oldest || c->lastUsedMs < oldest->lastUsedMs)) oldest = c;
      }
      if (oldest) leave(oldest->name);
    }
    return openChannel(name);
  }

  void leaveIdlePeerChannels() {
    auto now = loop.nowMs();
    std::vector<std::string> idle;
    for (auto& [topic, c] : channels) {
      if (!c->handler && now - c->lastUsedMs >= options.peerChannelIdle.count()) {
        idle.push_back(c->name);
      }
    }
    for (auto& name : idle) leave(name);
  }

  // --- Incoming --------------------------------------------------------------------------------

  void received(std::string_view data, bool binary) {
    if (closed) return;
    stats.framesIn++;
    std::string error;
    auto message =
        binary ? decodeBinary({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()},
                              &error)
               : decodeText(data, &error);
    if (!message) {
      stats.malformedFrames++;
      g_debug("trystero: supabase %s: dropped a malformed %s frame (%zu bytes): %s",
              displayUrl.c_str(), binary ? "binary" : "text", data.size(), error.c_str());
      return;
    }
    auto self = shared_from_this();  // a handler may release the strategy
    handle(*message);
  }

  void handle(const Message& message) {
    if (message.topic == "phoenix") {
      if (message.event == "phx_reply" && message.ref == pendingHeartbeat) pendingHeartbeat.reset();
      return;
    }
    auto it = channels.find(message.topic);
    if (it == channels.end()) return;
    auto channel = it->second;  // a handler may leave the channel
    // Phoenix drops messages of an earlier join of the channel.
    if (message.joinRef && *message.joinRef != channel->joinRef) return;
    if (message.event == "phx_reply") return handleReply(*channel, message);
    if (message.event == "phx_error" || message.event == "phx_close") {
      // The server dropped the channel (phx_leave is never sent without leaving it here first).
      if (channel->state != ChannelState::Errored) rejoinLater(*channel);
      return;
    }
    if (message.event == "broadcast") deliver(*channel, message.payload);
  }

  void handleReply(Channel& channel, const Message& message) {
    if (channel.state != ChannelState::Joining || message.ref != channel.joinRef) return;
    const Json& payload = message.payload;
    bool ok = payload.is_object() && payload.contains("status") && payload["status"] == "ok";
    if (ok) return joined(channel);
    refused(channel, payload);
  }

  void deliver(Channel& channel, const Json& body) {
    stats.broadcastsIn++;
    if (!channel.handler || !body.is_object() || !body.contains("event") ||
        body["event"] != channel.deliverEvent || !body.contains("payload")) {
      return;
    }
    const Json& payload = body["payload"];
    std::string text;
    if (payload.is_string()) {
      text = payload.get<std::string>();  // sdp: the signal as JSON text
    } else if (payload.is_object()) {
      text = payload.dump(-1, ' ', false, Json::error_handler_t::replace);  // join: {peerId}
    } else {
      stats.malformedFrames++;
      return;
    }
    stats.broadcastsDelivered++;
    auto handler = channel.handler;
    (*handler)(channel.name, text);
  }
};

// ---------------------------------------------------------------------------------------------

SupabaseStrategy::SupabaseStrategy(loop::Loop& loop, std::string url, std::string accessToken,
                                   std::string selfId, Options options)
    : client_(std::make_shared<Client>(loop, std::move(options), std::move(url),
                                       std::move(accessToken))),
      selfId_(std::move(selfId)) {
  client_->start();
}

SupabaseStrategy::~SupabaseStrategy() { client_->close(); }

void SupabaseStrategy::whenReady(std::size_t, std::function<void()> f) {
  if (client_->closed || !f) return;
  if (client_->isOpen()) {
    client_->loop.post(std::move(f));
  } else {
    client_->ready.push_back(std::move(f));
  }
}

void SupabaseStrategy::subscribe(std::size_t, const std::string& rootTopic,
                                 const std::string& selfTopic, MessageHandler handler) {
  if (client_->closed) return;
  auto shared = std::make_shared<MessageHandler>(std::move(handler));
  for (auto [topic, event] :
       {std::pair{&rootTopic, kJoinEvent}, std::pair{&selfTopic, kSdpEvent}}) {
    auto& channel = client_->openChannel(*topic);
    channel.handler = shared;
    channel.deliverEvent = event;
    channel.rootTopic = rootTopic;
  }
}

void SupabaseStrategy::setErrorHandler(ErrorHandler handler) {
  client_->errorHandler = std::move(handler);
}

void SupabaseStrategy::unsubscribe(std::size_t, const std::string& rootTopic,
                                   const std::string& selfTopic) {
  client_->reported.erase(rootTopic);
  client_->leave(rootTopic);
  client_->leave(selfTopic);
}

std::optional<std::chrono::milliseconds> SupabaseStrategy::announce(std::size_t,
                                                                    const std::string& rootTopic,
                                                                    const std::string&) {
  // supabase.js: channel(rootTopic).send({type: 'broadcast', event: 'join', payload: {peerId}}).
  if (auto* channel = client_->find(kTopicPrefix + rootTopic)) {
    client_->announce(*channel, Json{{"peerId", selfId_}});
  }
  return std::nullopt;
}

void SupabaseStrategy::signal(std::size_t, const std::string& topic, const std::string& message) {
  if (client_->closed) return;
  // supabase.js: subscribe to the peer's self topic, then send the signal (a JSON string).
  client_->push(client_->peerChannel(topic), kSdpEvent, Json(message));
}

std::vector<RelaySocketInfo> SupabaseStrategy::relaySockets() const {
  RelaySocketInfo info;
  info.state = RelaySocketInfo::State::Closed;
  if (client_->socket) info = room::describeRelaySocket(*client_->socket);
  info.url = client_->displayUrl;
  return {info};
}

SupabaseStrategy::Stats SupabaseStrategy::stats() const { return client_->stats; }

std::vector<std::string> SupabaseStrategy::joinedChannels() const {
  std::vector<std::string> out;
  for (const auto& [topic, channel] : client_->channels) {
    if (channel->state == Client::ChannelState::Joined) out.push_back(channel->name);
  }
  return out;
}

}  // namespace trystero::strategies::supabase

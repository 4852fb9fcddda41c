#include "rtc/ice/ice_transport.hpp"

#include <agent.h>
#include <gio/gio.h>
#include <interfaces.h>

#include <optional>

#include "rtc/peer_connection.hpp"

namespace trystero::rtc {

namespace {

bool isMdns(const std::string& address) {
  return address.size() > 6 && address.compare(address.size() - 6, 6, ".local") == 0;
}

struct ServerUrl {
  enum class Scheme { Stun, Turn, Turns } scheme;
  std::string host;
  std::uint16_t port;
  NiceRelayType relayType = NICE_RELAY_TYPE_TURN_UDP;
};

// "stun:host[:port]", "turn:host[:port][?transport=udp|tcp]", "turns:host[:port]"; IPv6 hosts
// in brackets.
std::optional<ServerUrl> parseServerUrl(const std::string& url) {
  ServerUrl out{};
  std::string rest;
  auto startsWith = [&](const char* p) { return url.rfind(p, 0) == 0; };
  if (startsWith("stun:")) {
    out.scheme = ServerUrl::Scheme::Stun;
    rest = url.substr(5);
  } else if (startsWith("turns:")) {
    out.scheme = ServerUrl::Scheme::Turns;
    out.relayType = NICE_RELAY_TYPE_TURN_TLS;
    rest = url.substr(6);
  } else if (startsWith("turn:")) {
    out.scheme = ServerUrl::Scheme::Turn;
    rest = url.substr(5);
  } else {
    return std::nullopt;
  }
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (query == "transport=tcp" && out.scheme == ServerUrl::Scheme::Turn) {
    out.relayType = NICE_RELAY_TYPE_TURN_TCP;
  }
  std::string portText;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    out.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') portText = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    out.host = rest.substr(0, colon);
    portText = rest.substr(colon + 1);
  } else {
    out.host = rest;
  }
  if (out.host.empty()) return std::nullopt;
  out.port = out.scheme == ServerUrl::Scheme::Turns ? 5349 : 3478;
  if (!portText.empty()) {
    char* end = nullptr;
    long port = std::strtol(portText.c_str(), &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

// The first IPv4 address of a DNS answer, else its first address; empty if it has none. IPv4
// first: libnice's relay and STUN support is most mature there.
std::string preferredAddress(GList* addresses) {
  std::string ip;
  for (GList* it = addresses; it; it = it->next) {
    auto* address = G_INET_ADDRESS(it->data);
    bool ipv4 = g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV4;
    if (ipv4 || ip.empty()) {
      gchar* text = g_inet_address_to_string(address);
      ip = text;
      g_free(text);
      if (ipv4) break;
    }
  }
  return ip;
}

struct PendingServer {
  ServerUrl url;
  std::string username, credential;
  std::string ip;  // resolved
};

}  // namespace

struct IceTransport::Impl {
  loop::Loop& loop;
  Callbacks callbacks;
  NiceAgent* agent = nullptr;
  guint streamId = 0;
  State state = State::New;
  bool gatherStarted = false;
  bool gatheringDone = false;
  bool closed = false;
  std::string ufrag, pwd;
  std::chrono::milliseconds gatheringTimeout;
  loop::Timer gatheringTimer;
  std::vector<PendingServer> servers;
  int pendingResolutions = 0;
  GCancellable* cancellable = g_cancellable_new();
  struct Remote {
    std::string ufrag, pwd;
    std::vector<sdp::Candidate> candidates;
  };
  std::optional<Remote> pendingRemote;
  std::size_t droppedRemoteCandidates = 0;
  // Token checked by async callbacks that can outlive this object (DNS lookups).
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(loop::Loop& l, const Configuration& config, Callbacks cb)
      : loop(l), callbacks(std::move(cb)), gatheringTimeout(config.gatheringTimeout) {
    createAgent(config);
    collectServers(config);
    openStream();
  }

  void createAgent(const Configuration& config) {
    agent = nice_agent_new_full(loop.context(), NICE_COMPATIBILITY_RFC5245,
                                static_cast<NiceAgentOption>(NICE_AGENT_OPTION_ICE_TRICKLE |
                                                             NICE_AGENT_OPTION_CONSENT_FRESHNESS));
    g_object_set(agent, "upnp", FALSE, "stun-max-retransmissions", 3, "stun-initial-timeout", 200,
                 "ice-tcp", TRUE, "keepalive-conncheck", TRUE, nullptr);
    if (config.iceTransportPolicy == IceTransportPolicy::Relay) {
      g_object_set(agent, "force-relay", TRUE, nullptr);
    }
    if (config.allowLoopback) {
      // libnice skips loopback unless addresses are listed explicitly; listing any address
      // replaces its own enumeration, so list them all.
      GList* ips = nice_interfaces_get_local_ips(TRUE);
      for (GList* it = ips; it; it = it->next) {
        NiceAddress address;
        if (nice_address_set_from_string(&address, static_cast<const char*>(it->data))) {
          nice_agent_add_local_address(agent, &address);
        }
      }
      g_list_free_full(ips, g_free);
    }
  }

  void collectServers(const Configuration& config) {
    for (const auto& server : config.iceServers) {
      for (const auto& text : server.urls) {
        if (auto url = parseServerUrl(text)) {
          servers.push_back({*url, server.username, server.credential, {}});
        } else {
          g_message("trystero: ignoring ICE server URL %s", text.c_str());
        }
      }
    }
  }

  // The one stream (one component: BUNDLE and rtcp-mux), its credentials, and its signals.
  void openStream() {
    streamId = nice_agent_add_stream(agent, 1);
    nice_agent_set_stream_name(agent, streamId, "application");
    gchar* localUfrag = nullptr;
    gchar* localPwd = nullptr;
    nice_agent_get_local_credentials(agent, streamId, &localUfrag, &localPwd);
    ufrag = localUfrag;
    pwd = localPwd;
    g_free(localUfrag);
    g_free(localPwd);
    g_signal_connect(agent, "candidate-gathering-done",
                     G_CALLBACK(+[](NiceAgent*, guint, gpointer data) {
                       static_cast<Impl*>(data)->finishGathering();
                     }),
                     this);
    g_signal_connect(agent, "component-state-changed",
                     G_CALLBACK(+[](NiceAgent*, guint, guint, guint niceState, gpointer data) {
                       static_cast<Impl*>(data)->onComponentState(niceState);
                     }),
                     this);
    nice_agent_attach_recv(
        agent, streamId, 1, loop.context(),
        +[](NiceAgent*, guint, guint, guint len, gchar* buf, gpointer data) {
          auto* self = static_cast<Impl*>(data);
          if (self->closed || !self->callbacks.onPacket) return;
          self->callbacks.onPacket(
              std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf), len));
        },
        this);
  }

  ~Impl() {
    *alive = false;
    g_cancellable_cancel(cancellable);
    g_object_unref(cancellable);
    gatheringTimer.cancel();
    if (agent) {
      nice_agent_attach_recv(agent, streamId, 1, loop.context(), nullptr, nullptr);
      g_signal_handlers_disconnect_by_data(agent, this);
      nice_agent_remove_stream(agent, streamId);
      // Lets libnice release TURN allocations in the background before the agent goes.
      nice_agent_close_async(agent, nullptr, nullptr);
      g_object_unref(agent);
    }
  }

  void setState(State next) {
    if (state == next || closed) return;
    state = next;
    if (callbacks.onStateChange) callbacks.onStateChange(next);
  }

  void onComponentState(guint niceState) {
    switch (niceState) {
      case NICE_COMPONENT_STATE_CONNECTING:
        setState(State::Checking);
        break;
      case NICE_COMPONENT_STATE_CONNECTED:
      case NICE_COMPONENT_STATE_READY:
        setState(State::Connected);
        break;
      case NICE_COMPONENT_STATE_FAILED:
        setState(State::Failed);
        break;
      default:
        break;
    }
  }

  // Resolves the ICE servers' host names, then gathers (startGathering()).
  void gather() {
    if (gatherStarted) return;
    gatherStarted = true;
    setState(State::Gathering);
    gatheringTimer = loop.after(gatheringTimeout, [this] {
      gatheringTimer = {};
      finishGathering();
    });
    for (auto& server : servers) {
      GInetAddress* literal = g_inet_address_new_from_string(server.url.host.c_str());
      if (literal) {
        server.ip = server.url.host;
        g_object_unref(literal);
        continue;
      }
      ++pendingResolutions;
      resolve(server);
    }
    if (pendingResolutions == 0) startGathering();
  }

  void resolve(PendingServer& server) {
    struct Lookup {
      Impl* self;
      std::weak_ptr<bool> alive;
      PendingServer* server;
    };
    g_resolver_lookup_by_name_async(
        g_resolver_get_default(), server.url.host.c_str(), cancellable,
        +[](GObject* source, GAsyncResult* result, gpointer data) {
          std::unique_ptr<Lookup> lookup(static_cast<Lookup*>(data));
          GError* error = nullptr;
          GList* addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
          if (error) g_error_free(error);
          if (!lookup->alive.expired()) {
            lookup->server->ip = preferredAddress(addresses);
            if (--lookup->self->pendingResolutions == 0) lookup->self->startGathering();
          }
          if (addresses) g_resolver_free_addresses(addresses);
        },
        new Lookup{this, alive, &server});
  }

  void startGathering() {
    bool stunSet = false;
    for (const auto& server : servers) {
      if (server.ip.empty()) {
        g_message("trystero: could not resolve ICE server %s", server.url.host.c_str());
        continue;
      }
      if (server.url.scheme == ServerUrl::Scheme::Stun) {
        if (stunSet) continue;  // libnice takes a single STUN server
        g_object_set(agent, "stun-server", server.ip.c_str(), "stun-server-port",
                     static_cast<guint>(server.url.port), nullptr);
        stunSet = true;
      } else {
        nice_agent_set_relay_info(agent, streamId, 1, server.ip.c_str(), server.url.port,
                                  server.username.c_str(), server.credential.c_str(),
                                  server.url.relayType);
      }
    }
    if (!nice_agent_gather_candidates(agent, streamId)) {
      g_message("trystero: ICE gathering could not start");
      finishGathering();
    }
  }

  void finishGathering() {
    if (gatheringDone) return;
    gatheringDone = true;
    gatheringTimer.cancel();
    if (pendingRemote) {
      auto remote = std::move(*pendingRemote);
      pendingRemote.reset();
      applyRemote(remote);
    }
    if (callbacks.onGatheringDone) callbacks.onGatheringDone();
  }

  void applyRemote(const Remote& remote) {
    nice_agent_set_remote_credentials(agent, streamId, remote.ufrag.c_str(), remote.pwd.c_str());
    GSList* list = nullptr;
    for (const auto& candidate : remote.candidates) {
      if (candidate.component != 1 || isMdns(candidate.address)) continue;
      std::string line = "a=" + sdp::writeCandidate(candidate);
      NiceCandidate* parsed = nice_agent_parse_remote_candidate_sdp(agent, streamId, line.c_str());
      if (parsed) list = g_slist_append(list, parsed);
    }
    if (list) nice_agent_set_remote_candidates(agent, streamId, 1, list);
    g_slist_free_full(list, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
    nice_agent_peer_candidate_gathering_done(agent, streamId);
    if (state == State::Gathering || state == State::New) setState(State::Checking);
  }
};

IceTransport::IceTransport(loop::Loop& loop, const Configuration& configuration,
                           Callbacks callbacks)
    : impl_(std::make_unique<Impl>(loop, configuration, std::move(callbacks))) {}

IceTransport::~IceTransport() = default;

void IceTransport::setControlling(bool controlling) {
  g_object_set(impl_->agent, "controlling-mode", controlling ? TRUE : FALSE, nullptr);
}

void IceTransport::gather() { impl_->gather(); }
bool IceTransport::gatheringDone() const { return impl_->gatheringDone; }
const std::string& IceTransport::localUfrag() const { return impl_->ufrag; }
const std::string& IceTransport::localPwd() const { return impl_->pwd; }

std::vector<sdp::Candidate> IceTransport::localCandidates() const {
  std::vector<sdp::Candidate> out;
  GSList* list = nice_agent_get_local_candidates(impl_->agent, impl_->streamId, 1);
  for (GSList* it = list; it; it = it->next) {
    auto* candidate = static_cast<NiceCandidate*>(it->data);
    gchar* line = nice_agent_generate_local_candidate_sdp(impl_->agent, candidate);
    if (line) {
      if (auto parsed = sdp::parseCandidate(line)) out.push_back(std::move(*parsed));
      g_free(line);
    }
  }
  g_slist_free_full(list, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  return out;
}

void IceTransport::setRemote(const std::string& ufrag, const std::string& pwd,
                             const std::vector<sdp::Candidate>& candidates) {
  Impl::Remote remote{ufrag, pwd, {}};
  std::size_t tcp = 0;
  std::size_t dropped = 0;
  for (const auto& candidate : candidates) {
    // What applyRemote() skips anyway takes no place.
    if (candidate.component != 1 || isMdns(candidate.address)) continue;
    const bool isTcp = candidate.transport == "tcp";
    if (remote.candidates.size() >= kMaxRemoteCandidates ||
        (isTcp && tcp >= kMaxRemoteTcpCandidates)) {
      ++dropped;
      continue;
    }
    tcp += isTcp ? 1 : 0;
    remote.candidates.push_back(candidate);
  }
  if (dropped > 0) {
    if (impl_->droppedRemoteCandidates == 0) {
      g_warning("trystero: remote description lists too many ICE candidates: %zu of %zu dropped",
                dropped, candidates.size());
    }
    impl_->droppedRemoteCandidates += dropped;
  }
  if (!impl_->gatheringDone) {
    impl_->pendingRemote = std::move(remote);
    impl_->gather();
    return;
  }
  impl_->applyRemote(remote);
}

bool IceTransport::send(std::span<const std::uint8_t> datagram) {
  if (impl_->closed || impl_->state != State::Connected) return false;
  gint sent = nice_agent_send(impl_->agent, impl_->streamId, 1, static_cast<guint>(datagram.size()),
                              reinterpret_cast<const gchar*>(datagram.data()));
  return sent == static_cast<gint>(datagram.size());
}

std::size_t IceTransport::droppedRemoteCandidates() const { return impl_->droppedRemoteCandidates; }

IceTransport::State IceTransport::state() const { return impl_->state; }

TransportState IceTransport::transportState() const {
  switch (impl_->state) {
    case State::New:
    case State::Gathering:
      return TransportState::New;
    case State::Checking:
      return TransportState::Connecting;
    case State::Connected:
      return TransportState::Connected;
    case State::Failed:
      return TransportState::Failed;
    case State::Closed:
      break;
  }
  return TransportState::Closed;
}

namespace {
std::string describe(NiceCandidate* candidate) {
  if (!candidate) return {};
  gchar text[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&candidate->addr, text);
  static const char* types[] = {"host", "srflx", "prflx", "relay"};
  return std::string(text) + ":" + std::to_string(nice_address_get_port(&candidate->addr)) + " " +
         types[candidate->type <= NICE_CANDIDATE_TYPE_RELAYED ? candidate->type : 0];
}
}  // namespace

std::string IceTransport::selectedLocal() const {
  NiceCandidate *local = nullptr, *remote = nullptr;
  if (!nice_agent_get_selected_pair(impl_->agent, impl_->streamId, 1, &local, &remote)) return {};
  return describe(local);
}

std::string IceTransport::selectedRemote() const {
  NiceCandidate *local = nullptr, *remote = nullptr;
  if (!nice_agent_get_selected_pair(impl_->agent, impl_->streamId, 1, &local, &remote)) return {};
  return describe(remote);
}

void IceTransport::close() {
  if (impl_->closed) return;
  impl_->setState(State::Closed);
  impl_->closed = true;
}

}  // namespace trystero::rtc

// The Firebase Realtime Database wire protocol (protocol version 5), as @firebase/database 1.1.5
// (firebase 12.19.0, what trystero@0.22.0 installs) speaks it over a WebSocket. Pure functions
// and small value types, no I/O: database URLs, push ids, frame splitting and reassembly,
// request encoding, server message parsing and the local copy of a listened subtree.
//
// See /work/shared/design/managed-protocols.md section 2 for the captured frames. Everything
// that comes from the server is untrusted: parsing never throws, sizes and nesting are bounded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trystero::strategies::firebase {

// A text frame longer than this is split (the SDK's MAX_FRAME_SIZE, in UTF-16 code units; we
// count bytes, which splits a little earlier for non-ASCII text and is just as valid).
inline constexpr std::size_t kMaxFrameChars = 16384;
// The client's keepalive frame, sent after 45 s without traffic either way.
inline constexpr std::string_view kKeepAliveFrame = "0";
// Largest message we reassemble from count-prefixed frames: a room of trystero signals is tiny;
// a hostile or broken server must not make us buffer without bound.
inline constexpr std::size_t kDefaultMaxMessageChars = 4u << 20;
// Deepest path we accept from the server (the database itself allows 32 levels): paths are
// walked recursively.
inline constexpr std::size_t kMaxPathDepth = 64;

// What the SDK makes of a databaseURL (parseRepoInfo): the host to connect to, whether over
// TLS, the namespace and whether it goes into the query (emulator and custom hosts).
struct DatabaseUrl {
  std::string host;  // host[:port]
  bool secure = true;
  std::string ns;
  bool namespaceInQuery = false;
};

// Accepts http(s)://host[:port][/...][?ns=NAME]. Without ns the namespace is the first label of
// the host (mydb.firebaseio.com -> mydb). Returns nullopt for anything else.
std::optional<DatabaseUrl> parseDatabaseUrl(std::string_view url);

// host or host:port as it may go into a ws:// URL (DNS labels, IPv4, [IPv6]); what a redirect
// or a handshake may send us to.
bool isHostName(std::string_view host);

// The request that presents a credential: `auth` for a JWT whose claims carry "iat" (a Firebase
// ID token or a custom-minted one), `gauth` for anything else (a Google OAuth access token), as
// the SDK's tryAuth decides.
std::string authAction(std::string_view token);

// ws[s]://host/.ws?v=5[&ns=NAME][&ls=LAST_SESSION]; host may differ from db.host after the
// server redirected us.
std::string websocketUrl(const DatabaseUrl& db, const std::string& host,
                         const std::string& lastSessionId = {});

// The SDK's nextPushId: 8 characters of the (server-corrected) time in ms, most significant
// first, then 12 random characters; a second id in the same ms increments the previous random
// part by one instead, so that ids made in one ms still sort in creation order.
class PushIdGenerator {
 public:
  // Returns a value in [0, 64) per call; the default draws from the CSPRNG.
  using RandomDigit = std::function<int()>;
  PushIdGenerator();
  explicit PushIdGenerator(RandomDigit random);

  std::string next(std::int64_t serverNowMs);

  static constexpr std::string_view kAlphabet =
      "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

 private:
  RandomDigit random_;
  std::int64_t lastMs_ = -1;
  std::array<int, 12> lastRandom_{};
};

// The frames that carry one serialized message: the message itself, or the piece count and
// then pieces of kMaxFrameChars at most.
std::vector<std::string> splitMessage(const std::string& message);

// Reassembles incoming frames: a frame of at most 6 characters that is a number starts a
// message of that many frames (firebase-server sends "1" before every message, the real
// service only before split ones); any other frame is a whole message. A count out of range or
// a message growing past the bound fails the assembler (the connection is then unusable).
class FrameAssembler {
 public:
  explicit FrameAssembler(std::size_t maxMessageChars = kDefaultMaxMessageChars)
      : maxMessageChars_(maxMessageChars) {}

  // A complete message once one is.
  std::optional<std::string> feed(std::string_view frame);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  void reset();

 private:
  std::size_t maxMessageChars_;
  std::size_t framesLeft_ = 0;
  std::string buffer_;
  std::string error_;
};

// {"t":"d","d":{"r":R,"a":ACTION,"b":BODY}}
std::string encodeRequest(std::uint64_t requestId, std::string_view action,
                          const nlohmann::json& body);

// One message from the server, as far as the client cares.
struct ServerMessage {
  enum class Kind {
    Handshake,      // control "h": server time, host, session id
    Redirect,       // control "r": reconnect to host (not checked: see isHostName)
    Shutdown,       // control "s": the server will not talk to us again (reason in text)
    Error,          // control "e" (text)
    Reply,          // data reply to request requestId
    Push,           // data "d" (set) or "m" (merge) at path
    AuthRevoked,    // data "ac": the credential no longer holds (status, text)
    ListenRevoked,  // data "c": the listen at path was cancelled (rules changed)
    Ignored,        // well-formed, of no use to us (pong, security debug, ...)
  };
  Kind kind = Kind::Ignored;
  std::int64_t timestamp = 0;   // Handshake
  std::string host;             // Handshake, Redirect
  std::string sessionId;        // Handshake
  std::string text;             // Shutdown, Error, AuthRevoked
  std::uint64_t requestId = 0;  // Reply
  std::string status;           // Reply: "ok", "permission_denied", ...; AuthRevoked
  bool merge = false;           // Push: "m"
  std::string path;             // Push, ListenRevoked: without leading or trailing '/'
  nlohmann::json data;          // Reply payload, Push value
};

// Nullopt for anything that is not a well-formed message of protocol 5 (malformed JSON, too
// deep, wrong field types).
std::optional<ServerMessage> parseServerMessage(std::string_view text);

// "a/b/c", "/a/b/" -> {"a","b","c"}
std::vector<std::string> splitPath(std::string_view path);
std::string joinPath(const std::vector<std::string>& segments);  // "/a/b/c"

// The local copy of the value at a listened path, kept up to date from pushes the way the SDK's
// cache is: null children and empty objects do not exist.
class Subtree {
 public:
  explicit Subtree(std::vector<std::string> root) : root_(std::move(root)) {}

  // Applies a push; false when it does not touch our path.
  bool apply(const ServerMessage& push);
  const nlohmann::json& value() const { return value_; }
  const std::vector<std::string>& root() const { return root_; }
  void clear() { value_ = nullptr; }

 private:
  bool applySet(const std::vector<std::string>& path, const nlohmann::json& data);

  std::vector<std::string> root_;
  nlohmann::json value_;
};

// Firebase's view of a value: nulls and empty objects removed, recursively (an object left
// empty becomes null).
nlohmann::json normalize(nlohmann::json value);

}  // namespace trystero::strategies::firebase

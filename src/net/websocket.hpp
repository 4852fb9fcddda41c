// A WebSocket client (RFC 6455) over libsoup-3 on one of our network loops. Relay strategies
// (Nostr, MQTT, BitTorrent trackers) use it, usually through RelaySocket.
//
// The connection (TCP, TLS, proxy) is GIO's GSocketClient and the HTTP upgrade is done here;
// libsoup's SoupWebsocketConnection then runs the protocol over a stream that bounds incoming
// messages (websocket_guard.hpp), which libsoup 3.2 cannot do for fragmented ones.
//
// Threading: everything here is loop-thread only (connect() may be called from any thread; it
// runs the setup on the loop thread and waits). Callbacks run on the loop thread. They may call
// close() and send, and may drop the last reference to the socket: the object stays alive until
// the callback returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loop/loop.hpp"

// libsoup types, declared here so that users of this header need not include libsoup.
struct _SoupWebsocketConnection;
struct _GUri;
typedef struct _GUri GUri;

namespace trystero::net {

class WebSocketGuard;  // websocket_guard.hpp

class WebSocket : public std::enable_shared_from_this<WebSocket> {
 public:
  enum class State { Connecting, Open, Closing, Closed };

  // Generous: the largest legitimate relay message (a tracker announce carrying a batch of
  // offers) is well under 1 MiB.
  static constexpr std::size_t kDefaultMaxIncomingMessage = 16u << 20;
  // Bytes of the server's HTTP handshake response we read before giving up on it.
  static constexpr std::size_t kMaxHandshakeResponseBytes = 64u << 10;

  struct Options {
    // Subprotocols offered in Sec-WebSocket-Protocol, e.g. {"mqtt"}. The one the server chose is
    // protocol() once open; a server choosing one we did not offer fails the connection.
    std::vector<std::string> protocols;
    // Largest incoming message, whether in one frame or reassembled from fragments; 0 means no
    // limit. A larger one closes the connection with 1009 (message too big, as RFC 6455 says),
    // reported through onError and counted in oversizedMessages(). The strategies set what
    // their relays need (Nostr 1 MiB, trackers 4 MiB); this default is for everything else.
    std::size_t maxIncomingPayload = kDefaultMaxIncomingMessage;
    // Covers TCP connect, TLS handshake and the HTTP upgrade.
    std::chrono::milliseconds connectTimeout{10000};
    // 0: no pings. Otherwise libsoup sends a ping every keepAlive (rounded up to whole
    // seconds). libsoup 3.2 does not time out missing pongs.
    std::chrono::milliseconds keepAlive{0};
    // Offer permessage-deflate (RFC 7692). Off by default: libsoup 3.2 does not bound the
    // inflated size of a message, so a hostile relay could send a decompression bomb.
    bool permessageDeflate = false;
    // wss:// only. PEM of one certificate to accept even though it does not verify against the
    // system trust store (self-hosted relays, tests). Everything else is verified as usual:
    // chain to a trusted CA and host name.
    std::string pinnedCertificatePem;
  };

  struct Callbacks {
    std::function<void()> onOpen;
    std::function<void(std::string_view data, bool binary)> onMessage;
    // Exactly once per socket, also after a failed or cancelled connect (code 1006, as in
    // browsers). code is the peer's close code, 1005 for a close frame without one, 1006 when
    // the connection ended without a close frame. Not called after the destructor started.
    std::function<void(int code, const std::string& reason)> onClose;
    // Connection failures (DNS, refused, TLS, HTTP status, timeout) and protocol errors on an
    // open socket. The text names the URL. Fatal errors are followed by onClose.
    std::function<void(const std::string& error)> onError;
  };

  // Starts connecting at once; the first callback comes from a later loop iteration, never from
  // inside connect(). Invalid URLs (unparsable, no host, scheme other than ws, wss, http,
  // https) are reported through onError + onClose, like other connection failures.
  static std::shared_ptr<WebSocket> connect(loop::Loop& loop, const std::string& url,
                                            Options options, Callbacks callbacks);

  // Return false (and send nothing) unless Open. Frames are queued inside libsoup and written
  // as the socket allows; a text frame must be valid UTF-8 (not checked here).
  bool sendText(std::string_view text);
  bool sendBinary(std::span<const std::uint8_t> data);

  // Starts the closing handshake (or abandons the connect). onClose follows asynchronously.
  // No-op once Closing or Closed. code must be 1000, 1001, or 3000-4999 for a meaningful close.
  void close(int code = 1000, const std::string& reason = "");

  State state() const { return state_; }
  const std::string& url() const { return url_; }
  // The subprotocol the server selected; empty when none (or not open yet).
  const std::string& protocol() const { return protocol_; }

  // Messages over maxIncomingPayload refused so far, by every WebSocket of the process (each
  // also logs a warning and closes its connection).
  static std::uint64_t oversizedMessages();

  // Closes silently: no callbacks; an open connection still gets a close frame (1001).
  ~WebSocket();

  WebSocket(const WebSocket&) = delete;
  WebSocket& operator=(const WebSocket&) = delete;

 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  WebSocket(PrivateTag, loop::Loop& loop, std::string url, Options options, Callbacks callbacks);

 private:
  struct Glue;
  friend struct Glue;
  struct Handshake;

  void start();
  std::string upgradeRequest(GUri* uri, int port, bool tls, const std::string& key) const;
  void failSoon(std::string error);
  void handshakeFailed(const std::shared_ptr<Handshake>& handshake, const std::string& error);
  void handshakeResponse(const std::shared_ptr<Handshake>& handshake, std::size_t headerBytes);
  void connectFinished(_SoupWebsocketConnection* conn);
  void abortConnect();
  void onMessageTooBig();
  void onTimeout();
  void onSoupMessage(int type, const void* data, std::size_t size);
  void onSoupError(const std::string& message);
  void onSoupClosing();
  void onSoupClosed();
  void finish(int code, const std::string& reason, const std::string& error);
  void disconnectSignals();

  loop::Loop& loop_;
  std::string url_;
  Options options_;
  Callbacks callbacks_;
  State state_ = State::Connecting;
  std::string protocol_;

  // While connecting: the state of the TCP/TLS connect and HTTP upgrade (shared with the
  // pending GIO operations, which find it replaced or gone when they are stale).
  std::shared_ptr<Handshake> handshake_;
  std::shared_ptr<WebSocketGuard> guard_;
  _SoupWebsocketConnection* conn_ = nullptr;
  std::vector<unsigned long> handlerIds_;
  loop::Timer timeoutTimer_;
  bool tooBig_ = false;
};

const char* toString(WebSocket::State state);

}  // namespace trystero::net

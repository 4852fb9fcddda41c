// One remote peer as the room sees it (the counterpart of trystero's peer.js): a peer connection
// with the "data" channel, created as initiator (offerer) or not, with non-trickle signalling.
// Loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "loop/loop.hpp"
#include "rtc/peer_connection.hpp"

namespace trystero::room {

class Peer : public std::enable_shared_from_this<Peer> {
 public:
  struct Handlers {
    std::function<void()> connect;  // the data channel opened
    std::function<void()> close;    // channel or connection closed/failed (once)
    std::function<void(std::span<const std::uint8_t>)> data;
  };

  // An initiator starts gathering its offer at once (trystero keeps a pool of these).
  static std::shared_ptr<Peer> create(loop::Loop& loop, const rtc::Configuration& config,
                                      bool initiator);
  ~Peer();

  bool initiator() const { return initiator_; }
  std::int64_t createdMs() const { return createdMs_; }
  bool isDead() const { return dead_; }
  bool isOpen() const;

  // Initiator: f gets the complete offer (or nullopt when it failed); at once if known already.
  void whenOffer(std::function<void(std::optional<rtc::SessionDescription>)> f);

  // Applies a remote offer (answer comes back through f) or answer (f gets nullopt).
  void signal(const rtc::SessionDescription& description,
              std::function<void(std::optional<rtc::SessionDescription>)> f);

  // Handlers may be replaced from inside a handler: the running one stays alive until it returns.
  void setHandlers(Handlers handlers) {
    handlers_ = std::make_shared<const Handlers>(std::move(handlers));
  }

  rtc::DataChannel* channel() const { return channel_.get(); }
  // Accept the audio/video the remote offers from now on (see rtc::PeerConnection).
  void receiveMedia(rtc::PeerConnection::MediaHandlers handlers) {
    if (dead_) return;
    receivesMedia_ = true;
    pc_->receiveMedia(std::move(handlers));
  }
  bool receivesMedia() const { return receivesMedia_; }
  bool send(std::span<const std::uint8_t> chunk);
  // The connection, for media we send (nullptr once destroyed).
  rtc::PeerConnection* connection() const { return dead_ ? nullptr : pc_.get(); }

  void destroy();
  // Ends the connection without losing what the remote already handed to it: the channel is
  // closed first (an SCTP stream reset, which the remote answers only after its queued data
  // went out), and the connection is destroyed once the channel closed, or after `patience`.
  // `done` runs once it is destroyed.
  void closeGracefully(std::chrono::milliseconds patience, std::function<void()> done);

 private:
  Peer(loop::Loop& loop, bool initiator) : loop_(loop), initiator_(initiator) {}
  void attach(std::shared_ptr<rtc::DataChannel> channel);
  void closed();
  void markOpen();

  loop::Loop& loop_;
  bool initiator_;
  bool dead_ = false;
  bool closeReported_ = false;
  bool counted_ = false;  // in the process-wide ConnectionBudget
  bool opened_ = false;
  std::int64_t createdMs_ = loop_.nowMs();
  bool receivesMedia_ = false;
  loop::Timer closeTimer_;  // closeGracefully's patience
  std::shared_ptr<rtc::PeerConnection> pc_;
  std::shared_ptr<rtc::DataChannel> channel_;
  std::optional<rtc::SessionDescription> offer_;
  bool offerFailed_ = false;
  std::vector<std::function<void(std::optional<rtc::SessionDescription>)>> offerWaiters_;
  std::shared_ptr<const Handlers> handlers_ = std::make_shared<const Handlers>();
};

}  // namespace trystero::room

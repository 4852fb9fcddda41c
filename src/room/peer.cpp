#include "room/peer.hpp"

#include "room/connection_budget.hpp"

namespace trystero::room {

std::shared_ptr<Peer> Peer::create(loop::Loop& loop, const rtc::Configuration& config,
                                   bool initiator) {
  auto peer = std::shared_ptr<Peer>(new Peer(loop, initiator));
  ConnectionBudget::created();
  peer->counted_ = true;
  peer->pc_ = rtc::PeerConnection::create(loop, config);
  std::weak_ptr<Peer> weak = peer;
  peer->pc_->onStateChange([weak](rtc::PeerConnection::State state) {
    auto self = weak.lock();
    if (!self) return;
    if (state == rtc::PeerConnection::State::Failed ||
        state == rtc::PeerConnection::State::Closed ||
        state == rtc::PeerConnection::State::Disconnected) {
      self->closed();
    }
  });
  if (initiator) {
    peer->attach(peer->pc_->createDataChannel("data"));
    peer->pc_->createOffer([weak](auto offer, const std::string& error) {
      auto self = weak.lock();
      if (!self) return;
      if (!offer) {
        g_debug("trystero: offer failed: %s", error.c_str());
        self->offerFailed_ = true;
      }
      self->offer_ = offer;
      auto waiters = std::move(self->offerWaiters_);
      for (auto& f : waiters) f(offer);
    });
  } else {
    peer->pc_->onDataChannel([weak](std::shared_ptr<rtc::DataChannel> channel) {
      auto self = weak.lock();
      if (!self || self->channel_) return;
      self->attach(std::move(channel));
      self->markOpen();
      // Channels announced by the peer arrive open.
      auto handlers = self->handlers_;
      if (handlers->connect) handlers->connect();
    });
  }
  return peer;
}

Peer::~Peer() { destroy(); }

bool Peer::isOpen() const {
  return channel_ && channel_->readyState() == rtc::DataChannel::State::Open;
}

void Peer::attach(std::shared_ptr<rtc::DataChannel> channel) {
  channel_ = std::move(channel);
  channel_->setBufferedAmountLowThreshold(0xFFFF);
  std::weak_ptr<Peer> weak = weak_from_this();
  channel_->onOpen([weak] {
    auto self = weak.lock();
    if (!self) return;
    self->markOpen();
    auto handlers = self->handlers_;
    if (handlers->connect) handlers->connect();
  });
  channel_->onClose([weak] {
    if (auto self = weak.lock()) self->closed();
  });
  channel_->onMessage([weak](std::span<const std::uint8_t> data, bool) {
    auto self = weak.lock();
    if (!self) return;
    auto handlers = self->handlers_;
    if (handlers->data) {
      handlers->data(data);
    } else {
      g_debug("trystero: %zu bytes on a connection no room reads yet: dropped", data.size());
    }
  });
}

void Peer::whenOffer(std::function<void(std::optional<rtc::SessionDescription>)> f) {
  if (offer_ || offerFailed_ || dead_) return f(dead_ ? std::nullopt : offer_);
  offerWaiters_.push_back(std::move(f));
}

void Peer::signal(const rtc::SessionDescription& description,
                  std::function<void(std::optional<rtc::SessionDescription>)> f) {
  if (dead_) {
    g_debug("trystero: a description for a connection already ended");
    return f(std::nullopt);
  }
  std::weak_ptr<Peer> weak = weak_from_this();
  bool isOffer = description.type == rtc::SdpType::Offer;
  pc_->setRemoteDescription(description, [weak, isOffer, f](const std::string& error) {
    auto self = weak.lock();
    if (!self) return f(std::nullopt);
    if (!error.empty()) {
      g_debug("trystero: remote description rejected: %s", error.c_str());
      return f(std::nullopt);
    }
    if (!isOffer) return f(std::nullopt);
    self->pc_->createAnswer([weak, f](auto answer, const std::string& error) {
      if (!answer) g_debug("trystero: answer failed: %s", error.c_str());
      f(weak.expired() ? std::nullopt : answer);
    });
  });
}

bool Peer::send(std::span<const std::uint8_t> chunk) {
  return !dead_ && channel_ && channel_->send(chunk);
}

void Peer::closed() {
  if (closeReported_) return;
  closeReported_ = true;
  auto handlers = handlers_;
  if (handlers->close) handlers->close();
}

void Peer::closeGracefully(std::chrono::milliseconds patience, std::function<void()> done) {
  if (dead_ || !channel_ || channel_->readyState() != rtc::DataChannel::State::Open) {
    destroy();
    if (done) done();
    return;
  }
  // Nobody is told of the close any more: the connection is on its way out.
  handlers_ = std::make_shared<const Handlers>(Handlers{nullptr, nullptr, handlers_->data});
  auto self = shared_from_this();
  auto finish = std::make_shared<std::function<void()>>();
  *finish = [self, done = std::move(done)] {
    self->closeTimer_.cancel();
    bool first = !self->dead_;
    self->destroy();
    if (first && done) done();
  };
  std::weak_ptr<std::function<void()>> weakFinish = finish;
  // Not from inside the channel's own callback, which destroy() replaces.
  channel_->onClose([this, finish] { loop_.post([finish] { (*finish)(); }); });
  closeTimer_ = loop_.after(patience, [weakFinish] {
    if (auto f = weakFinish.lock()) (*f)();
  });
  channel_->close();
}

void Peer::markOpen() {
  if (opened_) return;
  opened_ = true;
  if (counted_) ConnectionBudget::opened();
}

void Peer::destroy() {
  if (dead_) return;
  dead_ = true;
  if (counted_) ConnectionBudget::destroyed(opened_);
  auto waiters = std::move(offerWaiters_);
  for (auto& f : waiters) f(std::nullopt);
  if (channel_) {
    channel_->onOpen(nullptr);
    channel_->onClose(nullptr);
    channel_->onMessage(nullptr);
    channel_->onBufferedAmountLow(nullptr);
    channel_->close();
  }
  if (pc_) {
    pc_->onStateChange(nullptr);
    pc_->onDataChannel(nullptr);
    pc_->close();
  }
  handlers_ = std::make_shared<const Handlers>();
}

}  // namespace trystero::room

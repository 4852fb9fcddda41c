// The WebTorrent tracker medium of trystero@0.22.0 (torrent.js): one WebSocket per tracker
// URL; per room, an announce carrying 10 pre-made offers every 33,333 ms (or the tracker's
// interval, only ever raised and capped at 120,333 ms), answers to relayed offers sent back
// with offer_id/to_peer_id, and relayed answers routed to the very peer that made the offer.
//
// Unlike the other media this one does not use the engine's plain announce/signal: the engine's
// announce() only reads the interval, and offers/answers travel through subscribeWithOffers().
// Differences from the JS that do not show on the wire: the interval is kept per room (the JS
// keeps one per tracker URL, shared by every room on it), answers to the previous announce's
// offers are still accepted, and every room re-announces at once after a reconnect.
// Loop thread only.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "net/relay_socket.hpp"
#include "room/strategy.hpp"
#include "strategies/torrent/torrent_wire.hpp"

namespace trystero::strategies::torrent {

class TorrentStrategy : public room::Strategy {
 public:
  // Connects to every URL at once (the JS init()).
  TorrentStrategy(loop::Loop& loop, std::vector<std::string> urls, std::string selfId);
  ~TorrentStrategy() override;
  TorrentStrategy(const TorrentStrategy&) = delete;
  TorrentStrategy& operator=(const TorrentStrategy&) = delete;

  std::size_t relayCount() const override { return relays_.size(); }
  void whenReady(std::size_t relay, std::function<void()> f) override;
  // Without getOffers: announces carry no offers (the engine uses subscribeWithOffers()).
  void subscribe(std::size_t relay, const std::string& rootTopic, const std::string& selfTopic,
                 MessageHandler handler) override;
  void subscribeWithOffers(std::size_t relay, const std::string& rootTopic,
                           const std::string& selfTopic, DeliveryHandler handler,
                           OfferSource getOffers) override;
  void unsubscribe(std::size_t relay, const std::string& rootTopic,
                   const std::string& selfTopic) override;
  // Sends nothing (the tracker announce runs on its own timer); returns the room's interval.
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& rootTopic,
                                                    const std::string& selfTopic) override;
  // Trackers carry no topic messages: dropped.
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override;
  std::vector<RelaySocketInfo> relaySockets() const override;

  // One text message from tracker `relay`, as the socket delivers it (public for tests).
  void handleTrackerMessage(std::size_t relay, std::string_view text);
  // The current announce interval of a room on a relay (nullopt when not subscribed).
  std::optional<std::chrono::milliseconds> announceInterval(std::size_t relay,
                                                            const std::string& rootTopic) const;

 private:
  struct Topic {
    std::size_t relay = 0;
    std::string rootTopic;
    std::string infoHash;
    DeliveryHandler handler;
    OfferSource getOffers;
    std::chrono::milliseconds interval = kDefaultAnnounceInterval;
    loop::Timer timer;
    std::uint64_t announcedAtOpen = 0;  // the socket's open count at our last announce
    // offer_id -> engine handle, for the latest announce and the one before.
    std::map<std::string, std::uint64_t> offers, previousOffers;
  };
  struct Relay {
    std::shared_ptr<net::RelaySocket> socket;
    std::map<std::string, std::shared_ptr<Topic>> topics;  // by root topic
    std::map<std::string, std::weak_ptr<Topic>> byInfoHash;
  };

  void announceNow(const std::shared_ptr<Topic>& topic);
  void restartTimer(const std::shared_ptr<Topic>& topic);
  void reannounce(std::size_t relay);
  bool markHandled(const std::string& offerId);

  loop::Loop& loop_;
  std::string selfId_;
  std::vector<Relay> relays_;
  // torrent.js handledOffers: offer ids already acted on (bounded, oldest forgotten first).
  std::set<std::string> handled_;
  std::deque<std::string> handledOrder_;
};

}  // namespace trystero::strategies::torrent

// An in-process signalling medium: peers in one process that share a LocalBus find each other
// through it, with delivery posted to the loop like a relay would. Used by unit tests and by
// programs that host several identities in one process. Loop thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "room/strategy.hpp"

namespace trystero::strategies {

class LocalBus {
 public:
  explicit LocalBus(loop::Loop& loop) : loop_(loop) {}
  loop::Loop& loop() { return loop_; }

  using Handler = room::Strategy::MessageHandler;
  // Returns a subscription id.
  std::uint64_t subscribe(const std::string& topic, Handler handler);
  void unsubscribe(std::uint64_t id);
  void publish(const std::string& topic, const std::string& message);
  // Messages published so far, for tests that want to look at the wire.
  std::uint64_t published() const { return published_; }

 private:
  loop::Loop& loop_;
  std::uint64_t nextId_ = 1;
  std::uint64_t published_ = 0;
  std::map<std::uint64_t, std::pair<std::string, std::shared_ptr<Handler>>> subscriptions_;
};

class LocalStrategy : public room::Strategy {
 public:
  LocalStrategy(std::shared_ptr<LocalBus> bus, std::string selfId)
      : bus_(std::move(bus)), selfId_(std::move(selfId)) {}
  ~LocalStrategy() override;

  std::size_t relayCount() const override { return 1; }
  void whenReady(std::size_t relay, std::function<void()> f) override;
  void subscribe(std::size_t relay, const std::string& rootTopic, const std::string& selfTopic,
                 MessageHandler handler) override;
  void unsubscribe(std::size_t relay, const std::string& rootTopic,
                   const std::string& selfTopic) override;
  std::optional<std::chrono::milliseconds> announce(std::size_t relay, const std::string& rootTopic,
                                                    const std::string& selfTopic) override;
  void signal(std::size_t relay, const std::string& topic, const std::string& message) override;

 private:
  std::shared_ptr<LocalBus> bus_;
  std::string selfId_;
  std::map<std::string, std::vector<std::uint64_t>> subscriptions_;  // by root topic
};

}  // namespace trystero::strategies

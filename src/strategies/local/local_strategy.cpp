#include "strategies/local/local_strategy.hpp"

#include <nlohmann/json.hpp>

namespace trystero::strategies {

std::uint64_t LocalBus::subscribe(const std::string& topic, Handler handler) {
  auto id = nextId_++;
  subscriptions_[id] = {topic, std::make_shared<Handler>(std::move(handler))};
  return id;
}

void LocalBus::unsubscribe(std::uint64_t id) { subscriptions_.erase(id); }

void LocalBus::publish(const std::string& topic, const std::string& message) {
  ++published_;
  for (const auto& [id, subscription] : subscriptions_) {
    if (subscription.first != topic) continue;
    std::weak_ptr<Handler> handler = subscription.second;
    loop_.post([handler, topic, message] {
      if (auto f = handler.lock()) (*f)(topic, message);
    });
  }
}

LocalStrategy::~LocalStrategy() {
  for (auto& [topic, ids] : subscriptions_) {
    for (auto id : ids) bus_->unsubscribe(id);
  }
}

void LocalStrategy::whenReady(std::size_t, std::function<void()> f) {
  bus_->loop().post(std::move(f));
}

void LocalStrategy::subscribe(std::size_t, const std::string& rootTopic,
                              const std::string& selfTopic, MessageHandler handler) {
  auto& ids = subscriptions_[rootTopic];
  ids.push_back(bus_->subscribe(rootTopic, handler));
  ids.push_back(bus_->subscribe(selfTopic, handler));
}

void LocalStrategy::unsubscribe(std::size_t, const std::string& rootTopic, const std::string&) {
  auto it = subscriptions_.find(rootTopic);
  if (it == subscriptions_.end()) return;
  for (auto id : it->second) bus_->unsubscribe(id);
  subscriptions_.erase(it);
}

std::optional<std::chrono::milliseconds> LocalStrategy::announce(std::size_t,
                                                                 const std::string& rootTopic,
                                                                 const std::string&) {
  bus_->publish(rootTopic, nlohmann::json{{"peerId", selfId_}}.dump());
  return std::nullopt;
}

void LocalStrategy::signal(std::size_t, const std::string& topic, const std::string& message) {
  bus_->publish(topic, message);
}

}  // namespace trystero::strategies

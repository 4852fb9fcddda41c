#include "rtc/sctp/send_queue.hpp"

#include <algorithm>
#include <utility>

namespace trystero::rtc {

namespace {

constexpr std::size_t kSpareBuffers = 64;
constexpr std::size_t kSpareBufferMaxCapacity = 256 * 1024;

}  // namespace

bool SendQueue::empty(std::uint16_t sid) const { return queues_.find(sid) == queues_.end(); }

void SendQueue::push(std::uint16_t sid, std::uint32_t ppid, std::span<const std::uint8_t> payload,
                     std::size_t userSize, bool control) {
  auto& queue = queues_[sid];
  if (queue.empty()) ready_.push_back(sid);
  queue.push_back(Message{takeBuffer(payload), ppid, userSize, control});
}

const SendQueue::Message* SendQueue::front(std::uint16_t& sid) {
  if (ready_.empty()) return nullptr;
  sid = ready_.front();
  return &queues_.at(sid).front();
}

std::size_t SendQueue::pop(std::uint16_t sid) {
  auto it = queues_.find(sid);
  if (it == queues_.end()) return 0;
  Message done = std::move(it->second.front());
  it->second.pop_front();
  if (ready_.front() == sid) {
    ready_.pop_front();
  } else {
    ready_.erase(std::find(ready_.begin(), ready_.end(), sid));
  }
  if (it->second.empty()) {
    queues_.erase(it);
  } else {
    ready_.push_back(sid);
  }
  recycle(std::move(done.data));
  return done.userSize;
}

void SendQueue::erase(std::uint16_t sid) {
  auto it = queues_.find(sid);
  if (it == queues_.end()) return;
  for (auto& message : it->second) recycle(std::move(message.data));
  queues_.erase(it);
  ready_.erase(std::remove(ready_.begin(), ready_.end(), sid), ready_.end());
}

void SendQueue::clear() {
  queues_.clear();
  ready_.clear();
}

std::vector<std::uint8_t> SendQueue::takeBuffer(std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> buffer;
  if (!spare_.empty()) {
    buffer = std::move(spare_.back());
    spare_.pop_back();
  }
  buffer.assign(payload.begin(), payload.end());
  return buffer;
}

void SendQueue::recycle(std::vector<std::uint8_t>&& buffer) {
  if (spare_.size() < kSpareBuffers && buffer.capacity() <= kSpareBufferMaxCapacity) {
    spare_.push_back(std::move(buffer));
  }
}

}  // namespace trystero::rtc

#include "rtc/sctp/usrsctp_runtime.hpp"

#include <usrsctp.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace trystero::rtc::usrsctp {

namespace {

constexpr std::uint32_t kMaxChunksOnQueue = 32768;
constexpr auto kTickInterval = std::chrono::milliseconds(10);

struct Entry {
  loop::Loop* loop = nullptr;
  Endpoint* endpoint = nullptr;  // valid while the entry exists, on the entry's loop thread
  std::weak_ptr<void> owner;
};

struct LoopState {
  std::size_t endpoints = 0;
  std::uint64_t generation = 0;  // identifies the current tick timer of that loop
  loop::Timer timer;             // destroyed (cancelled) on the loop's thread only
};

// Process-wide bookkeeping shared by every association on every loop.
struct Registry {
  std::mutex mutex;
  std::unordered_map<std::uintptr_t, Entry> entries;
  std::unordered_map<loop::Loop*, LoopState> loops;
  std::uintptr_t nextId = 1;
  std::uint64_t nextGeneration = 1;
  std::int64_t lastTickMs = 0;
};

// Leaked on purpose: usrsctp and the shared loop may still call in during static destruction.
Registry& registry() {
  static Registry* instance = new Registry();
  return *instance;
}

// Endpoints (by id) whose socket needs attention, per loop thread.
thread_local std::vector<std::uintptr_t> tlsPending;
thread_local std::vector<std::uintptr_t> tlsBatch;
thread_local bool tlsDraining = false;
thread_local bool tlsDrainPosted = false;

void markPending(std::uintptr_t id) {
  if (tlsPending.empty() || tlsPending.back() != id) tlsPending.push_back(id);
}

void noopUpcall(struct socket*, void*, int) {}

Endpoint* lookupOnLoop(std::uintptr_t id) {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  auto it = reg.entries.find(id);
  if (it == reg.entries.end() || !it->second.loop->isLoopThread()) return nullptr;
  return it->second.endpoint;
}

// ---- usrsctp callbacks (any thread, inside usrsctp) -----------------------------------------

int connOutput(void* addr, void* buffer, size_t length, uint8_t, uint8_t) {
  auto id = reinterpret_cast<std::uintptr_t>(addr);
  Endpoint* target = nullptr;
  {
    auto& reg = registry();
    std::lock_guard lock(reg.mutex);
    auto it = reg.entries.find(id);
    if (it == reg.entries.end()) return 0;  // destroyed: drop
    if (!it->second.loop->isLoopThread()) {
      // A timer of another loop fired for us: send from our own loop.
      const auto* bytes = static_cast<const std::uint8_t*>(buffer);
      std::vector<std::uint8_t> copy(bytes, bytes + length);
      it->second.loop->post([id, copy = std::move(copy)] {
        if (Endpoint* endpoint = lookupOnLoop(id)) endpoint->emitPacket(copy);
      });
      return 0;
    }
    target = it->second.endpoint;
  }
  target->emitPacket({static_cast<const std::uint8_t*>(buffer), length});
  return 0;
}

void upcall(struct socket*, void* arg, int) {
  auto id = reinterpret_cast<std::uintptr_t>(arg);
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  auto it = reg.entries.find(id);
  if (it == reg.entries.end()) return;
  if (it->second.loop->isLoopThread()) {
    markPending(id);
    return;
  }
  it->second.loop->post([id] {
    markPending(id);
    drainThisThread();
  });
}

// ---- process-wide setup and timers ----------------------------------------------------------

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    usrsctp_init_nothreads(0, &connOutput, nullptr);
    usrsctp_sysctl_set_sctp_sendspace(kSendSpace);
    usrsctp_sysctl_set_sctp_recvspace(kRecvSpace);
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_asconf_enable(0);
    usrsctp_sysctl_set_sctp_auth_enable(0);
    usrsctp_sysctl_set_sctp_nrsack_enable(0);
    usrsctp_sysctl_set_sctp_pktdrop_enable(0);
    usrsctp_sysctl_set_sctp_pr_enable(1);
    usrsctp_sysctl_set_sctp_reconfig_enable(1);
    usrsctp_sysctl_set_sctp_max_chunks_on_queue(kMaxChunksOnQueue);
    usrsctp_sysctl_set_sctp_heartbeat_interval_default(10000);
    usrsctp_sysctl_set_sctp_rto_initial_default(1000);
    usrsctp_sysctl_set_sctp_rto_min_default(200);
    usrsctp_sysctl_set_sctp_rto_max_default(10000);
    usrsctp_sysctl_set_sctp_init_rto_max_default(10000);
    usrsctp_sysctl_set_sctp_init_rtx_max_default(8);
    usrsctp_sysctl_set_sctp_assoc_rtx_max_default(10);
    usrsctp_sysctl_set_sctp_path_rtx_max_default(5);
    usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
    usrsctp_sysctl_set_sctp_nr_outgoing_streams_default(kMaxStreams);
  });
}

// One tick of a loop's timer: advance usrsctp's clock and look at this loop's sockets.
bool tick(loop::Loop* loopPtr, std::uint64_t generation) {
  auto& reg = registry();
  std::uint32_t elapsed = 0;
  {
    std::lock_guard lock(reg.mutex);
    auto it = reg.loops.find(loopPtr);
    if (it == reg.loops.end() || it->second.generation != generation) return false;
    if (it->second.endpoints == 0) {
      reg.loops.erase(it);
      return false;
    }
    std::int64_t now = loop::nowMs();
    if (now > reg.lastTickMs) {
      elapsed = static_cast<std::uint32_t>(std::min<std::int64_t>(now - reg.lastTickMs, 60000));
      reg.lastTickMs = now;
    }
    for (const auto& [id, entry] : reg.entries) {
      if (entry.loop == loopPtr) markPending(id);
    }
  }
  if (elapsed > 0) usrsctp_handle_timers(elapsed);
  drainThisThread();
  return true;
}

// Starts the tick timer of a loop (on that loop), unless it was stopped again meanwhile.
void startTicking(loop::Loop& loop, std::uint64_t generation) {
  auto start = [loopPtr = &loop, generation] {
    auto timer =
        loopPtr->every(kTickInterval, [loopPtr, generation] { return tick(loopPtr, generation); });
    auto& reg = registry();
    {
      std::lock_guard lock(reg.mutex);
      auto it = reg.loops.find(loopPtr);
      if (it != reg.loops.end() && it->second.generation == generation) {
        it->second.timer = std::move(timer);
      }
    }
    // Not current: the timer is cancelled as it goes out of scope.
  };
  if (loop.isLoopThread()) {
    start();
  } else {
    loop.post(start);
  }
}

}  // namespace

std::uintptr_t attach(loop::Loop& loop, Endpoint& endpoint) {
  globalInit();
  auto& reg = registry();
  std::uintptr_t id = 0;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(reg.mutex);
    id = reg.nextId++;
    if (reg.entries.empty()) reg.lastTickMs = loop::nowMs();
    reg.entries[id] = Entry{&loop, &endpoint, {}};
    auto& state = reg.loops[&loop];
    if (state.endpoints++ == 0) {
      state.generation = reg.nextGeneration++;
      state.timer = {};
      generation = state.generation;
    }
  }
  if (generation != 0) startTicking(loop, generation);
  return id;
}

void setOwner(std::uintptr_t id, std::weak_ptr<void> owner) {
  auto& reg = registry();
  std::lock_guard lock(reg.mutex);
  auto it = reg.entries.find(id);
  if (it != reg.entries.end()) it->second.owner = std::move(owner);
}

void detach(std::uintptr_t id, loop::Loop& loop) {
  auto& reg = registry();
  loop::Timer cancel;  // cancelled once the lock is released
  {
    std::lock_guard lock(reg.mutex);
    reg.entries.erase(id);
    auto it = reg.loops.find(&loop);
    if (it != reg.loops.end() && it->second.endpoints > 0 && --it->second.endpoints == 0 &&
        loop.isLoopThread()) {
      cancel = std::move(it->second.timer);
      reg.loops.erase(it);
    }
    // Off the loop thread the timer notices at its next tick that it is no longer needed.
  }
  cancel.cancel();
}

void setUpcall(struct socket* sock, std::uintptr_t id) {
  usrsctp_set_upcall(sock, &upcall, address(id));
}

void clearUpcall(struct socket* sock) { usrsctp_set_upcall(sock, &noopUpcall, nullptr); }

void drainThisThread() {
  if (tlsDraining) return;
  tlsDraining = true;
  while (!tlsPending.empty()) {
    tlsBatch.clear();
    tlsBatch.swap(tlsPending);
    if (tlsBatch.size() > 1) {
      std::sort(tlsBatch.begin(), tlsBatch.end());
      tlsBatch.erase(std::unique(tlsBatch.begin(), tlsBatch.end()), tlsBatch.end());
    }
    for (std::size_t i = 0; i < tlsBatch.size(); ++i) {
      std::shared_ptr<void> owner;
      Endpoint* endpoint = nullptr;
      {
        auto& reg = registry();
        std::lock_guard lock(reg.mutex);
        auto it = reg.entries.find(tlsBatch[i]);
        if (it == reg.entries.end() || !it->second.loop->isLoopThread()) continue;
        owner = it->second.owner.lock();
        endpoint = it->second.endpoint;
      }
      // The reference keeps the owner alive while its callbacks run.
      if (owner) endpoint->service();
    }
  }
  tlsBatch.clear();
  tlsDraining = false;
}

void scheduleDrain(loop::Loop& loop) {
  if (tlsPending.empty() || tlsDraining || tlsDrainPosted) return;
  tlsDrainPosted = true;
  loop.post([] {
    tlsDrainPosted = false;
    drainThisThread();
  });
}

}  // namespace trystero::rtc::usrsctp

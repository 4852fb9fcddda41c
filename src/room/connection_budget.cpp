#include "room/connection_budget.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <atomic>
#include <mutex>

#include <glib.h>

namespace trystero::room {

namespace {

std::atomic<std::size_t> halfOpenCount{0};
std::atomic<std::size_t> liveCount{0};
std::atomic<std::uint64_t> refusedCount{0};
std::mutex limitsMutex;
ConnectionLimits currentLimits;

std::size_t openDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;  // no /proc: rely on the other bounds
  std::size_t count = 0;
  while (readdir(dir)) ++count;
  closedir(dir);
  return count > 3 ? count - 3 : 0;  // ".", ".." and the directory's own descriptor
}

std::size_t descriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<std::size_t>(limit.rlim_cur);
}

bool refuse(const char* why) {
  auto n = ++refusedCount;
  // Once, then rarely: a flood must not flood the log too.
  if (n == 1 || n % 1000 == 0) {
    g_warning("trystero: refusing a new peer connection (%s); %llu refused so far", why,
              static_cast<unsigned long long>(n));
  }
  return false;
}

}  // namespace

bool ConnectionBudget::admit() {
  auto limits = ConnectionBudget::limits();
  if (halfOpenCount.load() >= limits.maxHalfOpen) return refuse("too many half-open connections");
  std::size_t cap = descriptorLimit();
  if (cap != SIZE_MAX) {
    std::size_t needed = limits.reservedDescriptors + limits.descriptorsPerConnection;
    if (cap < needed || openDescriptors() > cap - needed) {
      return refuse("file descriptors nearly exhausted");
    }
  }
  return true;
}

void ConnectionBudget::created() {
  ++halfOpenCount;
  ++liveCount;
}

void ConnectionBudget::opened() { --halfOpenCount; }

void ConnectionBudget::destroyed(bool wasOpen) {
  if (!wasOpen) --halfOpenCount;
  --liveCount;
}

std::size_t ConnectionBudget::halfOpen() { return halfOpenCount.load(); }
std::size_t ConnectionBudget::live() { return liveCount.load(); }
std::uint64_t ConnectionBudget::refused() { return refusedCount.load(); }

void ConnectionBudget::setLimits(const ConnectionLimits& limits) {
  std::lock_guard lock(limitsMutex);
  currentLimits = limits;
}

ConnectionLimits ConnectionBudget::limits() {
  std::lock_guard lock(limitsMutex);
  return currentLimits;
}

}  // namespace trystero::room

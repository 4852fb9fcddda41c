// The network thread. One Loop owns one GMainContext and the thread that iterates it; every
// network object (ICE agent, DTLS, SCTP, WebSocket, room state) lives on exactly one loop and
// is touched only from its thread. Other threads hand work over with post() or invoke().
#pragma once

#include <glib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace trystero::loop {

class Loop;

// A pending call on a loop's clock (Loop::after, Loop::every). Destroying or cancelling the
// handle cancels the call; cancelling one that already ran is a no-op. The handle may be
// destroyed on any thread (off the loop thread the cancellation is posted), but never after its
// loop.
class Timer {
 public:
  Timer() = default;
  Timer(Timer&& other) noexcept;
  Timer& operator=(Timer&& other) noexcept;  // cancels what this handle held
  ~Timer() { cancel(); }

  void cancel();
  // True from scheduling until cancelled (a one-shot timer that already ran still counts).
  explicit operator bool() const { return loop_ != nullptr; }

 private:
  friend class Loop;
  Timer(Loop* loop, std::uint64_t id) : loop_(loop), id_(id) {}
  Loop* loop_ = nullptr;
  std::uint64_t id_ = 0;
};

class Loop {
 public:
  using Task = std::function<void()>;

  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // The process-wide loop the public API runs on; started on first use, never destroyed
  // before exit so that objects released late (static destructors, leaked handles) stay safe.
  static Loop& shared();

  GMainContext* context() const { return context_; }
  bool isLoopThread() const { return std::this_thread::get_id() == threadId_; }

  // Thread-safe. Tasks run in posting order on the loop thread. Tasks posted after the loop
  // stopped are destroyed without running.
  void post(Task task);

  // Runs f on the loop thread and waits for its result; runs inline when already there, so it
  // cannot deadlock the loop against itself.
  template <typename F>
  auto invoke(F&& f) -> std::invoke_result_t<F> {
    using R = std::invoke_result_t<F>;
    if (isLoopThread()) return f();
    std::packaged_task<R()> task(std::forward<F>(f));
    auto result = task.get_future();
    post([&task] { task(); });
    return result.get();
  }

  // Loop thread only. Calls f once after delay on this loop's clock, unless the returned handle
  // was cancelled or destroyed first.
  [[nodiscard]] Timer after(std::chrono::milliseconds delay, std::function<void()> f);
  // Loop thread only. Calls f every interval for as long as it returns true and the handle lives.
  [[nodiscard]] Timer every(std::chrono::milliseconds interval, std::function<bool()> f);

  // This loop's clock, in milliseconds: monotonic, running with real time unless a test moved it
  // ahead. Timers, deadlines and ages in the protocol logic read it.
  std::int64_t nowMs() const;
  // Thread-safe; for tests. Moves this loop's clock ahead by delta, so that what waits on it
  // (timers, ages, deadlines) happens without waiting in real time. Off the loop thread, returns
  // once the timers due by then have run, in deadline order.
  void advanceClock(std::chrono::milliseconds delta);

  // Stops the thread after the tasks already posted have run. Idempotent.
  void stop();
  // stop(), then waits for the thread to end (unless called on it).
  void stopAndJoin();

 private:
  friend class Timer;
  using TimerId = std::uint64_t;
  TimerId addTimer(std::chrono::milliseconds interval, std::function<bool()> f);
  TimerId callLater(std::chrono::milliseconds delay, std::function<void()> f);
  void cancelTimer(TimerId id);
  struct WakeSource;
  WakeSource* newWakeSource(void (Loop::*run)());
  struct PendingTimer {
    std::int64_t deadlineUs;
    std::int64_t intervalUs;  // 0: one-shot
    std::function<bool()> callback;
  };
  TimerId schedule(std::chrono::milliseconds delay, std::chrono::milliseconds interval,
                   std::function<bool()> f);
  void runDueTimers();
  void rearmTimerSource();
  void fireTimers();
  std::int64_t nowUs() const;
  void run();
  void drainTasks();

  GMainContext* context_;
  GMainLoop* mainLoop_;
  WakeSource* taskSource_;
  std::mutex mutex_;
  std::vector<Task> pending_;
  bool stopped_ = false;
  std::thread thread_;
  std::thread::id threadId_;
  // Loop thread only: timers by id (ids grow, so equal deadlines run in scheduling order).
  TimerId nextTimerId_ = 1;
  std::map<TimerId, PendingTimer> timers_;
  WakeSource* timerSource_;
  std::atomic<std::int64_t> clockAheadUs_{0};
};

// Calls on a loop's clock that belong to one owner and end with it, for owners that need no
// handle per call (deadlines for things they hold by id). Scheduling: loop thread only; the
// group may be destroyed on any thread, and nothing it scheduled runs after that.
class TimerGroup {
 public:
  explicit TimerGroup(Loop& loop) : loop_(&loop) {}
  void after(std::chrono::milliseconds delay, std::function<void()> f);
  // Scheduled calls not yet run.
  std::size_t size() const { return pending_->timers.size(); }

 private:
  struct Pending {
    std::uint64_t next = 1;
    std::map<std::uint64_t, Timer> timers;
  };
  Loop* loop_;
  std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();
};

// Milliseconds on the real monotonic clock, for measurements (protocol logic reads its loop's
// clock, Loop::nowMs).
std::int64_t nowMs();

}  // namespace trystero::loop

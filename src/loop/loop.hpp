// The network thread. One Loop owns one GMainContext and the thread that iterates it; every
// network object (ICE agent, DTLS, SCTP, WebSocket, room state) lives on exactly one loop and
// is touched only from its thread. Other threads hand work over with post() or invoke().
#pragma once

#include <glib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace trystero::loop {

class Loop {
 public:
  using Task = std::function<void()>;
  using TimerId = std::uint64_t;

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

  // Loop thread only. Calls f after delay, then again every delay for as long as f returns
  // true. The id stays valid until the timer ends or is cancelled; cancelling a finished
  // timer is a no-op.
  TimerId addTimer(std::chrono::milliseconds delay, std::function<bool()> f);
  // Loop thread only. One-shot convenience.
  TimerId callLater(std::chrono::milliseconds delay, std::function<void()> f);
  void cancelTimer(TimerId id);

  // Stops the thread after the tasks already posted have run. Idempotent.
  void stop();
  // stop(), then waits for the thread to end (unless called on it).
  void stopAndJoin();

 private:
  struct TaskSource;
  struct Timer;
  static gboolean dispatchTimer(gpointer data);
  void run();
  void drainTasks();

  GMainContext* context_;
  GMainLoop* mainLoop_;
  TaskSource* taskSource_;
  std::mutex mutex_;
  std::vector<Task> pending_;
  bool stopped_ = false;
  std::thread thread_;
  std::thread::id threadId_;
  TimerId nextTimerId_ = 1;
  std::vector<std::unique_ptr<Timer>> timers_;
};

// Milliseconds on a monotonic clock, for deadlines and measurements.
std::int64_t nowMs();

}  // namespace trystero::loop

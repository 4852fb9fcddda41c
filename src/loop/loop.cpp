#include "loop/loop.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace trystero::loop {

// A source the loop makes ready itself, by setting its ready time (tasks posted, a timer due).
struct Loop::WakeSource {
  GSource source;
  Loop* loop;
  void (Loop::*run)();
};

Loop::WakeSource* Loop::newWakeSource(void (Loop::*run)()) {
  static GSourceFuncs funcs = {
      [](GSource*, gint* timeout) -> gboolean {
        *timeout = -1;
        return FALSE;
      },
      [](GSource*) -> gboolean { return FALSE; },
      [](GSource* source, GSourceFunc, gpointer) -> gboolean {
        auto* wake = reinterpret_cast<WakeSource*>(source);
        (wake->loop->*wake->run)();
        return G_SOURCE_CONTINUE;
      },
      nullptr,
      nullptr,
      nullptr,
  };
  auto* wake = reinterpret_cast<WakeSource*>(g_source_new(&funcs, sizeof(WakeSource)));
  wake->loop = this;
  wake->run = run;
  g_source_set_priority(&wake->source, G_PRIORITY_DEFAULT);
  g_source_attach(&wake->source, context_);
  return wake;
}

Loop::Loop()
    : context_(g_main_context_new()),
      mainLoop_(g_main_loop_new(context_, FALSE)),
      taskSource_(newWakeSource(&Loop::drainTasks)),
      timerSource_(newWakeSource(&Loop::fireTimers)) {
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, &started] {
    threadId_ = std::this_thread::get_id();
    started.set_value();
    run();
  });
  ready.wait();
}

Loop::~Loop() {
  stop();
  if (thread_.joinable()) thread_.join();
  timers_.clear();
  for (auto* wake : {timerSource_, taskSource_}) {
    g_source_destroy(&wake->source);
    g_source_unref(&wake->source);
  }
  g_main_loop_unref(mainLoop_);
  g_main_context_unref(context_);
}

Loop& Loop::shared() {
  // Deliberately leaked: the loop must outlive every static object that might post to it. Its
  // thread, though, is stopped at exit before OpenSSL cleans up after itself (OpenSSL
  // registers that cleanup with atexit when first initialised, so initialising it here first
  // makes ours run earlier): a DTLS context freed on the network thread during OpenSSL's
  // cleanup is a race ThreadSanitizer rightly reports.
  static Loop* instance = [] {
    OPENSSL_init_ssl(0, nullptr);
    auto* loop = new Loop();
    std::atexit([] { shared().stopAndJoin(); });
    return loop;
  }();
  return *instance;
}

void Loop::stopAndJoin() {
  stop();
  // exit() called from a callback on the loop thread cannot wait for that thread.
  if (!isLoopThread() && thread_.joinable()) thread_.join();
}

void Loop::run() {
  g_main_context_push_thread_default(context_);
  g_main_loop_run(mainLoop_);
  drainTasks();
  g_main_context_pop_thread_default(context_);
}

void Loop::post(Task task) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    pending_.push_back(std::move(task));
    // The source is made ready only when the queue turns non-empty: one wake-up per batch.
    if (pending_.size() == 1) g_source_set_ready_time(&taskSource_->source, 0);
  }
}

void Loop::drainTasks() {
  std::vector<Task> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(pending_);
    g_source_set_ready_time(&taskSource_->source, -1);
  }
  for (auto& task : batch) task();
}

void Loop::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  // Quit from inside the loop so that tasks posted before stop() still run first.
  g_main_context_invoke(
      context_,
      [](gpointer data) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop*>(data));
        return G_SOURCE_REMOVE;
      },
      mainLoop_);
}

Loop::TimerId Loop::schedule(std::chrono::milliseconds delay, std::chrono::milliseconds interval,
                             std::function<bool()> f) {
  const TimerId id = nextTimerId_++;
  const std::int64_t delayUs = std::max<std::int64_t>(0, delay.count()) * 1000;
  timers_.emplace(id, PendingTimer{nowUs() + delayUs, interval.count() * 1000, std::move(f)});
  rearmTimerSource();
  return id;
}

Loop::TimerId Loop::addTimer(std::chrono::milliseconds interval, std::function<bool()> f) {
  return schedule(interval, std::max(interval, std::chrono::milliseconds(1)), std::move(f));
}

Loop::TimerId Loop::callLater(std::chrono::milliseconds delay, std::function<void()> f) {
  return schedule(delay, {}, [f = std::move(f)] {
    f();
    return false;
  });
}

Timer Loop::after(std::chrono::milliseconds delay, std::function<void()> f) {
  return Timer(this, callLater(delay, std::move(f)));
}

Timer Loop::every(std::chrono::milliseconds interval, std::function<bool()> f) {
  return Timer(this, addTimer(interval, std::move(f)));
}

void Loop::cancelTimer(TimerId id) {
  if (timers_.erase(id) > 0) rearmTimerSource();
}

void Loop::runDueTimers() {
  const std::int64_t now = nowUs();
  // Decided up front: what the callbacks schedule runs on a later turn, and what they cancel
  // does not run.
  std::vector<std::pair<std::int64_t, TimerId>> due;
  for (const auto& [id, timer] : timers_) {
    if (timer.deadlineUs <= now) due.emplace_back(timer.deadlineUs, id);
  }
  std::sort(due.begin(), due.end());
  for (const auto& [deadline, id] : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    // The callback may cancel this timer (erasing it) while it runs: it runs from here.
    auto callback = std::move(it->second.callback);
    const bool repeating = it->second.intervalUs > 0;
    if (!repeating) timers_.erase(it);
    const bool again = callback();
    if (!repeating) continue;
    it = timers_.find(id);
    if (it == timers_.end()) continue;
    if (!again) {
      timers_.erase(it);
      continue;
    }
    it->second.callback = std::move(callback);
    it->second.deadlineUs = nowUs() + it->second.intervalUs;
  }
}

void Loop::fireTimers() {
  runDueTimers();
  rearmTimerSource();
}

void Loop::rearmTimerSource() {
  if (timers_.empty()) {
    g_source_set_ready_time(&timerSource_->source, -1);
    return;
  }
  std::int64_t earliest = timers_.begin()->second.deadlineUs;
  for (const auto& [id, timer] : timers_) earliest = std::min(earliest, timer.deadlineUs);
  // GLib's ready time is on the real monotonic clock; ours may run ahead of it.
  const std::int64_t real = earliest - clockAheadUs_.load();
  g_source_set_ready_time(&timerSource_->source, std::max<std::int64_t>(0, real));
}

std::int64_t Loop::nowUs() const { return g_get_monotonic_time() + clockAheadUs_.load(); }

std::int64_t Loop::nowMs() const { return nowUs() / 1000; }

void Loop::advanceClock(std::chrono::milliseconds delta) {
  clockAheadUs_ += std::max<std::int64_t>(0, delta.count()) * 1000;
  if (isLoopThread()) {
    rearmTimerSource();
    return;
  }
  invoke([this] { fireTimers(); });
}

void TimerGroup::after(std::chrono::milliseconds delay, std::function<void()> f) {
  const auto id = pending_->next++;
  std::weak_ptr<Pending> weak = pending_;
  pending_->timers.emplace(id, loop_->after(delay, [weak, id, f = std::move(f)] {
    auto pending = weak.lock();
    if (!pending) return;  // the group went while its cancellation was on its way
    pending->timers.erase(id);
    f();
  }));
}

Timer::Timer(Timer&& other) noexcept
    : loop_(std::exchange(other.loop_, nullptr)), id_(std::exchange(other.id_, 0)) {}

Timer& Timer::operator=(Timer&& other) noexcept {
  if (this != &other) {
    cancel();
    loop_ = std::exchange(other.loop_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void Timer::cancel() {
  Loop* loop = std::exchange(loop_, nullptr);
  if (!loop) return;
  if (loop->isLoopThread()) {
    loop->cancelTimer(id_);
  } else {
    loop->post([loop, id = id_] { loop->cancelTimer(id); });
  }
}

std::int64_t nowMs() { return g_get_monotonic_time() / 1000; }

}  // namespace trystero::loop

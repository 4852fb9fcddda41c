#include "loop/loop.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>

namespace trystero::loop {

struct Loop::TaskSource {
  GSource source;
  Loop* loop;
};

struct Loop::Timer {
  Loop* loop;
  TimerId id;
  guint sourceId;
  std::function<bool()> callback;
};

namespace {

gboolean taskPrepare(GSource* source, gint* timeout) {
  *timeout = -1;
  (void)source;
  return FALSE;
}

gboolean taskCheck(GSource*) { return FALSE; }

}  // namespace

Loop::Loop() : context_(g_main_context_new()), mainLoop_(g_main_loop_new(context_, FALSE)) {
  static GSourceFuncs funcs = {
      taskPrepare,
      taskCheck,
      [](GSource* source, GSourceFunc, gpointer) -> gboolean {
        auto* self = reinterpret_cast<TaskSource*>(source)->loop;
        self->drainTasks();
        return G_SOURCE_CONTINUE;
      },
      nullptr,
      nullptr,
      nullptr,
  };
  taskSource_ = reinterpret_cast<TaskSource*>(g_source_new(&funcs, sizeof(TaskSource)));
  taskSource_->loop = this;
  g_source_set_priority(&taskSource_->source, G_PRIORITY_DEFAULT);
  g_source_attach(&taskSource_->source, context_);
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
  for (auto& timer : timers_) {
    if (auto* source = g_main_context_find_source_by_id(context_, timer->sourceId)) {
      g_source_destroy(source);
    }
  }
  timers_.clear();
  g_source_destroy(&taskSource_->source);
  g_source_unref(&taskSource_->source);
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

gboolean Loop::dispatchTimer(gpointer data) {
  auto* timer = static_cast<Timer*>(data);
  Loop* self = timer->loop;
  TimerId id = timer->id;
  // The callback may cancel this or other timers, so keep it alive by moving it out.
  auto callback = timer->callback;
  bool again = callback();
  auto it = std::find_if(self->timers_.begin(), self->timers_.end(),
                         [id](const auto& t) { return t->id == id; });
  if (it == self->timers_.end()) return G_SOURCE_REMOVE;  // cancelled from within
  if (again) return G_SOURCE_CONTINUE;
  self->timers_.erase(it);
  return G_SOURCE_REMOVE;
}

Loop::TimerId Loop::addTimer(std::chrono::milliseconds delay, std::function<bool()> f) {
  auto timer = std::make_unique<Timer>();
  timer->loop = this;
  timer->id = nextTimerId_++;
  timer->callback = std::move(f);
  GSource* source = g_timeout_source_new(static_cast<guint>(std::max<int64_t>(0, delay.count())));
  g_source_set_callback(source, &Loop::dispatchTimer, timer.get(), nullptr);
  timer->sourceId = g_source_attach(source, context_);
  g_source_unref(source);
  TimerId id = timer->id;
  timers_.push_back(std::move(timer));
  return id;
}

Loop::TimerId Loop::callLater(std::chrono::milliseconds delay, std::function<void()> f) {
  return addTimer(delay, [f = std::move(f)] {
    f();
    return false;
  });
}

void Loop::cancelTimer(TimerId id) {
  auto it =
      std::find_if(timers_.begin(), timers_.end(), [id](const auto& t) { return t->id == id; });
  if (it == timers_.end()) return;
  if (auto* source = g_main_context_find_source_by_id(context_, (*it)->sourceId)) {
    g_source_destroy(source);
  }
  timers_.erase(it);
}

std::int64_t nowMs() { return g_get_monotonic_time() / 1000; }

}  // namespace trystero::loop

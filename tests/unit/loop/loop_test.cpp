#include "loop/loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

using trystero::loop::Loop;
using trystero::loop::Timer;
using namespace std::chrono_literals;

TEST(Loop, RunsPostedTasksInOrderOnItsThread) {
  Loop loop;
  std::vector<int> seen;
  std::promise<void> done;
  for (int i = 0; i < 100; ++i) {
    loop.post([&, i] {
      EXPECT_TRUE(loop.isLoopThread());
      seen.push_back(i);
      if (i == 99) done.set_value();
    });
  }
  done.get_future().wait();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(Loop, InvokeReturnsValueAndRunsInlineOnLoopThread) {
  Loop loop;
  EXPECT_EQ(loop.invoke([] { return 42; }), 42);
  int nested = loop.invoke([&] { return loop.invoke([] { return 7; }); });
  EXPECT_EQ(nested, 7);
}

TEST(Loop, PostFromManyThreads) {
  Loop loop;
  std::atomic<int> count{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) loop.post([&] { count++; });
    });
  }
  for (auto& t : threads) t.join();
  loop.invoke([] {});
  EXPECT_EQ(count.load(), 4000);
}

TEST(Loop, TimersRepeatUntilTheyReturnFalse) {
  Loop loop;
  std::promise<int> fired;
  int ticks = 0;
  Timer timer = loop.invoke([&] {
    return loop.every(5ms, [&] {
      if (++ticks == 3) {
        fired.set_value(ticks);
        return false;
      }
      return true;
    });
  });
  EXPECT_EQ(fired.get_future().get(), 3);
  loop.invoke([&] { timer.cancel(); });
}

TEST(Loop, AdvancingTheClockRunsDueTimersInDeadlineOrderAndNoOthers) {
  Loop loop;
  std::vector<std::string> ran;
  std::vector<Timer> timers;
  const auto start = loop.nowMs();
  loop.invoke([&] {
    timers.push_back(loop.after(300ms, [&] { ran.push_back("300"); }));
    timers.push_back(loop.after(100ms, [&] { ran.push_back("100"); }));
    timers.push_back(loop.after(200ms, [&] { ran.push_back("200"); }));
    timers.push_back(loop.after(10h, [&] { ran.push_back("10h"); }));
  });
  loop.advanceClock(1s);
  EXPECT_EQ(loop.invoke([&] { return ran; }), (std::vector<std::string>{"100", "200", "300"}));
  EXPECT_GE(loop.nowMs() - start, 1000);
  loop.invoke([&] { timers.clear(); });
}

TEST(Loop, RepeatingTimerFollowsTheClock) {
  Loop loop;
  std::atomic<int> ticks{0};
  Timer timer = loop.invoke([&] {
    return loop.every(1h, [&] {
      ticks++;
      return true;
    });
  });
  loop.advanceClock(1h);
  EXPECT_EQ(ticks, 1);
  loop.advanceClock(1h);
  EXPECT_EQ(ticks, 2);
  loop.invoke([&] { timer = {}; });
  loop.advanceClock(1h);
  EXPECT_EQ(ticks, 2);
}

TEST(Loop, CancelledOrDestroyedTimersNeverRun) {
  Loop loop;
  std::atomic<int> ran{0};
  Timer kept = loop.invoke([&] {
    auto cancelled = loop.after(20ms, [&] { ran++; });
    cancelled.cancel();
    {
      auto destroyed = loop.after(20ms, [&] { ran++; });
    }
    auto replaced = loop.after(20ms, [&] { ran++; });
    replaced = loop.after(1h, [&] { ran += 100; });  // the first call is cancelled
    return replaced;
  });
  // A handle destroyed off the loop thread cancels too (the cancellation is posted).
  { Timer moved = std::move(kept); }
  loop.advanceClock(2h);
  EXPECT_EQ(ran, 0);
}

TEST(Loop, TimerCanCancelItselfFromCallback) {
  Loop loop;
  std::promise<void> done;
  Timer timer;
  loop.invoke([&] {
    timer = loop.every(1ms, [&] {
      timer.cancel();
      done.set_value();
      return true;
    });
  });
  done.get_future().wait();
  loop.advanceClock(1s);  // it would have run again
}

TEST(Loop, TimerGroupRunsItsCallsAndCancelsTheRestWhenItGoes) {
  Loop loop;
  std::vector<int> ran;
  auto group = std::make_unique<trystero::loop::TimerGroup>(loop);
  loop.invoke([&] {
    group->after(10ms, [&] { ran.push_back(1); });
    group->after(1h, [&] { ran.push_back(2); });
    EXPECT_EQ(group->size(), 2u);
  });
  loop.advanceClock(1s);
  EXPECT_EQ(loop.invoke([&] { return group->size(); }), 1u);
  group.reset();  // off the loop thread
  loop.advanceClock(2h);
  EXPECT_EQ(loop.invoke([&] { return ran; }), std::vector<int>{1});
}

#include "loop/loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

using trystero::loop::Loop;

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

TEST(Loop, TimersRepeatAndCancel) {
  Loop loop;
  std::promise<int> fired;
  int ticks = 0;
  loop.invoke([&] {
    loop.addTimer(std::chrono::milliseconds(5), [&] {
      if (++ticks == 3) {
        fired.set_value(ticks);
        return false;
      }
      return true;
    });
  });
  EXPECT_EQ(fired.get_future().get(), 3);

  std::atomic<bool> cancelledRan{false};
  loop.invoke([&] {
    auto id = loop.callLater(std::chrono::milliseconds(20), [&] { cancelledRan = true; });
    loop.cancelTimer(id);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(cancelledRan.load());
}

TEST(Loop, TimerCanCancelItselfFromCallback) {
  Loop loop;
  std::promise<void> done;
  loop.invoke([&] {
    auto id = std::make_shared<Loop::TimerId>();
    *id = loop.addTimer(std::chrono::milliseconds(1), [&, id] {
      loop.cancelTimer(*id);
      done.set_value();
      return true;
    });
  });
  done.get_future().wait();
  loop.invoke([] {});
}

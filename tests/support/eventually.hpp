// Polling until a condition holds, for tests whose work happens on other threads.
#pragma once

#include <chrono>
#include <thread>

namespace trystero::testing {

// Waits until f() holds, polling every `poll`; false on timeout (f is tried once more then). The
// default timeout only bounds how long a broken test takes to fail.
template <typename F>
bool eventually(F f, std::chrono::milliseconds timeout = std::chrono::seconds(30),
                std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(poll);
  }
  return f();
}

}  // namespace trystero::testing

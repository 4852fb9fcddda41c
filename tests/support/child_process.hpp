// A child process with line-based stdin/stdout pipes, stopped by the PID recorded at spawn.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace trystero::testing {

class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void writeLine(const std::string& line);
  // Next stdout line, or nullopt on timeout/EOF.
  std::optional<std::string> readLine(std::chrono::milliseconds timeout);
  // Waits for exit (after closing stdin) up to timeout, then SIGKILLs. Returns exit status.
  int finish(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string buffer_;
};

// Directory of the running test executable (programs are built beside the tests).
std::string executableDir();

}  // namespace trystero::testing

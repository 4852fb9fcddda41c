// `trystero demo`: everything on this machine, nothing configured. It starts the built-in Nostr
// relay, runs `trystero receive` and `trystero send` as two separate processes (two peers, as
// on two machines) pointed at it, sends a file of --size MiB and prints what it measured.
#include <trystero/relay_server.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "commands.hpp"

extern char** environ;

namespace trystero::cli {

namespace fs = std::filesystem;

namespace {

// One child `trystero` speaking --json on its stdout.
struct Child {
  explicit Child(std::string childName) : name(std::move(childName)) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  std::string name;
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;
  std::optional<int> exitCode;

  void start(const std::string& program, const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    // The child must not inherit our blocked signal mask: it handles its own.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    int error = posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(fds[1]);
    if (error != 0) {
      ::close(fds[0]);
      throw std::runtime_error("cannot start " + program + ": " + std::strerror(error));
    }
    fd = fds[0];
  }

  // Complete lines read so far (call when fd is readable); closes fd at end of file.
  std::vector<nlohmann::json> read() {
    std::vector<nlohmann::json> events;
    char chunk[4096];
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
      ::close(fd);
      fd = -1;
      return events;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto newline = buffer.find('\n'); newline != std::string::npos;
         newline = buffer.find('\n')) {
      auto event = nlohmann::json::parse(buffer.substr(0, newline), nullptr, false);
      buffer.erase(0, newline + 1);
      if (event.is_object()) events.push_back(std::move(event));
    }
    return events;
  }

  void reap(bool wait) {
    if (pid < 0 || exitCode) return;
    int status = 0;
    if (::waitpid(pid, &status, wait ? 0 : WNOHANG) == pid) {
      exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }

  ~Child() {
    if (fd >= 0) ::close(fd);
    if (pid > 0 && !exitCode) {
      ::kill(pid, SIGTERM);
      reap(true);
    }
  }
};

std::string selfExecutable() {
  std::error_code error;
  auto path = fs::read_symlink("/proc/self/exe", error);
  if (error) throw std::runtime_error("cannot find the trystero executable (/proc/self/exe)");
  return path.string();
}

void writeRandomFile(const fs::path& path, std::size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  std::mt19937_64 random(20221124);
  std::vector<std::uint64_t> block(1 << 17);
  for (std::size_t written = 0; written < bytes;) {
    for (auto& word : block) word = random();
    auto n = std::min(bytes - written, block.size() * sizeof(std::uint64_t));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    written += n;
  }
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int runDemo(const Options& options, Output& out) {
  bool interrupted = false;
  watchTerminationSignals([&](int) { interrupted = true; });
  struct Unwatch {
    ~Unwatch() { watchTerminationSignals({}); }
  } unwatch;

  nostr::RelayServer relay;  // 127.0.0.1, a free port
  auto scratch = fs::temp_directory_path() / ("trystero-demo-" + std::to_string(::getpid()));
  fs::create_directories(scratch / "received");
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code error;
      fs::remove_all(dir, error);
    }
  } cleanup{scratch};
  auto file = scratch / "demo.bin";
  std::size_t bytes = options.demoMiB * 1024 * 1024;
  writeRandomFile(file, bytes);

  std::string room = "demo-" + selfId().substr(0, 8);
  std::vector<std::string> common{"--relay", relay.url(), "--local", "--app-id",  "trystero-demo",
                                  "--room",  room,        "--json",  "--timeout", "60"};
  out.event({{"event", "demo"}, {"relay", relay.url()}, {"bytes", bytes}},
            "demo: built-in Nostr relay at " + relay.url() +
                "; two peers (separate processes) in room '" + room + "'; sending " +
                humanBytes(static_cast<double>(bytes)) + " ...");

  auto program = selfExecutable();
  auto started = std::chrono::steady_clock::now();
  Child receiver("receiver"), sender("sender");
  auto receiverArgs = std::vector<std::string>{"receive", "--dir", (scratch / "received").string()};
  receiverArgs.insert(receiverArgs.end(), common.begin(), common.end());
  auto senderArgs = std::vector<std::string>{"send", file.string()};
  senderArgs.insert(senderArgs.end(), common.begin(), common.end());
  receiver.start(program, receiverArgs);
  sender.start(program, senderArgs);

  std::optional<double> joinMs, sendingMs;
  nlohmann::json sent, received;
  while ((receiver.fd >= 0 || sender.fd >= 0) && !interrupted) {
    pollfd fds[2] = {{receiver.fd, POLLIN, 0}, {sender.fd, POLLIN, 0}};
    if (::poll(fds, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
      auto& child = i == 0 ? receiver : sender;
      for (auto& event : child.read()) {
        auto kind = event.value("event", "");
        if (kind == "peer-join" && !joinMs) joinMs = msSince(started);
        if (kind == "sending") sendingMs = msSince(started);
        if (kind == "sent") sent = event;
        if (kind == "received") received = event;
        if (kind == "error") out.error(child.name + ": " + event.value("message", ""));
        if (options.json)
          out.event(nlohmann::json{{"event", "child"}, {"child", child.name}, {"data", event}}, "");
      }
    }
  }
  if (interrupted) return kInterrupted;
  receiver.reap(true);
  sender.reap(true);

  bool ok = receiver.exitCode == 0 && sender.exitCode == 0 && received.value("verified", false);
  if (!ok) {
    out.error("demo failed: receiver exited " + std::to_string(receiver.exitCode.value_or(-1)) +
              ", sender " + std::to_string(sender.exitCode.value_or(-1)));
    return kFailed;
  }
  double seconds = received.value("seconds", 0.0);
  double rate = seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0;
  char summary[512];
  std::snprintf(summary, sizeof summary,
                "demo: peers found each other %.0f ms after start; %s sent in %.2f s = %.1f MB/s "
                "(%.1f MiB/s); SHA-256 verified by the receiver",
                joinMs.value_or(0), humanBytes(static_cast<double>(bytes)).c_str(), seconds, rate,
                rate * 1e6 / (1024 * 1024));
  out.line({{"event", "demo-result"},
            {"joinMs", joinMs.value_or(0)},
            {"bytes", bytes},
            {"seconds", seconds},
            {"megabytesPerSecond", rate},
            {"verified", true}},
           summary);
  return kOk;
}

}  // namespace trystero::cli

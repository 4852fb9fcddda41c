// `trystero`: the command line. See `trystero --help` and README.md.
#include <glib.h>

#include <exception>
#include <iostream>
#include <string_view>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace trystero::cli;
  blockTerminationSignals();
  // stdout carries data (pipe, receive --stdout) or JSON lines: GLib would write debug
  // messages (G_MESSAGES_DEBUG) there by default.
  g_log_writer_default_set_use_stderr(TRUE);
  Options options;
  try {
    options = parseOptions(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "trystero: " << e.what() << "\nRun 'trystero --help' for usage.\n";
    return kUsage;
  }
  if (options.command == "help") {
    std::cout << usageText();
    return kOk;
  }
  Output out(options);
  try {
    if (options.command == "chat") return runChat(options, out);
    if (options.command == "send") return runSend(options, out);
    if (options.command == "receive") return runReceive(options, out);
    if (options.command == "pipe") return runPipe(options, out);
    if (options.command == "record") return runRecord(options, out);
    if (options.command == "stream") return runStream(options, out);
    if (options.command == "relay") return runRelay(options, out);
    if (options.command == "demo") return runDemo(options, out);
  } catch (const UsageError& e) {
    out.error(std::string(e.what()) + "\nRun 'trystero --help' for usage.");
    return kUsage;
  } catch (const std::exception& e) {
    // The library's messages carry its name already.
    std::string_view message = e.what();
    if (message.starts_with("trystero: ")) message.remove_prefix(10);
    out.error(std::string(message));
    return kFailed;
  }
  return kUsage;
}

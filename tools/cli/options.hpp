// Command-line options of `trystero`, parsed once on the main thread.
#pragma once

#include <trystero/trystero.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace trystero::cli {

// A mistake on the command line: printed with a hint to --help, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string command;  // chat | send | receive | pipe | record | stream | relay | demo | help
  std::vector<std::string> arguments;  // positional arguments after the command
  std::string room;
  std::string strategy = "nostr";  // like the JS, whose `trystero` import is Nostr
  std::string appId = "trystero-cli";
  std::string password;
  std::string supabaseKey;  // --strategy supabase: the project's anon key
  std::vector<std::string> relays;
  std::string rootPath;  // firebase: where rooms live in the database (default __trystero__)
  std::string firebaseAuthToken;  // firebase: presented to databases whose rules want sign-in
  std::vector<IceServer> turn;
  std::vector<std::string> stun;
  bool local = false;  // no public STUN; loopback candidates (one machine, or a netns)
  bool json = false;
  int verbosity = 0;
  std::optional<double> timeoutSeconds;  // waiting for peers / for the transfer to start
  // receive
  std::string dir = ".";
  bool keep = false;
  // send
  std::size_t peers = 1;
  // stream
  bool loop = false;
  std::string meta;  // JSON for addStream's metadata
  // relay
  std::string host = "127.0.0.1";
  std::uint16_t port = 7447;
  // demo
  std::size_t demoMiB = 32;
};

// Throws UsageError.
Options parseOptions(int argc, char** argv);

const char* usageText();

// The strategies this build knows, for --strategy and the help text.
const std::vector<std::string>& strategyNames();

// The room Config the options describe.
Config toConfig(const Options& options);

}  // namespace trystero::cli

#include "options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string_view>

namespace trystero::cli {

namespace {

const char* kUsage = R"(trystero: serverless WebRTC rooms, wire-compatible with trystero@0.22.0

usage:
  trystero chat ROOM [options]               chat line by line with the peers in ROOM
  trystero send FILE... --room ROOM [opts]   send files to the first peer(s) that join
  trystero receive --room ROOM [--dir D]     receive files into D (default: .)
  trystero pipe --room ROOM [options]        stdin to the peers, the peers to stdout
  trystero record --room ROOM [--dir D]      every track peers send into playable files in D
  trystero stream FILE.ivf [FILE.ogg] --room ROOM [--loop] [--meta JSON]
                                             play VP8 (IVF) and Opus (Ogg) files to each peer
                                             as a stream, in real time, from the start
  trystero relay [--port P] [--host H]       run a Nostr relay for your own signalling
  trystero demo [--size MIB]                 a local relay, two peers, one file: the rate

options:
  --strategy NAME     nostr (default), mqtt, torrent, firebase or supabase
  --app-id ID         application id (default: trystero-cli); peers must agree.
                      firebase: the database URL (https://DB.firebaseio.com,
                      http://HOST:PORT?ns=DB); supabase: the project URL
                      (https://<ref>.supabase.co)
  --root-path PATH    firebase: the database path rooms live under (default __trystero__)
  --firebase-auth TOKEN  firebase: an auth token for databases whose rules want sign-in
  --supabase-key KEY  supabase: the project's anon key
  --password PW       encrypts signalling; peers with another password cannot join
  --relay URL         a relay / broker / tracker to use (repeatable; default: public ones)
  --turn URL,USER,PASS  a TURN server (repeatable)
  --stun URL          a STUN server instead of the public defaults (repeatable)
  --local             no public STUN; allow loopback (peers on one machine, offline)
  --timeout SECONDS   give up when no peer joined (and for send: nothing arrived) by then
  --peers N           send: wait for N peers and send to all of them (default 1)
  --dir D             receive, record: where files go (default: the current directory)
  --keep              receive: keep receiving after the first batch of files
  --loop              stream: start the files over at their end (else the stream is removed)
  --meta JSON         stream: the stream's metadata (default {"files": [names]})
  --port P, --host H  relay: where to listen (default 127.0.0.1:7447)
  --size MIB          demo: size of the file sent (default 32)
  --json              events as JSON lines on stdout (for programs)
  -v, --verbose       more diagnostics on stderr
  -h, --help          this text

Browser peers meet these commands with trystero@0.22.0 and the same app id and room:
chat uses the action 'chat' (strings), send/receive the action 'file' (binary, metadata
{name, size, sha256, offset, length, index, files}; the receiver answers 'file-ack' per file
and 'file-part' per part written), pipe the actions 'pipe' (binary, metadata {offset}),
'pipe-end' {bytes}, 'pipe-done' {bytes} and 'pipe-ack' ({hello: true} on joining, then {bytes
written so far}). A sender waits for the acknowledgements only from peers that send them.

exit codes: 0 done; 1 transfer failed or not verified; 2 bad usage; 3 join error (wrong
password, or the firebase database refused the token or access); 4 timed out (no peer, or no
relay reachable); 130 interrupted.
)";

double parseNumber(std::string_view flag, const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(value >= 0)) {
    throw UsageError(std::string(flag) + " wants a non-negative number, not '" + text + "'");
  }
  return value;
}

std::uint64_t parseCount(std::string_view flag, const std::string& text, std::uint64_t max) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value > max) {
    throw UsageError(std::string(flag) + " wants a whole number up to " + std::to_string(max) +
                     ", not '" + text + "'");
  }
  return value;
}

IceServer parseTurn(const std::string& text) {
  // URL,USER,PASS: the URL has no commas; the password may.
  auto first = text.find(',');
  auto second = first == std::string::npos ? first : text.find(',', first + 1);
  if (second == std::string::npos) {
    throw UsageError("--turn wants URL,USER,PASS (e.g. turn:turn.example.com:3478,alice,secret)");
  }
  IceServer server;
  server.urls = {text.substr(0, first)};
  server.username = text.substr(first + 1, second - first - 1);
  server.credential = text.substr(second + 1);
  const auto& url = server.urls.front();
  if (!url.starts_with("turn:") && !url.starts_with("turns:")) {
    throw UsageError("--turn URL must start with turn: or turns:, not '" + url + "'");
  }
  return server;
}

bool validRelayUrl(const std::string& url) {
  return url.starts_with("ws://") || url.starts_with("wss://");
}

// supabase: the app id is the project URL and the anon key is required (supabase-js throws
// without either); caught here so that the user gets a usage error rather than a crash.
void checkSupabaseOptions(const Options& options) {
  if (options.strategy != "supabase") {
    if (!options.supabaseKey.empty()) throw UsageError("--supabase-key needs --strategy supabase");
    return;
  }
  auto lower = options.appId.substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!lower.starts_with("http://") && !lower.starts_with("https://")) {
    throw UsageError("--strategy supabase wants --app-id https://<project>.supabase.co, not '" +
                     options.appId + "'");
  }
  if (options.supabaseKey.empty()) throw UsageError("--strategy supabase needs --supabase-key");
}

}  // namespace

const char* usageText() { return kUsage; }

const std::vector<std::string>& strategyNames() {
  static const std::vector<std::string> names{"nostr", "mqtt", "torrent", "firebase", "supabase"};
  return names;
}

Options parseOptions(int argc, char** argv) {
  Options options;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) throw UsageError("no command given");
  std::size_t i = 0;
  auto value = [&](const std::string& flag) -> const std::string& {
    if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
    return args[++i];
  };
  bool commandSeen = false;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      options.command = "help";
      return options;
    }
    if (arg == "--room") {
      options.room = value(arg);
    } else if (arg == "--strategy") {
      options.strategy = value(arg);
    } else if (arg == "--app-id") {
      options.appId = value(arg);
    } else if (arg == "--supabase-key") {
      options.supabaseKey = value(arg);
    } else if (arg == "--password") {
      options.password = value(arg);
    } else if (arg == "--relay") {
      options.relays.push_back(value(arg));
    } else if (arg == "--firebase-auth") {
      options.firebaseAuthToken = value(arg);
    } else if (arg == "--root-path") {
      options.rootPath = value(arg);
    } else if (arg == "--turn") {
      options.turn.push_back(parseTurn(value(arg)));
    } else if (arg == "--stun") {
      options.stun.push_back(value(arg));
    } else if (arg == "--local") {
      options.local = true;
    } else if (arg == "--timeout") {
      options.timeoutSeconds = parseNumber(arg, value(arg));
    } else if (arg == "--peers") {
      options.peers = parseCount(arg, value(arg), 64);
      if (options.peers == 0) throw UsageError("--peers wants at least 1");
    } else if (arg == "--dir") {
      options.dir = value(arg);
    } else if (arg == "--keep") {
      options.keep = true;
    } else if (arg == "--loop") {
      options.loop = true;
    } else if (arg == "--meta") {
      options.meta = value(arg);
    } else if (arg == "--host") {
      options.host = value(arg);
    } else if (arg == "--port") {
      options.port = static_cast<std::uint16_t>(parseCount(arg, value(arg), 65535));
    } else if (arg == "--size") {
      options.demoMiB = parseCount(arg, value(arg), 4096);
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "-v" || arg == "--verbose") {
      ++options.verbosity;
    } else if (arg == "--") {
      for (++i; i < args.size(); ++i) options.arguments.push_back(args[i]);
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw UsageError("unknown option " + arg);
    } else if (!commandSeen) {
      options.command = arg;
      commandSeen = true;
    } else {
      options.arguments.push_back(arg);
    }
  }

  static const std::vector<std::string> commands{"chat",   "send",   "receive", "pipe",
                                                 "record", "stream", "relay",   "demo"};
  if (options.command.empty()) throw UsageError("no command given");
  if (std::find(commands.begin(), commands.end(), options.command) == commands.end()) {
    throw UsageError("unknown command '" + options.command + "'");
  }
  const auto& names = strategyNames();
  if (std::find(names.begin(), names.end(), options.strategy) == names.end()) {
    throw UsageError("unknown strategy '" + options.strategy +
                     "' (nostr, mqtt, torrent, firebase or supabase)");
  }
  checkSupabaseOptions(options);
  for (const auto& url : options.relays) {
    if (!validRelayUrl(url))
      throw UsageError("--relay wants a ws:// or wss:// URL, not '" + url + "'");
  }
  for (const auto& url : options.stun) {
    if (!url.starts_with("stun:") && !url.starts_with("stuns:")) {
      throw UsageError("--stun URL must start with stun:, not '" + url + "'");
    }
  }
  if (options.appId.empty()) throw UsageError("--app-id must not be empty");
  if (options.strategy == "firebase" && !options.appId.starts_with("https://") &&
      !options.appId.starts_with("http://")) {
    throw UsageError(
        "--strategy firebase wants the database URL as --app-id (e.g. "
        "https://DB.firebaseio.com), not '" +
        options.appId + "'");
  }
  if (options.strategy == "firebase" && !options.relays.empty()) {
    throw UsageError("--strategy firebase takes no --relay: the database URL is the --app-id");
  }
  if (!options.rootPath.empty() && options.strategy != "firebase") {
    throw UsageError("--root-path is for --strategy firebase only");
  }
  if (!options.firebaseAuthToken.empty() && options.strategy != "firebase") {
    throw UsageError("--firebase-auth is for --strategy firebase only");
  }

  if (options.command == "chat") {
    if (options.room.empty() && !options.arguments.empty()) {
      options.room = options.arguments.front();
      options.arguments.erase(options.arguments.begin());
    }
    if (!options.arguments.empty()) throw UsageError("chat takes one ROOM");
  }
  if (options.command == "send" && options.arguments.empty()) {
    throw UsageError("send needs at least one FILE");
  }
  if (options.command == "stream" && (options.arguments.empty() || options.arguments.size() > 2)) {
    throw UsageError("stream plays one or two files: FILE.ivf, FILE.ogg or both");
  }
  if ((options.command == "receive" || options.command == "pipe" || options.command == "record") &&
      !options.arguments.empty()) {
    throw UsageError(options.command + " takes no positional arguments (did you mean --room?)");
  }
  bool needsRoom = options.command == "chat" || options.command == "send" ||
                   options.command == "receive" || options.command == "pipe" ||
                   options.command == "record" || options.command == "stream";
  if (needsRoom && options.room.empty()) throw UsageError(options.command + " needs --room ROOM");
  if ((options.command == "relay" || options.command == "demo") && !options.arguments.empty()) {
    throw UsageError(options.command + " takes no positional arguments");
  }
  return options;
}

Config toConfig(const Options& options) {
  Config config;
  config.appId = options.appId;
  config.password = options.password;
  config.relayUrls = options.relays;
  config.rootPath = options.rootPath;
  config.firebaseAuthToken = options.firebaseAuthToken;
  config.supabaseKey = options.supabaseKey;
  config.turnConfig = options.turn;
  if (options.local || !options.stun.empty()) {
    RtcConfig rtc;
    for (const auto& url : options.stun) rtc.iceServers.push_back(IceServer{{url}, "", ""});
    config.rtcConfig = rtc;
  }
  config.allowLoopback = options.local;
  return config;
}

}  // namespace trystero::cli

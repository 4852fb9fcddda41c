// The subcommands of `trystero`; each returns the process exit code (see ExitCode).
#pragma once

#include "options.hpp"
#include "runtime.hpp"

namespace trystero::cli {

int runChat(const Options& options, Output& out);
int runSend(const Options& options, Output& out);
int runReceive(const Options& options, Output& out);
int runPipe(const Options& options, Output& out);
int runRecord(const Options& options, Output& out);
int runStream(const Options& options, Output& out);
int runRelay(const Options& options, Output& out);
int runDemo(const Options& options, Output& out);

// The action names browser peers use to meet these commands (at most 12 bytes, as in JS).
inline constexpr const char* kChatAction = "chat";
inline constexpr const char* kFileAction = "file";
inline constexpr const char* kFileAckAction = "file-ack";
inline constexpr const char* kPipeAction = "pipe";
inline constexpr const char* kPipeEndAction = "pipe-end";
inline constexpr const char* kPipeDoneAction = "pipe-done";
// Flow control between CLI peers: the receiver acknowledges what it has written out.
inline constexpr const char* kPipeAckAction = "pipe-ack";
inline constexpr const char* kFilePartAckAction = "file-part";

}  // namespace trystero::cli

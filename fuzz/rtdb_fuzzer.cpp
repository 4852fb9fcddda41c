// libFuzzer target for what a Realtime Database server sends the firebase strategy: frames
// through the FrameAssembler, messages through parseServerMessage, pushes into the Subtree of a
// listened room, and the room value through occupantsOf, as Connection and FirebaseStrategy
// handle them.
//
// Input: records of [2-byte little-endian length][that many bytes], each one WebSocket text
// frame. Invariants: the assembler never hands out a message over its bound; the subtree stays
// normalized (no null children, no empty objects) and can be copied and dumped (recursive code)
// safely; occupantsOf never throws.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "strategies/firebase/firebase_strategy.hpp"
#include "strategies/firebase/rtdb_wire.hpp"

using namespace trystero::strategies::firebase;

namespace {

constexpr std::size_t kMaxMessage = 256 * 1024;

void check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "rtdb_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

void handle(Subtree& room, const std::string& message) {
  auto parsed = parseServerMessage(message);
  if (!parsed || parsed->kind != ServerMessage::Kind::Push) return;
  room.apply(*parsed);
  const nlohmann::json copy = room.value();
  check(normalize(copy) == copy, "subtree not normalized");
  (void)copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)occupantsOf(copy);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FrameAssembler frames(kMaxMessage);
  Subtree room(splitPath("/__trystero__/room"));
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (input.size() >= 2 && !frames.failed()) {
    const std::size_t length = static_cast<std::uint8_t>(input[0]) |
                               static_cast<std::size_t>(static_cast<std::uint8_t>(input[1])) << 8;
    input.remove_prefix(2);
    const auto frame = input.substr(0, length);
    input.remove_prefix(frame.size());
    auto message = frames.feed(frame);
    if (!message) continue;
    check(message->size() <= kMaxMessage, "message over the bound");
    handle(room, *message);
  }
  return 0;
}

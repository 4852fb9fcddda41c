// The WebSocket guard's frame scanner on its own: RFC 6455 frame headers of every length form,
// masked or not, split anywhere across reads; the reassembled-message limit (fragments add up,
// control frames between them do not) and the pong backlog owed for the peer's pings.
#include "net/websocket_guard.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

using trystero::net::serverFrameBytes;
using trystero::net::WebSocketGuard;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint8_t kContinuation = 0x0, kText = 0x1, kBinary = 0x2, kPing = 0x9;

// One frame with a payload of `length` bytes (their values do not matter to the guard).
Bytes frame(std::uint8_t opcode, bool fin, std::size_t length, bool masked = false) {
  Bytes out;
  out.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | opcode));
  const std::uint8_t mask = masked ? 0x80 : 0;
  if (length < 126) {
    out.push_back(static_cast<std::uint8_t>(mask | length));
  } else if (length < 65536) {
    out.push_back(mask | 126);
    out.push_back(static_cast<std::uint8_t>(length >> 8));
    out.push_back(static_cast<std::uint8_t>(length));
  } else {
    out.push_back(mask | 127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<std::uint8_t>(std::uint64_t(length) >> shift));
    }
  }
  if (masked) out.insert(out.end(), {0x12, 0x34, 0x56, 0x78});
  out.insert(out.end(), length, 0x61);
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

struct Trips {
  std::vector<WebSocketGuard::Trip> seen;
  std::function<void(WebSocketGuard::Trip)> record() {
    return [this](WebSocketGuard::Trip trip) { seen.push_back(trip); };
  }
};

}  // namespace

TEST(WebSocketGuard, PassesFramesOfEveryLengthFormMaskedOrNot) {
  Trips trips;
  WebSocketGuard guard({.maxMessageBytes = 100000}, trips.record());
  for (bool masked : {false, true}) {
    for (std::size_t length : {0u, 125u, 126u, 65535u, 65536u, 99999u}) {
      const auto bytes = frame(kBinary, true, length, masked);
      EXPECT_EQ(guard.scanIncoming(bytes.data(), bytes.size()), bytes.size()) << length;
    }
  }
  EXPECT_TRUE(trips.seen.empty());
  EXPECT_FALSE(guard.inputStopped());
}

TEST(WebSocketGuard, HeadersAndPayloadsSplitAnywhereAcrossReads) {
  Trips trips;
  WebSocketGuard guard({.maxMessageBytes = 70000}, trips.record());
  const auto bytes = concat({frame(kText, false, 300, true), frame(kPing, true, 5, true),
                             frame(kContinuation, true, 66000, true)});
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(guard.scanIncoming(&bytes[i], 1), 1u) << "byte " << i;
  }
  EXPECT_TRUE(trips.seen.empty());
}

TEST(WebSocketGuard, StopsBeforeTheFragmentThatTakesAMessagePastTheLimit) {
  Trips trips;
  WebSocketGuard guard({.maxMessageBytes = 1000}, trips.record());
  // 600 + 400 fit exactly; a ping between them does not count. The next message starts over.
  const auto fits = concat({frame(kText, false, 600), frame(kPing, true, 100),
                            frame(kContinuation, true, 400), frame(kBinary, true, 1000)});
  EXPECT_EQ(guard.scanIncoming(fits.data(), fits.size()), fits.size());
  EXPECT_TRUE(trips.seen.empty());

  // 600 + 300, then 200 more: everything before the third fragment goes through, nothing after.
  const auto first = concat({frame(kText, false, 600), frame(kContinuation, false, 300)});
  const auto tooMuch = concat({first, frame(kContinuation, true, 200), frame(kText, true, 1)});
  EXPECT_EQ(guard.scanIncoming(tooMuch.data(), tooMuch.size()), first.size());
  ASSERT_EQ(trips.seen.size(), 1u);
  EXPECT_EQ(trips.seen[0], WebSocketGuard::Trip::MessageTooBig);
  EXPECT_TRUE(guard.inputStopped());
  const auto later = frame(kText, true, 1);
  EXPECT_EQ(guard.scanIncoming(later.data(), later.size()), 0u);
  EXPECT_EQ(trips.seen.size(), 1u);  // reported once
}

TEST(WebSocketGuard, AFrameSplitMidHeaderIsStoppedAtItsStart) {
  Trips trips;
  WebSocketGuard guard({.maxMessageBytes = 1000}, trips.record());
  const auto ok = frame(kText, false, 900);
  const auto over = frame(kContinuation, true, 200);
  EXPECT_EQ(guard.scanIncoming(ok.data(), ok.size()), ok.size());
  // The first header byte arrives alone: it is let through (its frame is not known yet) ...
  EXPECT_EQ(guard.scanIncoming(over.data(), 1), 1u);
  // ... and once the header is whole, none of the rest is.
  EXPECT_EQ(guard.scanIncoming(over.data() + 1, over.size() - 1), 0u);
  EXPECT_TRUE(guard.inputStopped());
  EXPECT_EQ(trips.seen.size(), 1u);
}

TEST(WebSocketGuard, NoLimitMeansNoMessageAccounting) {
  Trips trips;
  WebSocketGuard guard({}, trips.record());
  const auto big = concat({frame(kBinary, false, 70000), frame(kContinuation, true, 70000)});
  EXPECT_EQ(guard.scanIncoming(big.data(), big.size()), big.size());
  EXPECT_TRUE(trips.seen.empty());
  EXPECT_FALSE(guard.countsBacklog());
}

TEST(WebSocketGuard, PingsOweTheirPongsAgainstTheBacklogLimit) {
  Trips trips;
  WebSocketGuard guard({.maxMessageBytes = 0, .maxBacklogBytes = 100}, trips.record());
  ASSERT_TRUE(guard.countsBacklog());
  guard.queued(serverFrameBytes(50));  // what the owner sent: 52 bytes
  EXPECT_EQ(guard.backlog(), 52u);
  const auto ping = frame(kPing, true, 20, true);  // owes a 22-byte pong
  EXPECT_EQ(guard.scanIncoming(ping.data(), ping.size()), ping.size());
  EXPECT_EQ(guard.backlog(), 74u);
  EXPECT_TRUE(trips.seen.empty());
  guard.written(30);
  EXPECT_EQ(guard.backlog(), 44u);
  // Four more pings: the third takes it past 100 (44 + 3 x 22) and trips, once; the input flows.
  const auto pings = concat({ping, ping, ping, ping});
  EXPECT_EQ(guard.scanIncoming(pings.data(), pings.size()), pings.size());
  ASSERT_EQ(trips.seen.size(), 1u);
  EXPECT_EQ(trips.seen[0], WebSocketGuard::Trip::Backlog);
  EXPECT_FALSE(guard.inputStopped());
  guard.written(1000);
  EXPECT_EQ(guard.backlog(), 0u);
}

TEST(WebSocketGuard, ServerFrameSizes) {
  EXPECT_EQ(serverFrameBytes(0), 2u);
  EXPECT_EQ(serverFrameBytes(125), 127u);
  EXPECT_EQ(serverFrameBytes(126), 130u);
  EXPECT_EQ(serverFrameBytes(65535), 65539u);
  EXPECT_EQ(serverFrameBytes(65536), 65546u);
}

// SctpTransport and DataChannel, two transports wired back to back on one loop (no DTLS):
// each packet one side emits is copied and posted to the other side's receive().
#include "rtc/sctp/sctp_transport.hpp"

#include <gtest/gtest.h>
#include <usrsctp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

using trystero::loop::Loop;
using trystero::rtc::DataChannel;
using trystero::rtc::SctpTransport;
using namespace std::chrono_literals;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytesOf(std::string_view text) { return Bytes(text.begin(), text.end()); }
std::string textOf(std::span<const std::uint8_t> data) {
  return std::string(data.begin(), data.end());
}

struct Received {
  Bytes data;
  bool binary = false;
};

// Rewrites the DATA chunks of an SCTP packet (the callback may resize a chunk), then fixes the
// chunk lengths, the padding and the CRC32c so that the peer accepts the result.
Bytes rewriteDataChunks(const Bytes& packet, const std::function<void(Bytes& chunk)>& mutate) {
  Bytes out(packet.begin(), packet.begin() + 12);
  std::size_t offset = 12;
  while (offset + 4 <= packet.size()) {
    std::size_t length = (packet[offset + 2] << 8) | packet[offset + 3];
    if (length < 4 || offset + length > packet.size()) break;
    Bytes chunk(packet.begin() + static_cast<std::ptrdiff_t>(offset),
                packet.begin() + static_cast<std::ptrdiff_t>(offset + length));
    if (chunk[0] == 0 && chunk.size() >= 16) mutate(chunk);
    chunk[2] = static_cast<std::uint8_t>(chunk.size() >> 8);
    chunk[3] = static_cast<std::uint8_t>(chunk.size());
    out.insert(out.end(), chunk.begin(), chunk.end());
    while (out.size() % 4) out.push_back(0);
    offset += (length + 3) & ~std::size_t{3};
  }
  std::memset(&out[8], 0, 4);
  std::uint32_t crc = usrsctp_crc32c(out.data(), out.size());
  std::memcpy(&out[8], &crc, 4);
  return out;
}

class SctpTest : public ::testing::Test {
 protected:
  struct Side {
    std::shared_ptr<SctpTransport> transport;
    std::vector<std::shared_ptr<DataChannel>> remoteChannels;
    std::function<void(const std::shared_ptr<DataChannel>&)> onChannel;
    bool connected = false;
    int closedCount = 0;
    std::string closedReason;
  };

  Loop loop;
  Side a, b;
  // Loop thread only.
  double lossRate = 0;
  std::mt19937 rng{1234};
  std::uint64_t lostPackets = 0;
  std::size_t largestPacket = 0;
  std::function<void(Bytes&)> mutateAtoB;

  void TearDown() override {
    loop.invoke([&] {
      a.remoteChannels.clear();
      b.remoteChannels.clear();
      a.onChannel = nullptr;
      b.onChannel = nullptr;
      a.transport.reset();
      b.transport.reset();
    });
  }

  template <typename F>
  bool waitFor(F predicate, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (loop.invoke(predicate)) return true;
      std::this_thread::sleep_for(2ms);
    }
    return loop.invoke(predicate);
  }

  void deliver(Side* to, std::span<const std::uint8_t> packet, bool fromA) {
    largestPacket = std::max(largestPacket, packet.size());
    if (lossRate > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < lossRate) {
      lostPackets++;
      return;
    }
    Bytes copy(packet.begin(), packet.end());
    if (fromA && mutateAtoB) mutateAtoB(copy);
    std::weak_ptr<SctpTransport> weak = to->transport;
    loop.post([weak, copy = std::move(copy)] {
      if (auto transport = weak.lock()) transport->receive(copy);
    });
  }

  SctpTransport::Callbacks callbacksFor(Side& self, Side& peer) {
    Side* me = &self;
    Side* other = &peer;
    bool fromA = me == &a;
    return SctpTransport::Callbacks{
        [this, other, fromA](std::span<const std::uint8_t> packet) {
          deliver(other, packet, fromA);
        },
        [me] { me->connected = true; },
        [me](std::shared_ptr<DataChannel> channel) {
          EXPECT_EQ(channel->readyState(), DataChannel::State::Open);
          me->remoteChannels.push_back(channel);
          if (me->onChannel) me->onChannel(channel);
        },
        [me](const std::string& reason) {
          me->closedCount++;
          me->closedReason = reason;
        },
    };
  }

  void create(SctpTransport::Config config = {}) {
    loop.invoke([&] {
      a.transport = SctpTransport::create(loop, config, callbacksFor(a, b));
      b.transport = SctpTransport::create(loop, config, callbacksFor(b, a));
    });
  }

  void start() {
    loop.invoke([&] {
      a.transport->start(true);
      b.transport->start(false);
    });
  }

  // Connected pair with one channel opened by `a` (created before start), echoing on `b`'s
  // side when `echo` is set.
  std::shared_ptr<DataChannel> connectWithChannel(const std::string& label, bool echo,
                                                  std::chrono::milliseconds timeout = 5s) {
    create();
    std::shared_ptr<DataChannel> channel;
    loop.invoke([&] {
      channel = a.transport->createDataChannel(label);
      if (echo) {
        b.onChannel = [](const std::shared_ptr<DataChannel>& remote) {
          DataChannel* raw = remote.get();
          remote->onMessage([raw](std::span<const std::uint8_t> data, bool binary) {
            if (binary) {
              EXPECT_TRUE(raw->send(data));
            } else {
              EXPECT_TRUE(raw->send(
                  std::string_view(reinterpret_cast<const char*>(data.data()), data.size())));
            }
          });
        };
      }
    });
    start();
    EXPECT_TRUE(waitFor(
        [&] {
          return channel->readyState() == DataChannel::State::Open && b.remoteChannels.size() == 1;
        },
        timeout));
    return channel;
  }
};

TEST_F(SctpTest, AssociationComesUp) {
  create();
  EXPECT_FALSE(loop.invoke([&] { return a.transport->connected(); }));
  start();
  ASSERT_TRUE(waitFor([&] { return a.connected && b.connected; }));
  EXPECT_TRUE(loop.invoke([&] { return a.transport->connected() && b.transport->connected(); }));
  auto stats = loop.invoke([&] { return a.transport->stats(); });
  EXPECT_GT(stats.packetsSent, 0u);
  EXPECT_GT(stats.packetsReceived, 0u);
  EXPECT_EQ(stats.messagesDropped, 0u);
}

TEST_F(SctpTest, ChannelCreatedBeforeStartOpensOnBothSides) {
  create();
  std::shared_ptr<DataChannel> channel;
  int opened = 0;
  loop.invoke([&] {
    channel = a.transport->createDataChannel("chat", "proto/1");
    EXPECT_EQ(channel->id(), -1);
    EXPECT_EQ(channel->readyState(), DataChannel::State::Connecting);
    EXPECT_FALSE(channel->send("too early"));
    channel->onOpen([&] { opened++; });
  });
  start();
  ASSERT_TRUE(waitFor([&] { return opened == 1 && b.remoteChannels.size() == 1; }));
  loop.invoke([&] {
    auto& remote = b.remoteChannels[0];
    EXPECT_EQ(remote->label(), "chat");
    EXPECT_EQ(remote->protocol(), "proto/1");
    EXPECT_EQ(remote->id(), channel->id());
    EXPECT_EQ(channel->id() % 2, 0);  // the DTLS client uses even stream ids
    EXPECT_EQ(remote->readyState(), DataChannel::State::Open);
    EXPECT_EQ(channel->readyState(), DataChannel::State::Open);
  });
}

TEST_F(SctpTest, EchoesStringsAndBinary) {
  auto channel = connectWithChannel("echo", true);
  std::vector<Received> received;
  loop.invoke([&] {
    channel->onMessage([&](std::span<const std::uint8_t> data, bool binary) {
      received.push_back({Bytes(data.begin(), data.end()), binary});
    });
    EXPECT_TRUE(channel->send("hello"));
    const std::uint8_t blob[] = {0, 1, 2, 255};
    EXPECT_TRUE(channel->send(std::span<const std::uint8_t>(blob)));
    EXPECT_TRUE(channel->send(std::string(3000, 'x')));  // several packets
  });
  ASSERT_TRUE(waitFor([&] { return received.size() == 3; }));
  EXPECT_EQ(textOf(received[0].data), "hello");
  EXPECT_FALSE(received[0].binary);
  EXPECT_EQ(received[1].data, (Bytes{0, 1, 2, 255}));
  EXPECT_TRUE(received[1].binary);
  EXPECT_EQ(textOf(received[2].data), std::string(3000, 'x'));
  EXPECT_FALSE(received[2].binary);
}

TEST_F(SctpTest, EmptyMessages) {
  auto channel = connectWithChannel("empty", true);
  std::vector<Received> received;
  loop.invoke([&] {
    channel->onMessage([&](std::span<const std::uint8_t> data, bool binary) {
      received.push_back({Bytes(data.begin(), data.end()), binary});
    });
    EXPECT_TRUE(channel->send(std::string_view()));
    EXPECT_TRUE(channel->send(std::span<const std::uint8_t>()));
    EXPECT_TRUE(channel->send("end"));
  });
  ASSERT_TRUE(waitFor([&] { return received.size() == 3; }));
  EXPECT_TRUE(received[0].data.empty());
  EXPECT_FALSE(received[0].binary);
  EXPECT_TRUE(received[1].data.empty());
  EXPECT_TRUE(received[1].binary);
  EXPECT_EQ(textOf(received[2].data), "end");
}

TEST_F(SctpTest, LargeMessagesArriveWhole) {
  auto channel = connectWithChannel("large", true);
  constexpr std::size_t kSize = 200 * 1024;
  constexpr int kCount = 5;
  std::vector<Received> received;
  loop.invoke([&] {
    channel->onMessage([&](std::span<const std::uint8_t> data, bool binary) {
      received.push_back({Bytes(data.begin(), data.end()), binary});
    });
    for (int i = 0; i < kCount; ++i) {
      Bytes message(kSize);
      for (std::size_t j = 0; j < kSize; ++j) message[j] = static_cast<std::uint8_t>(j * 7 + i);
      EXPECT_TRUE(channel->send(message));
    }
    // Above the peer's a=max-message-size (256 KiB by default): refused, nothing queued.
    EXPECT_FALSE(channel->send(Bytes(300 * 1024)));
  });
  ASSERT_TRUE(waitFor([&] { return received.size() == kCount; }));
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(received[i].data.size(), kSize);
    bool same = true;
    for (std::size_t j = 0; j < kSize; ++j) {
      same = same && received[i].data[j] == static_cast<std::uint8_t>(j * 7 + i);
    }
    EXPECT_TRUE(same) << "message " << i;
  }
  EXPECT_EQ(loop.invoke([&] { return b.transport->stats().messagesDropped; }), 0u);
}

TEST_F(SctpTest, RemoteMaxMessageSizeLimitsSend) {
  auto channel = connectWithChannel("limit", false);
  loop.invoke([&] {
    a.transport->setRemoteMaxMessageSize(1000);
    EXPECT_TRUE(channel->send(Bytes(1000)));
    EXPECT_FALSE(channel->send(Bytes(1001)));
    a.transport->setRemoteMaxMessageSize(0);  // the peer did not say: 64 KiB
    EXPECT_TRUE(channel->send(Bytes(65536)));
    EXPECT_FALSE(channel->send(Bytes(65537)));
  });
}

TEST_F(SctpTest, Transfers64MiBWithBackpressure) {
  auto channel = connectWithChannel("bulk", false);
  static constexpr std::size_t kMessage = 16 * 1024;
#if defined(__SANITIZE_ADDRESS__)
  static constexpr std::size_t kTotal = 32ull * 1024 * 1024;  // same paths, less wall time
#else
  static constexpr std::size_t kTotal = 64ull * 1024 * 1024;
#endif
  static constexpr std::size_t kHigh = 1024 * 1024;
  static constexpr std::size_t kLow = 256 * 1024;
  // Byte k of the stream is k % 251, so message contents are windows into one pattern.
  Bytes pattern(251 + kMessage);
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::uint8_t>(i % 251);

  struct Progress {
    std::size_t sent = 0, received = 0, maxBuffered = 0;
    int lowEvents = 0;
    bool mismatch = false;
    std::int64_t startMs = 0, endMs = 0;
  } progress;

  loop.invoke([&] {
    DataChannel* sender = channel.get();
    b.remoteChannels[0]->onMessage([&](std::span<const std::uint8_t> data, bool binary) {
      if (!binary || data.size() != kMessage ||
          std::memcmp(data.data(), pattern.data() + progress.received % 251, data.size()) != 0) {
        progress.mismatch = true;
      }
      progress.received += data.size();
      if (progress.received == kTotal) progress.endMs = trystero::loop::nowMs();
    });
    auto pump = [&progress, sender, &pattern] {
      while (progress.sent < kTotal && sender->bufferedAmount() < kHigh) {
        std::span<const std::uint8_t> message(pattern.data() + progress.sent % 251, kMessage);
        if (!sender->send(message)) {
          progress.mismatch = true;
          return;
        }
        progress.sent += kMessage;
        progress.maxBuffered = std::max(progress.maxBuffered, sender->bufferedAmount());
      }
    };
    sender->setBufferedAmountLowThreshold(kLow);
    sender->onBufferedAmountLow([&progress, pump] {
      progress.lowEvents++;
      pump();
    });
    progress.startMs = trystero::loop::nowMs();
    pump();
  });
  ASSERT_TRUE(waitFor([&] { return progress.received >= kTotal || progress.mismatch; }, 60s));
  auto done = loop.invoke([&] { return progress; });
  EXPECT_FALSE(done.mismatch);
  EXPECT_EQ(done.received, kTotal);
  EXPECT_GT(done.lowEvents, 0);
  EXPECT_LE(done.maxBuffered, kHigh + kMessage);
  EXPECT_EQ(loop.invoke([&] { return channel->bufferedAmount(); }), 0u);
  // Packets fit the 1200 bytes browsers use, so that DTLS records stay under 1280-byte paths.
  EXPECT_LE(loop.invoke([&] { return largestPacket; }), 1200u);
  double seconds = std::max<std::int64_t>(1, done.endMs - done.startMs) / 1000.0;
  std::printf("[ SCTP     ] %zu MiB in 16 KiB messages: %.0f ms, %.1f MB/s\n", kTotal >> 20,
              seconds * 1000, kTotal / seconds / 1e6);
}

TEST_F(SctpTest, ChannelsShareTheAssociationFairly) {
  create();
  std::shared_ptr<DataChannel> bulk, chat;
  loop.invoke([&] {
    bulk = a.transport->createDataChannel("bulk");
    chat = a.transport->createDataChannel("chat");
  });
  start();
  ASSERT_TRUE(waitFor([&] {
    return bulk->readyState() == DataChannel::State::Open &&
           chat->readyState() == DataChannel::State::Open && b.remoteChannels.size() == 2;
  }));
  constexpr std::size_t kBulk = 8 * 1024 * 1024;
  std::size_t bulkReceived = 0;
  std::size_t bulkWhenChatArrived = 0;
  bool chatArrived = false;
  loop.invoke([&] {
    for (auto& remote : b.remoteChannels) {
      if (remote->label() == "bulk") {
        remote->onMessage(
            [&](std::span<const std::uint8_t> data, bool) { bulkReceived += data.size(); });
      } else {
        remote->onMessage([&](std::span<const std::uint8_t>, bool) {
          chatArrived = true;
          bulkWhenChatArrived = bulkReceived;
        });
      }
    }
    for (std::size_t sent = 0; sent < kBulk; sent += 16384) {
      ASSERT_TRUE(bulk->send(Bytes(16384, 1)));
    }
    EXPECT_GT(bulk->bufferedAmount(), 0u);
    // Queued behind megabytes on another channel, but not behind all of them.
    EXPECT_TRUE(chat->send("urgent"));
    EXPECT_GT(chat->bufferedAmount(), 0u);
  });
  ASSERT_TRUE(waitFor([&] { return chatArrived && bulkReceived == kBulk; }, 20s));
  // Round robin, in our queue and in usrsctp's stream scheduler: measured ~48 KiB.
  EXPECT_LT(loop.invoke([&] { return bulkWhenChatArrived; }), kBulk / 8);
}

TEST_F(SctpTest, MultipleChannelsBothDirections) {
  create();
  std::vector<std::shared_ptr<DataChannel>> fromA;
  std::vector<std::shared_ptr<DataChannel>> fromB;
  std::vector<std::string> atA, atB;  // "label:message" as received
  auto record = [](std::vector<std::string>* log, const std::shared_ptr<DataChannel>& channel) {
    DataChannel* raw = channel.get();
    channel->onMessage([log, raw](std::span<const std::uint8_t> data, bool) {
      log->push_back(raw->label() + ":" + textOf(data));
    });
  };
  loop.invoke([&] {
    for (int i = 0; i < 3; ++i)
      fromA.push_back(a.transport->createDataChannel("a" + std::to_string(i)));
    a.onChannel = [&](const std::shared_ptr<DataChannel>& channel) { record(&atA, channel); };
    b.onChannel = [&](const std::shared_ptr<DataChannel>& channel) { record(&atB, channel); };
  });
  start();
  ASSERT_TRUE(waitFor([&] { return a.connected && b.connected; }));
  loop.invoke([&] {
    // Created once the association is up: opened at once, odd ids on the DTLS server.
    for (int i = 0; i < 2; ++i)
      fromB.push_back(b.transport->createDataChannel("b" + std::to_string(i)));
  });
  ASSERT_TRUE(waitFor([&] {
    bool open = true;
    for (auto& c : fromA) open = open && c->readyState() == DataChannel::State::Open;
    for (auto& c : fromB) open = open && c->readyState() == DataChannel::State::Open;
    return open && a.remoteChannels.size() == 2 && b.remoteChannels.size() == 3;
  }));
  loop.invoke([&] {
    for (auto& c : fromA) EXPECT_EQ(c->id() % 2, 0);
    for (auto& c : fromB) EXPECT_EQ(c->id() % 2, 1);
    for (auto& c : fromA) EXPECT_TRUE(c->send("hi from " + c->label()));
    for (auto& c : fromB) EXPECT_TRUE(c->send("hi from " + c->label()));
    // Replies on the channels the peer opened.
    for (auto& c : b.remoteChannels) EXPECT_TRUE(c->send("reply"));
  });
  ASSERT_TRUE(waitFor([&] { return atA.size() == 2 && atB.size() == 3; }));
  std::vector<std::string> aMessages, bMessages;
  loop.invoke([&] {
    std::sort(atA.begin(), atA.end());
    std::sort(atB.begin(), atB.end());
    aMessages = atA;
    bMessages = atB;
  });
  EXPECT_EQ(aMessages, (std::vector<std::string>{"b0:hi from b0", "b1:hi from b1"}));
  EXPECT_EQ(bMessages,
            (std::vector<std::string>{"a0:hi from a0", "a1:hi from a1", "a2:hi from a2"}));
  int replies = 0;
  loop.invoke([&] {
    for (auto& c : fromA) {
      c->onMessage(
          [&](std::span<const std::uint8_t> data, bool) { replies += textOf(data) == "reply"; });
    }
  });
  // The replies may have arrived before the handlers were set; send another round.
  loop.invoke([&] {
    for (auto& c : b.remoteChannels) EXPECT_TRUE(c->send("reply"));
  });
  ASSERT_TRUE(waitFor([&] { return replies >= 3; }));
}

TEST_F(SctpTest, ChannelCloseFromEitherSideClosesBoth) {
  create();
  std::shared_ptr<DataChannel> first, second;
  int closedA1 = 0, closedA2 = 0, closedB1 = 0, closedB2 = 0;
  loop.invoke([&] {
    first = a.transport->createDataChannel("first");
    second = a.transport->createDataChannel("second");
    first->onClose([&] { closedA1++; });
    second->onClose([&] { closedA2++; });
    b.onChannel = [&](const std::shared_ptr<DataChannel>& channel) {
      if (channel->label() == "first") channel->onClose([&] { closedB1++; });
      if (channel->label() == "second") channel->onClose([&] { closedB2++; });
    };
  });
  start();
  ASSERT_TRUE(waitFor([&] {
    return first->readyState() == DataChannel::State::Open &&
           second->readyState() == DataChannel::State::Open && b.remoteChannels.size() == 2;
  }));
  std::shared_ptr<DataChannel> remoteSecond;
  loop.invoke([&] {
    remoteSecond =
        b.remoteChannels[0]->label() == "second" ? b.remoteChannels[0] : b.remoteChannels[1];
    first->send("bye");  // queued data still goes out before the reset
    first->close();      // closed by its creator
    EXPECT_EQ(first->readyState(), DataChannel::State::Closing);
    EXPECT_FALSE(first->send("after close"));
    remoteSecond->close();  // closed by the other side
  });
  ASSERT_TRUE(waitFor([&] { return closedA1 && closedA2 && closedB1 && closedB2; }));
  std::this_thread::sleep_for(50ms);
  loop.invoke([&] {
    EXPECT_EQ(closedA1, 1);
    EXPECT_EQ(closedA2, 1);
    EXPECT_EQ(closedB1, 1);
    EXPECT_EQ(closedB2, 1);
    EXPECT_EQ(first->readyState(), DataChannel::State::Closed);
    EXPECT_EQ(second->readyState(), DataChannel::State::Closed);
    EXPECT_EQ(remoteSecond->readyState(), DataChannel::State::Closed);
    EXPECT_FALSE(second->send("x"));
    EXPECT_TRUE(a.transport->connected());
    EXPECT_EQ(a.closedCount, 0);
  });
  // The association survives and the stream ids can be used again.
  std::shared_ptr<DataChannel> third;
  loop.invoke([&] { third = a.transport->createDataChannel("third"); });
  ASSERT_TRUE(waitFor([&] {
    return third->readyState() == DataChannel::State::Open && b.remoteChannels.size() == 3;
  }));
  std::string got;
  loop.invoke([&] {
    b.remoteChannels[2]->onMessage(
        [&](std::span<const std::uint8_t> data, bool) { got = textOf(data); });
    third->send("still works");
  });
  ASSERT_TRUE(waitFor([&] { return got == "still works"; }));
}

TEST_F(SctpTest, TransportClosePropagates) {
  auto channel = connectWithChannel("doomed", false);
  int closedA = 0, closedB = 0;
  loop.invoke([&] {
    channel->onClose([&] { closedA++; });
    b.remoteChannels[0]->onClose([&] { closedB++; });
    a.transport->close();
    // Local effects are immediate.
    EXPECT_EQ(closedA, 1);
    EXPECT_EQ(a.closedCount, 1);
    EXPECT_EQ(channel->readyState(), DataChannel::State::Closed);
    EXPECT_FALSE(a.transport->connected());
    a.transport->close();  // idempotent
    EXPECT_EQ(a.closedCount, 1);
    auto late = a.transport->createDataChannel("late");
    EXPECT_EQ(late->readyState(), DataChannel::State::Closed);
  });
  ASSERT_TRUE(waitFor([&] { return closedB == 1 && b.closedCount == 1; }));
  loop.invoke([&] {
    EXPECT_EQ(b.remoteChannels[0]->readyState(), DataChannel::State::Closed);
    EXPECT_FALSE(b.transport->connected());
    EXPECT_FALSE(b.remoteChannels[0]->send("x"));
  });
}

TEST_F(SctpTest, MalformedDcepAndGarbageAreDropped) {
  // Messages starting with "MUTATE<n>" sent by `a` are rewritten on the wire into malformed
  // DCEP, deprecated or unknown PPIDs, or messages on unknown streams.
  auto buildOpen = [](std::uint8_t type, std::string_view label, std::string_view protocol,
                      int labelLength = -1) {
    Bytes open = {0x03, type, 0x01, 0x00, 0, 0, 0, 0};
    std::uint16_t l = labelLength < 0 ? static_cast<std::uint16_t>(label.size())
                                      : static_cast<std::uint16_t>(labelLength);
    open.push_back(static_cast<std::uint8_t>(l >> 8));
    open.push_back(static_cast<std::uint8_t>(l));
    open.push_back(static_cast<std::uint8_t>(protocol.size() >> 8));
    open.push_back(static_cast<std::uint8_t>(protocol.size()));
    open.insert(open.end(), label.begin(), label.end());
    open.insert(open.end(), protocol.begin(), protocol.end());
    return open;
  };
  struct Mutation {
    std::uint32_t ppid;
    Bytes payload;
    int sid;  // -1: keep
  };
  std::vector<Mutation> mutations = {
      {50, {0x03}, -1},                            // short OPEN
      {50, buildOpen(0x00, "abc", "", 1000), -1},  // label length past the end
      {50, {0x7f, 1, 2}, -1},                      // unknown DCEP type
      {50, {0x02}, -1},                            // ACK for a channel we did not open
      {50, buildOpen(0x00, "dup", ""), -1},        // OPEN on a stream in use
      {52, bytesOf("x"), -1},                      // deprecated partial string
      {54, bytesOf("x"), -1},                      // deprecated partial binary
      {99, bytesOf("x"), -1},                      // unknown PPID
      {51, bytesOf("x"), 200},                     // unknown stream
      {50, buildOpen(0x55, "bad type", ""), 300},  // unknown channel type
      {50, Bytes{0x03, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 5, 'a', 'b', 'c', 'p'}, 302},  // truncated
  };
  bool checksumConventionOk = true;
  std::size_t mutated = 0;
  loop.invoke([&] {
    mutateAtoB = [&](Bytes& packet) {
      // Our CRC32c convention must reproduce what usrsctp itself wrote.
      Bytes check = rewriteDataChunks(packet, [](Bytes&) {});
      if (check != packet) checksumConventionOk = false;
      packet = rewriteDataChunks(packet, [&](Bytes& chunk) {
        static const char kMarker[] = "MUTATE";
        if (chunk.size() < 16 + 7 || std::memcmp(&chunk[16], kMarker, 6) != 0) return;
        const Mutation& m = mutations.at(static_cast<std::size_t>(chunk[22] - 'a'));
        if (m.sid >= 0) {
          chunk[8] = static_cast<std::uint8_t>(m.sid >> 8);
          chunk[9] = static_cast<std::uint8_t>(m.sid);
          chunk[1] |= 0x04;  // unordered, so that the foreign stream sequence does not matter
        }
        chunk[12] = static_cast<std::uint8_t>(m.ppid >> 24);
        chunk[13] = static_cast<std::uint8_t>(m.ppid >> 16);
        chunk[14] = static_cast<std::uint8_t>(m.ppid >> 8);
        chunk[15] = static_cast<std::uint8_t>(m.ppid);
        chunk.resize(16);
        chunk.insert(chunk.end(), m.payload.begin(), m.payload.end());
        mutated++;
      });
    };
  });
  auto channel = connectWithChannel("main", false);
  std::shared_ptr<DataChannel> junk;
  loop.invoke([&] { junk = a.transport->createDataChannel("junk"); });
  ASSERT_TRUE(waitFor([&] {
    return junk->readyState() == DataChannel::State::Open && b.remoteChannels.size() == 2;
  }));
  std::vector<std::string> atB;
  loop.invoke([&] {
    for (auto& remote : b.remoteChannels) {
      remote->onMessage(
          [&atB](std::span<const std::uint8_t> data, bool) { atB.push_back(textOf(data)); });
    }
    // The junk stream's ordered sequence is broken by the moved messages: use it last.
    for (std::size_t i = 0; i < mutations.size(); ++i) {
      EXPECT_TRUE(junk->send("MUTATE" + std::string(1, static_cast<char>('a' + i))));
    }
  });
  ASSERT_TRUE(waitFor([&] { return b.transport->stats().messagesDropped >= mutations.size(); }));
  // Garbage straight into the receiver: random bytes, truncated and corrupted packets.
  std::mt19937 random(7);
  loop.invoke([&] {
    for (int i = 0; i < 300; ++i) {
      Bytes garbage(random() % 1500);
      for (auto& byte : garbage) byte = static_cast<std::uint8_t>(random());
      if (garbage.size() >= 12 && i % 2) {  // our ports, so that usrsctp looks further
        garbage[0] = 0x13, garbage[1] = 0x88, garbage[2] = 0x13, garbage[3] = 0x88;
      }
      b.transport->receive(garbage);
    }
    b.transport->receive({});
    mutateAtoB = [&](Bytes& packet) {
      if (packet.size() > 20 && random() % 2) packet[12 + random() % (packet.size() - 12)] ^= 0x40;
      if (packet.size() > 20 && random() % 4 == 0) packet.resize(packet.size() / 2);
    };
    for (int i = 0; i < 20; ++i) channel->send("noise");
  });
  std::this_thread::sleep_for(100ms);
  loop.invoke([&] {
    mutateAtoB = nullptr;
    EXPECT_TRUE(channel->send("after"));
  });
  ASSERT_TRUE(waitFor([&] { return !atB.empty() && atB.back() == "after"; }, 10s));
  loop.invoke([&] {
    EXPECT_TRUE(checksumConventionOk);
    EXPECT_EQ(mutated, mutations.size());
    EXPECT_EQ(b.remoteChannels.size(), 2u);  // no channel out of the malformed OPENs
    for (auto& text : atB) EXPECT_EQ(text.rfind("MUTATE", 0), std::string::npos) << text;
    EXPECT_EQ(b.transport->stats().messagesDropped, mutations.size());
    EXPECT_TRUE(b.transport->connected());
    EXPECT_EQ(b.closedCount, 0);
    EXPECT_EQ(b.remoteChannels[0]->readyState(), DataChannel::State::Open);
  });
}

TEST_F(SctpTest, PacketsBeforeStartAreKept) {
  create();
  std::shared_ptr<DataChannel> channel;
  loop.invoke([&] {
    channel = a.transport->createDataChannel("late starter");
    b.transport->start(false);  // b's INIT reaches a before a connects
  });
  ASSERT_TRUE(waitFor([&] { return a.transport->stats().packetsReceived > 0; }));
  std::this_thread::sleep_for(20ms);
  loop.invoke([&] { a.transport->start(true); });
  ASSERT_TRUE(waitFor([&] {
    return a.connected && b.connected && channel->readyState() == DataChannel::State::Open &&
           b.remoteChannels.size() == 1;
  }));
  std::string got;
  loop.invoke([&] {
    b.remoteChannels[0]->onMessage(
        [&](std::span<const std::uint8_t> data, bool) { got = textOf(data); });
    channel->send("made it");
  });
  ASSERT_TRUE(waitFor([&] { return got == "made it"; }));
}

TEST_F(SctpTest, LossyLinkDeliversEverythingInOrder) {
  loop.invoke([&] { lossRate = 0.05; });
  auto channel = connectWithChannel("lossy", false, 15s);
  ASSERT_EQ(loop.invoke([&] { return channel->readyState(); }), DataChannel::State::Open);
  constexpr std::size_t kMessage = 16 * 1024;
  constexpr std::size_t kCount = 256;  // 4 MiB
  std::size_t received = 0;
  bool outOfOrder = false;
  loop.invoke([&] {
    b.remoteChannels[0]->onMessage([&](std::span<const std::uint8_t> data, bool) {
      std::uint32_t index;
      std::memcpy(&index, data.data(), sizeof(index));
      if (data.size() != kMessage || index != received ||
          data[kMessage - 1] != static_cast<std::uint8_t>(index)) {
        outOfOrder = true;
      }
      received++;
    });
    for (std::uint32_t i = 0; i < kCount; ++i) {
      Bytes message(kMessage, 0);
      std::memcpy(message.data(), &i, sizeof(i));
      message[kMessage - 1] = static_cast<std::uint8_t>(i);
      EXPECT_TRUE(channel->send(message));
    }
  });
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitFor([&] { return received == kCount; }, 15s));
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  EXPECT_FALSE(loop.invoke([&] { return outOfOrder; }));
  std::printf("[ SCTP     ] 4 MiB over a 5%% lossy link: %lld ms, %llu packets lost\n",
              static_cast<long long>(elapsed.count()),
              static_cast<unsigned long long>(loop.invoke([&] { return lostPackets; })));
}

TEST_F(SctpTest, DestroyingATransportMidTransferIsSafe) {
  auto channel = connectWithChannel("abandoned", false);
  loop.invoke([&] {
    for (int i = 0; i < 200; ++i) channel->send(Bytes(16 * 1024, 1));
    // Packets for b are in flight in the loop's queue; b goes away now.
    b.remoteChannels.clear();
    b.transport.reset();
  });
  std::this_thread::sleep_for(50ms);
  loop.invoke([&] {
    EXPECT_TRUE(channel->send("into the void") || !a.transport->connected());
    a.transport.reset();
    // A channel outliving its transport is closed and inert.
    EXPECT_EQ(channel->readyState(), DataChannel::State::Closed);
    EXPECT_FALSE(channel->send("x"));
    channel->close();
  });
  std::this_thread::sleep_for(30ms);  // timers of the dead association must not crash
}

// Transports on two different loops: usrsctp's timers are driven from both threads.
TEST(SctpTwoLoops, EchoAcrossLoops) {
  // Declared before the loops so that tasks still queued when the loops stop can read them.
  std::shared_ptr<SctpTransport> a, b;
  auto loopA = std::make_unique<Loop>();
  auto loopB = std::make_unique<Loop>();
  std::shared_ptr<DataChannel> channel;
  std::atomic<int> echoes{0};
  // `to` is only touched on its own loop's thread, where the posted task runs.
  auto sender = [](Loop* target, std::shared_ptr<SctpTransport>* to) {
    return [target, to](std::span<const std::uint8_t> packet) {
      target->post([to, copy = Bytes(packet.begin(), packet.end())] {
        if (*to) (*to)->receive(copy);
      });
    };
  };
  loopA->invoke([&] {
    a = SctpTransport::create(*loopA, {}, {sender(loopB.get(), &b), nullptr, nullptr, nullptr});
    channel = a->createDataChannel("x");
    channel->onMessage([&](std::span<const std::uint8_t>, bool) { echoes++; });
  });
  loopB->invoke([&] {
    b = SctpTransport::create(
        *loopB, {},
        {sender(loopA.get(), &a), nullptr,
         [](std::shared_ptr<DataChannel> remote) {
           DataChannel* raw = remote.get();
           remote->onMessage([raw](std::span<const std::uint8_t> data, bool) { raw->send(data); });
         },
         nullptr});
  });
  loopA->invoke([&] { a->start(true); });
  loopB->invoke([&] { b->start(false); });
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (loopA->invoke([&] { return channel->readyState(); }) != DataChannel::State::Open &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  loopA->invoke([&] {
    for (int i = 0; i < 100; ++i) channel->send(Bytes(1000, static_cast<std::uint8_t>(i)));
  });
  while (echoes < 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(echoes.load(), 100);
  loopA->invoke([&] {
    channel.reset();
    a.reset();
  });
  loopB->invoke([&] { b.reset(); });
}

}  // namespace

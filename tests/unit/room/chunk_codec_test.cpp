#include "room/chunk_codec.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>

#include "crypto/crypto.hpp"
#include "room/id.hpp"
#include "support/test_data.hpp"

namespace crypto = trystero::crypto;
namespace room = trystero::room;
using nlohmann::json;
using room::PayloadKind;
using Bytes = std::vector<std::uint8_t>;

namespace {

// Vectors computed by vectors/generate.mjs with the real trystero@0.22.0 room.js.
const json& vectors() {
  static const json v = trystero::testing::readJsonFile(
      std::filesystem::path(__FILE__).parent_path() / "vectors" / "vectors.json");
  return v;
}

using trystero::crypto::hexEncode;
using trystero::testing::fromHex;

Bytes bytesOf(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes pattern(std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(i % 251);
  return out;
}

PayloadKind kindOf(const std::string& name) {
  if (name == "text") return PayloadKind::kText;
  if (name == "json") return PayloadKind::kJson;
  return PayloadKind::kBinary;
}

// A hand-made chunk (any header values, any payload size).
Bytes makeChunk(std::string_view type, std::uint8_t nonce, std::uint8_t tag, std::uint8_t progress,
                std::span<const std::uint8_t> payload) {
  Bytes c(room::kHeaderBytes + payload.size(), 0);
  std::copy(type.begin(), type.begin() + std::min(type.size(), room::kTypeBytes), c.begin());
  c[room::kNonceIndex] = nonce;
  c[room::kTagIndex] = tag;
  c[room::kProgressIndex] = progress;
  std::copy(payload.begin(), payload.end(), c.begin() + room::kHeaderBytes);
  return c;
}

}  // namespace

TEST(ChunkEncoder, MatchesJsChunks) {
  const auto& sends = vectors().at("send");
  ASSERT_GE(sends.size(), 10u);
  for (const auto& s : sends) {
    SCOPED_TRACE(s.at("name").get<std::string>());
    const auto kind = kindOf(s.at("kind").get<std::string>());
    Bytes payload;
    if (s.contains("patternLength")) {
      payload = pattern(s.at("patternLength").get<std::size_t>());
    } else if (s.contains("repeatChar")) {
      payload.assign(s.at("repeatCount").get<std::size_t>(),
                     static_cast<std::uint8_t>(s.at("repeatChar").get<std::string>()[0]));
    } else {
      payload = bytesOf(s.at("payloadText").get<std::string>());
    }
    std::optional<std::string> meta;
    if (s.contains("meta")) meta = s.at("meta").get<std::string>();
    const room::ChunkEncoder encoder(s.at("type").get<std::string>(),
                                     s.at("nonce").get<std::uint8_t>(), kind, payload, meta);
    const auto& chunks = s.at("chunks");
    ASSERT_EQ(encoder.chunkCount(), chunks.size());
    Bytes chunk;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      encoder.writeChunk(i, chunk);
      ASSERT_EQ(encoder.chunkSize(i), chunk.size());
      const auto& expected = chunks[i];
      EXPECT_EQ(hexEncode(std::span(chunk).first(room::kHeaderBytes)),
                expected.at("header").get<std::string>())
          << "chunk " << i;
      const auto body = std::span<const std::uint8_t>(chunk).subspan(room::kHeaderBytes);
      EXPECT_EQ(body.size(), expected.at("bodyLength").get<std::size_t>()) << "chunk " << i;
      if (expected.contains("body")) {
        EXPECT_EQ(hexEncode(body), expected.at("body").get<std::string>()) << "chunk " << i;
      } else {
        EXPECT_EQ(hexEncode(crypto::sha256(body)), expected.at("bodySha256").get<std::string>())
            << "chunk " << i;
      }
    }
  }
}

TEST(ChunkEncoder, ProgressBytesMatchJs) {
  const auto& table = vectors().at("progressTable");
  Bytes all;
  for (std::size_t total = table.at("totalFrom").get<std::size_t>();
       total <= table.at("totalTo").get<std::size_t>(); ++total) {
    for (std::size_t i = 0; i < total; ++i) all.push_back(room::progressByte(i, total));
  }
  EXPECT_EQ(hexEncode(crypto::sha256(all)), table.at("sha256").get<std::string>());
}

TEST(ChunkEncoder, NonceIsWrittenAsGiven) {
  const auto& wrap = vectors().at("nonceWrap");
  // room.js keeps one counter per action and wraps it at 256; the encoder writes what it gets.
  EXPECT_EQ(wrap.at("nonces255to257"), json::array({255, 0, 1}));
  for (int nonce : {0, 1, 255}) {
    const auto chunks =
        room::encodeChunks("tea", static_cast<std::uint8_t>(nonce), PayloadKind::kText, {});
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0][room::kNonceIndex], nonce);
  }
}

TEST(ChunkEncoder, RejectsWhatRoomJsRejects) {
  EXPECT_THROW(room::ChunkEncoder("", 0, PayloadKind::kText, {}), std::invalid_argument);
  EXPECT_THROW(room::ChunkEncoder("abcdefghijklm", 0, PayloadKind::kText, {}),
               std::invalid_argument);
  // 12 bytes but 6 characters: the limit is in bytes.
  EXPECT_NO_THROW(room::ChunkEncoder("\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1", 0,
                                     PayloadKind::kText, {}));
  EXPECT_THROW(room::ChunkEncoder("\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1x", 0,
                                  PayloadKind::kText, {}),
               std::invalid_argument);
  EXPECT_THROW(room::ChunkEncoder("a", 0, PayloadKind::kText, bytesOf("x"), "{}"),
               std::invalid_argument);
  EXPECT_THROW(room::ChunkEncoder("a", 0, PayloadKind::kJson, bytesOf("1"), "{}"),
               std::invalid_argument);
  const room::ChunkEncoder encoder("a", 0, PayloadKind::kBinary, bytesOf("x"));
  EXPECT_THROW(encoder.chunk(1), std::out_of_range);
}

TEST(ChunkEncoder, BorrowingAndOwningAgree) {
  const Bytes data = pattern(100000);
  const auto borrowed =
      room::ChunkEncoder::borrowing("file", 7, PayloadKind::kBinary, data, "{\"n\":1}");
  room::ChunkEncoder owned("file", 7, PayloadKind::kBinary, data, "{\"n\":1}");
  room::ChunkEncoder moved = std::move(owned);
  ASSERT_EQ(borrowed.chunkCount(), 8u);  // meta + ceil(100000 / 16369) = 1 + 7
  ASSERT_EQ(moved.chunkCount(), borrowed.chunkCount());
  EXPECT_EQ(moved.payloadSize(), data.size());
  for (std::size_t i = 0; i < borrowed.chunkCount(); ++i) {
    EXPECT_EQ(borrowed.chunk(i), moved.chunk(i));
    EXPECT_LE(borrowed.chunkSize(i), room::kMaxChunkBytes);
  }
}

TEST(ChunkCodec, ParseChunk) {
  for (std::size_t n = 0; n < room::kHeaderBytes; ++n) {
    EXPECT_FALSE(room::parseChunk(Bytes(n, 1))) << n;
  }
  const auto c = room::parseChunk(makeChunk("drink", 9, 0x0d, 128, {}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, "drink");
  EXPECT_EQ(c->nonce, 9);
  EXPECT_EQ(c->progress, 128);
  EXPECT_TRUE(c->payload.empty());
  EXPECT_TRUE(c->isLast());
  EXPECT_FALSE(c->isMeta());
  EXPECT_EQ(c->kind(), PayloadKind::kBinary);

  // The receiver decodes the type like TextDecoder and strips every NUL.
  Bytes odd = makeChunk("", 0, 1, 255, bytesOf("p"));
  const Bytes typeBytes = {'\0', 'a', 0xff, 'b', '\0', 0xe2, 0x82, 'c', 0, 0, 0, 0};
  std::copy(typeBytes.begin(), typeBytes.end(), odd.begin());
  const auto parsed = room::parseChunk(odd);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->type,
            "a\xef\xbf\xbd"
            "b\xef\xbf\xbd"
            "c");
  EXPECT_EQ(hexEncode(parsed->payload), "70");
}

TEST(Reassembler, ReproducesJsReceiver) {
  const auto& cases = vectors().at("receive");
  ASSERT_GE(cases.size(), 8u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    room::Reassembler reassembler;
    json events = json::array();
    for (const auto& hex : c.at("chunks")) {
      auto result = reassembler.feed(fromHex(hex.get<std::string>()));
      if (result.progress) {
        const auto& p = *result.progress;
        events.push_back({{"event", "progress"},
                          {"type", p.type},
                          {"progress", p.progress},
                          {"meta", p.meta ? json::parse(*p.meta) : json()}});
      }
      if (result.message) {
        const auto& m = *result.message;
        json e = {{"event", "complete"}, {"type", m.type}};
        switch (m.kind) {
          case PayloadKind::kBinary:
            e["kind"] = "binary";
            e["bytes"] = hexEncode(m.bytes);
            break;
          case PayloadKind::kJson:
            e["kind"] = "json";
            e["value"] = json::parse(crypto::textDecode(m.bytes));
            break;
          case PayloadKind::kText:
            e["kind"] = "text";
            e["value"] = crypto::textDecode(m.bytes);
            break;
        }
        // room.js passes metadata to onComplete for binary data only.
        e["meta"] = m.kind == PayloadKind::kBinary && m.meta ? json::parse(*m.meta) : json();
        events.push_back(e);
      }
    }
    // Normalise the JS side: JSON values and metadata were recorded as JSON.stringify text.
    json expected = c.at("events");
    for (auto& e : expected) {
      if (e.at("meta").is_string()) e["meta"] = json::parse(e.at("meta").get<std::string>());
      if (e.value("kind", "") == "json") e["value"] = json::parse(e.at("value").get<std::string>());
    }
    EXPECT_EQ(events, expected);
    EXPECT_EQ(reassembler.partialCount(), 0u);
    EXPECT_EQ(reassembler.bytesInFlight(), 0u);
  }
}

TEST(Reassembler, RoundTripsEncoderOutput) {
  for (std::size_t size : {0, 1, 100, 16368, 16369, 16370, 32738, 32739, 250000}) {
    for (bool withMeta : {false, true}) {
      SCOPED_TRACE(std::to_string(size) + (withMeta ? " with meta" : ""));
      const Bytes data = pattern(size);
      std::optional<std::string> meta;
      if (withMeta) meta = "{\"name\":\"f\\u00fc.bin\",\"size\":" + std::to_string(size) + "}";
      const room::ChunkEncoder encoder("file", 200, PayloadKind::kBinary, data, meta);
      room::Reassembler reassembler;
      std::optional<room::Message> message;
      std::size_t progressEvents = 0;
      for (std::size_t i = 0; i < encoder.chunkCount(); ++i) {
        auto r = reassembler.feed(encoder.chunk(i));
        ASSERT_TRUE(r.progress);
        ++progressEvents;
        EXPECT_EQ(r.progress->progress, room::progressByte(i, encoder.chunkCount()) / 255.0);
        if (withMeta) {
          ASSERT_TRUE(r.progress->meta);
          EXPECT_EQ(*r.progress->meta, *meta);
        }
        if (r.message) {
          EXPECT_EQ(i + 1, encoder.chunkCount());
          message = std::move(r.message);
        }
      }
      EXPECT_EQ(progressEvents, encoder.chunkCount());
      ASSERT_TRUE(message);
      EXPECT_EQ(message->type, "file");
      EXPECT_EQ(message->nonce, 200);
      EXPECT_EQ(message->kind, PayloadKind::kBinary);
      EXPECT_EQ(message->bytes, data);
      EXPECT_EQ(static_cast<bool>(message->meta), withMeta);
      EXPECT_EQ(reassembler.bytesInFlight(), 0u);
      EXPECT_EQ(reassembler.stats().droppedTransmissions(), 0u);
    }
  }
  for (auto kind : {PayloadKind::kText, PayloadKind::kJson}) {
    const Bytes text = bytesOf(kind == PayloadKind::kText ? std::string(40000, 'z') : "[1,2,3]");
    room::Reassembler reassembler;
    std::optional<room::Message> message;
    for (const auto& chunk : room::encodeChunks("msg", 1, kind, text)) {
      auto r = reassembler.feed(chunk);
      if (r.message) message = std::move(r.message);
    }
    ASSERT_TRUE(message);
    EXPECT_EQ(message->kind, kind);
    EXPECT_EQ(message->bytes, text);
  }
}

TEST(Reassembler, InterleavedTransmissions) {
  // Several actions and nonces in flight at once, chunks interleaved round-robin.
  std::vector<room::ChunkEncoder> encoders;
  std::vector<Bytes> payloads;
  for (int i = 0; i < 12; ++i)
    payloads.push_back(pattern(5000 + 17000 * static_cast<std::size_t>(i)));
  for (int i = 0; i < 12; ++i) {
    encoders.emplace_back(i % 2 ? "odd" : "even", static_cast<std::uint8_t>(i),
                          PayloadKind::kBinary, payloads[static_cast<std::size_t>(i)]);
  }
  room::Reassembler reassembler;
  std::map<std::pair<std::string, int>, Bytes> done;
  for (std::size_t round = 0;; ++round) {
    bool any = false;
    for (const auto& e : encoders) {
      if (round >= e.chunkCount()) continue;
      any = true;
      auto r = reassembler.feed(e.chunk(round));
      if (r.message) done[{r.message->type, r.message->nonce}] = std::move(r.message->bytes);
    }
    if (!any) break;
  }
  ASSERT_EQ(done.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ((done[{i % 2 ? "odd" : "even", i}]), payloads[static_cast<std::size_t>(i)]);
  }
  EXPECT_EQ(reassembler.partialCount(), 0u);
}

TEST(Reassembler, ShortChunksAreCounted) {
  room::Reassembler reassembler;
  for (std::size_t n = 0; n < room::kHeaderBytes; ++n) {
    const auto r = reassembler.feed(Bytes(n, 0xff));
    EXPECT_FALSE(r.progress);
    EXPECT_FALSE(r.message);
  }
  EXPECT_EQ(reassembler.stats().shortChunks, room::kHeaderBytes);
}

TEST(Reassembler, EndlessChunksWithoutLastFlagStayBounded) {
  room::ReassemblerLimits limits;
  limits.maxMessageBytes = 1 << 20;
  limits.maxBytesInFlight = 4 << 20;
  room::Reassembler reassembler(limits);
  const Bytes chunk = makeChunk("flood", 3, room::kTagBinary, 0, Bytes(16369, 0xaa));
  for (int i = 0; i < 2000; ++i) {  // ~32 MB offered
    reassembler.feed(chunk);
    ASSERT_LE(reassembler.bytesInFlight(), limits.maxMessageBytes + 4096);
  }
  EXPECT_EQ(reassembler.stats().oversizedMessages, 1u);
  EXPECT_EQ(reassembler.partialCount(), 0u);
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);
  EXPECT_EQ(reassembler.stats().discardedChunks,
            2000u - 65u);  // 64 fit in 1 MiB, the 65th broke it
  // Its last chunk ends the discard; the key is usable again.
  EXPECT_FALSE(
      reassembler.feed(makeChunk("flood", 3, room::kTagBinary | room::kTagLast, 255, Bytes(10, 1)))
          .message);
  EXPECT_EQ(reassembler.droppedKeyCount(), 0u);
  const auto r =
      reassembler.feed(makeChunk("flood", 3, room::kTagBinary | room::kTagLast, 255, Bytes(3, 2)));
  ASSERT_TRUE(r.message);
  EXPECT_EQ(r.message->bytes, Bytes(3, 2));
}

TEST(Reassembler, DefaultLimitsAcceptAMessageOfTheMaximumSizeWithMetadata) {
  room::Reassembler reassembler;
  const std::size_t size = reassembler.limits().maxMessageBytes;  // 64 MiB: 4,100 chunks
  Bytes data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 7);
  const room::ChunkEncoder encoder("big", 9, PayloadKind::kBinary, data,
                                   std::string(R"({"name":"big.bin"})"));
  std::optional<room::Message> message;
  for (std::size_t i = 0; i < encoder.chunkCount(); ++i) {
    auto r = reassembler.feed(encoder.chunk(i));
    if (r.message) message = std::move(r.message);
  }
  ASSERT_TRUE(message);
  EXPECT_EQ(message->bytes.size(), size);
  EXPECT_TRUE(message->bytes == data);
  EXPECT_EQ(reassembler.stats().inFlightOverflows, 0u);
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);
}

TEST(Reassembler, EndlessEmptyChunksStoreNothing) {
  room::Reassembler reassembler;
  const Bytes chunk = makeChunk("empty", 0, 0, 0, {});
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(reassembler.feed(chunk).progress);
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);
  EXPECT_EQ(reassembler.partialCount(), 1u);
}

TEST(Reassembler, TinyChunksAreChargedTheirOverhead) {
  room::ReassemblerLimits limits;
  limits.maxBytesInFlight = 1 << 20;
  room::Reassembler reassembler(limits);
  const Bytes chunk = makeChunk("tiny", 0, 0, 0, Bytes(1, 7));
  for (int i = 0; i < 1000000; ++i) {
    reassembler.feed(chunk);
    if (reassembler.stats().inFlightOverflows) break;
  }
  EXPECT_EQ(reassembler.stats().inFlightOverflows, 1u);
  EXPECT_LE(reassembler.bytesInFlight(), limits.maxBytesInFlight);
}

TEST(Reassembler, ThousandsOfNoncesEvictTheOldest) {
  room::Reassembler reassembler;  // maxPartials 256
  const Bytes body(1000, 5);
  std::size_t count = 0;
  for (int t = 0; t < 40; ++t) {
    for (int nonce = 0; nonce < 256; ++nonce, ++count) {
      reassembler.feed(makeChunk("t" + std::to_string(t), static_cast<std::uint8_t>(nonce),
                                 room::kTagBinary, 1, body));
      ASSERT_LE(reassembler.partialCount(), 256u);
      ASSERT_LE(reassembler.droppedKeyCount(), 256u);
    }
  }
  EXPECT_EQ(reassembler.stats().evictedPartials, count - 256);
  EXPECT_EQ(reassembler.partialCount(), 256u);
  EXPECT_LE(reassembler.bytesInFlight(), 256u * (1000u + 64u));
  // The newest transmissions survived and complete.
  const auto r =
      reassembler.feed(makeChunk("t39", 255, room::kTagBinary | room::kTagLast, 255, Bytes(1, 6)));
  ASSERT_TRUE(r.message);
  EXPECT_EQ(r.message->bytes.size(), 1001u);
  // An evicted one is remembered: its tail does not pose as a message.
  EXPECT_FALSE(
      reassembler.feed(makeChunk("t38", 0, room::kTagBinary | room::kTagLast, 255, body)).message);
}

TEST(Reassembler, ActiveTransmissionSurvivesAFlood) {
  room::Reassembler reassembler;
  const Bytes body(100, 1);
  reassembler.feed(makeChunk("keep", 0, room::kTagBinary, 1, body));
  for (int i = 0; i < 5000; ++i) {
    reassembler.feed(makeChunk("junk" + std::to_string(i), 0, room::kTagBinary, 1, body));
    if (i % 100 == 0) reassembler.feed(makeChunk("keep", 0, room::kTagBinary, 1, body));
  }
  const auto r =
      reassembler.feed(makeChunk("keep", 0, room::kTagBinary | room::kTagLast, 255, body));
  ASSERT_TRUE(r.message);
  EXPECT_EQ(r.message->bytes.size(), 100u * 52u);
}

TEST(Reassembler, BadMetadataDropsTheTransmission) {
  room::Reassembler reassembler;
  for (std::string_view bad : {"{not json", "", "{\"a\":1}x", "\xff\xfe"}) {
    SCOPED_TRACE(std::string(bad));
    auto r = reassembler.feed(
        makeChunk("file", 1, room::kTagBinary | room::kTagJson | room::kTagMeta, 85, bytesOf(bad)));
    EXPECT_FALSE(r.progress);
    r = reassembler.feed(makeChunk("file", 1, room::kTagBinary | room::kTagJson, 170, Bytes(9, 1)));
    EXPECT_FALSE(r.progress);
    r = reassembler.feed(
        makeChunk("file", 1, room::kTagBinary | room::kTagJson | room::kTagLast, 255, Bytes(9, 1)));
    EXPECT_FALSE(r.message);
    EXPECT_EQ(reassembler.partialCount(), 0u);
    EXPECT_EQ(reassembler.droppedKeyCount(), 0u);
  }
  EXPECT_EQ(reassembler.stats().badMeta, 4u);
  EXPECT_EQ(reassembler.stats().discardedChunks, 8u);
  // Bad metadata arriving after data chunks drops what was collected.
  reassembler.feed(makeChunk("file", 2, room::kTagBinary, 1, Bytes(9, 1)));
  EXPECT_GT(reassembler.bytesInFlight(), 0u);
  reassembler.feed(makeChunk("file", 2, room::kTagBinary | room::kTagMeta, 2, bytesOf("{")));
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);
  EXPECT_EQ(reassembler.stats().badMeta, 5u);
  // Any JSON value is accepted, as JSON.parse would.
  for (std::string_view good : {"1", " \"s\" ", "null", "[{}]"}) {
    const auto r = reassembler.feed(makeChunk(
        "file", 3, room::kTagBinary | room::kTagMeta | room::kTagLast, 255, bytesOf(good)));
    ASSERT_TRUE(r.message);
    EXPECT_EQ(*r.message->meta, good);
  }
}

TEST(Reassembler, HugeSizesAreRefused) {
  room::ReassemblerLimits limits;
  limits.maxMessageBytes = 100000;
  limits.maxMetaBytes = 1000;
  limits.maxBytesInFlight = 150000;
  room::Reassembler reassembler(limits);

  // A single chunk larger than a message may be.
  auto r = reassembler.feed(
      makeChunk("big", 0, room::kTagBinary | room::kTagLast, 255, Bytes(100001, 1)));
  EXPECT_FALSE(r.message);
  EXPECT_EQ(reassembler.stats().oversizedMessages, 1u);
  EXPECT_EQ(reassembler.droppedKeyCount(), 0u);  // it was its own last chunk
  r = reassembler.feed(
      makeChunk("big", 0, room::kTagBinary | room::kTagLast, 255, Bytes(100000, 1)));
  ASSERT_TRUE(r.message);

  // Oversized metadata.
  reassembler.feed(makeChunk("big", 1, room::kTagBinary | room::kTagMeta, 1,
                             bytesOf("\"" + std::string(1000, 'm') + "\"")));
  EXPECT_EQ(reassembler.stats().oversizedMessages, 2u);
  EXPECT_EQ(reassembler.droppedKeyCount(), 1u);

  // A message growing past the limit over several chunks.
  for (int i = 0; i < 7; ++i)
    reassembler.feed(makeChunk("big", 2, room::kTagBinary, 1, Bytes(16369, 1)));
  EXPECT_EQ(reassembler.stats().oversizedMessages, 3u);
  EXPECT_EQ(reassembler.partialCount(), 0u);

  // Several transmissions together exceeding the in-flight budget: only the one that would
  // overflow is dropped, the others complete.
  for (std::uint8_t n = 10; n < 14; ++n) {
    for (int i = 0; i < 3; ++i)
      reassembler.feed(makeChunk("many", n, room::kTagBinary, 1, Bytes(16369, n)));
  }
  // Each stored chunk costs 16369 + 64 bytes: nine fit in 150000, the tenth (the first of
  // nonce 13) does not.
  EXPECT_EQ(reassembler.stats().inFlightOverflows, 1u);
  EXPECT_EQ(reassembler.stats().discardedChunks, 2u);
  EXPECT_LE(reassembler.bytesInFlight(), limits.maxBytesInFlight);
  int completed = 0;
  for (std::uint8_t n = 10; n < 14; ++n) {
    r = reassembler.feed(makeChunk("many", n, room::kTagBinary | room::kTagLast, 255, Bytes(1, n)));
    if (r.message) {
      ++completed;
      EXPECT_EQ(r.message->bytes.size(), 3u * 16369u + 1u);
    }
  }
  EXPECT_EQ(completed, 3);
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);
}

TEST(Reassembler, MetadataIsReplacedAndCharged) {
  room::Reassembler reassembler;
  reassembler.feed(makeChunk("m", 0, room::kTagBinary | room::kTagMeta, 1, bytesOf("[1,2,3]")));
  EXPECT_EQ(reassembler.bytesInFlight(), 7u);
  reassembler.feed(makeChunk("m", 0, room::kTagBinary | room::kTagMeta, 1, bytesOf("{}")));
  EXPECT_EQ(reassembler.bytesInFlight(), 2u);
  const auto r = reassembler.feed(makeChunk("m", 0, room::kTagBinary | room::kTagLast, 255, {}));
  ASSERT_TRUE(r.message);
  EXPECT_EQ(*r.message->meta, "{}");
  EXPECT_TRUE(r.message->bytes.empty());
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);
}

TEST(Reassembler, RandomChunksNeverExceedLimits) {
  room::ReassemblerLimits limits;
  limits.maxBytesInFlight = 300000;
  limits.maxPartials = 16;
  limits.maxMessageBytes = 120000;
  limits.maxMetaBytes = 2000;
  room::Reassembler reassembler(limits);
  std::mt19937 rng(99);
  for (int i = 0; i < 50000; ++i) {
    Bytes bytes(rng() % 3 == 0 ? rng() % 40 : rng() % 20000, static_cast<std::uint8_t>(i));
    for (std::size_t k = 0; k < std::min<std::size_t>(bytes.size(), 32); ++k) {
      bytes[k] = static_cast<std::uint8_t>(rng());
    }
    if (bytes.size() >= room::kHeaderBytes) {
      bytes[0] = static_cast<std::uint8_t>('a' + rng() % 3);  // few types, so keys collide
      std::fill(bytes.begin() + 1, bytes.begin() + 12, 0);
      bytes[room::kNonceIndex] = static_cast<std::uint8_t>(rng() % 24);
      if (rng() % 4 == 0) {  // sometimes valid metadata
        bytes[room::kTagIndex] = room::kTagMeta | room::kTagBinary;
        bytes.resize(room::kHeaderBytes + 2);
        bytes[15] = '{';
        bytes[16] = '}';
      }
    }
    const auto r = reassembler.feed(bytes);
    ASSERT_LE(reassembler.bytesInFlight(), limits.maxBytesInFlight);
    ASSERT_LE(reassembler.partialCount(), limits.maxPartials);
    ASSERT_LE(reassembler.droppedKeyCount(), limits.maxPartials);
    if (r.message) {
      ASSERT_LE(r.message->bytes.size(), limits.maxMessageBytes);
    }
  }
  reassembler.clear();
  EXPECT_EQ(reassembler.bytesInFlight(), 0u);
  EXPECT_EQ(reassembler.partialCount(), 0u);
}

TEST(RoomId, GenerateId) {
  EXPECT_TRUE(crypto::generateId(0).empty());
  std::map<char, int> counts;
  const auto id = crypto::generateId(62 * 1000);
  ASSERT_EQ(id.size(), 62000u);
  for (char c : id) {
    ASSERT_NE(crypto::kIdAlphabet.find(c), std::string_view::npos) << c;
    ++counts[c];
  }
  ASSERT_EQ(counts.size(), 62u);
  for (const auto& [c, n] : counts) {
    EXPECT_GT(n, 800) << c;  // expected 1000 each; 800/1200 are > 6 sigma away
    EXPECT_LT(n, 1200) << c;
  }
  EXPECT_NE(crypto::generateId(20), crypto::generateId(20));
}

TEST(RoomId, SelfIdIsStable) {
  const std::string& a = room::selfId();
  EXPECT_EQ(a.size(), room::kSelfIdLength);
  EXPECT_EQ(&a, &room::selfId());
  EXPECT_EQ(a.find_first_not_of(crypto::kIdAlphabet), std::string::npos);
}

#include "crypto/crypto.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "support/test_data.hpp"

namespace crypto = trystero::crypto;
using nlohmann::json;

namespace {

// Vectors computed by tests/unit/room/vectors/generate.mjs with the real trystero@0.22.0.
const json& vectors() {
  static const json v =
      trystero::testing::readJsonFile(std::filesystem::path(__FILE__).parent_path().parent_path() /
                                      "room" / "vectors" / "vectors.json");
  return v;
}

using trystero::crypto::hexEncode;
using trystero::testing::fromHex;

crypto::SignalKey::Iv ivOf(const json& array) {
  crypto::SignalKey::Iv iv{};
  for (std::size_t i = 0; i < iv.size(); ++i) iv[i] = array.at(i).get<std::uint8_t>();
  return iv;
}

}  // namespace

TEST(Crypto, Digests) {
  EXPECT_EQ(hexEncode(crypto::sha1(std::string_view("abc"))),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hexEncode(crypto::sha256(std::string_view("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hexEncode(crypto::sha256(std::string_view(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, HexFormats) {
  const std::uint8_t bytes[] = {0x00, 0xff, 0x1a, 0x09};
  EXPECT_EQ(hexEncode(bytes), "00ff1a09");
  EXPECT_EQ(crypto::fingerprintHex(bytes), "00:FF:1A:09");
  EXPECT_EQ(hexEncode({}), "");
  EXPECT_EQ(crypto::fingerprintHex({}), "");
}

TEST(Crypto, Base64EncodesEveryTailLength) {
  const std::string text = "any carnal pleasure.";
  const char* expected[] = {"",         "YQ==",     "YW4=",     "YW55",
                            "YW55IA==", "YW55IGM=", "YW55IGNh", "YW55IGNhcg=="};
  for (std::size_t n = 0; n < std::size(expected); ++n) {
    const auto* data = reinterpret_cast<const std::uint8_t*>(text.data());
    EXPECT_EQ(crypto::base64Encode({data, n}), expected[n]) << n;
  }
  // Several of base64Encode's internal pieces, and back.
  const auto big = crypto::randomBytes(7 * 1024 * 1024 + 2);
  EXPECT_EQ(crypto::base64Decode(crypto::base64Encode(big)), big);
}

TEST(Crypto, TopicHashMatchesJs) {
  ASSERT_FALSE(vectors().at("topicHash").empty());
  for (const auto& v : vectors().at("topicHash")) {
    EXPECT_EQ(crypto::topicHash(v.at("input").get<std::string>()), v.at("hash").get<std::string>())
        << v.at("input");
  }
}

TEST(Crypto, StrToNumMatchesJs) {
  for (const auto& v : vectors().at("strToNum")) {
    const auto input = v.at("input").get<std::string>();
    const auto expected = v.at("value").get<std::uint64_t>();
    if (v.contains("limit")) {
      EXPECT_EQ(crypto::strToNum(input, v.at("limit").get<std::uint64_t>()), expected) << input;
    } else {
      EXPECT_EQ(crypto::strToNum(input), expected) << input;
    }
  }
  // Invalid UTF-8 counts as U+FFFD, as a JS string decoded from those bytes would.
  EXPECT_EQ(crypto::strToNum("\xff"), 0xFFFDu);
  EXPECT_EQ(crypto::strToNum("a", 0), 97u);
}

TEST(Crypto, ShuffleMatchesJs) {
  const auto& shuffle = vectors().at("shuffle");
  for (const auto& c : shuffle.at("cases")) {
    const auto input = c.at("input").get<std::vector<std::string>>();
    const auto seed = c.at("seed").get<double>();
    EXPECT_EQ(crypto::shuffle(input, seed), c.at("output").get<std::vector<std::string>>())
        << "seed " << seed;
    if (c.contains("appId")) {
      EXPECT_EQ(static_cast<double>(crypto::strToNum(c.at("appId").get<std::string>())), seed);
    }
  }
  EXPECT_TRUE(crypto::shuffle({}, 5).empty());
  EXPECT_EQ(crypto::shuffle({"x"}, 5), std::vector<std::string>{"x"});
}

TEST(Crypto, ShuffleBulkMatchesJs) {
  const auto& bulk = vectors().at("shuffle").at("bulk");
  const auto items = bulk.at("items").get<std::size_t>();
  std::vector<std::string> letters;
  for (std::size_t i = 0; i < items; ++i) letters.emplace_back(1, static_cast<char>('a' + i));
  std::vector<std::uint8_t> all;
  const auto from = bulk.at("seedFrom").get<std::int64_t>();
  const auto count = bulk.at("seedCount").get<std::int64_t>();
  all.reserve(static_cast<std::size_t>(count) * items);
  for (std::int64_t seed = from; seed < from + count; ++seed) {
    for (const auto& s : crypto::shuffle(letters, static_cast<double>(seed))) {
      all.push_back(static_cast<std::uint8_t>(s[0] - 'a'));
    }
  }
  EXPECT_EQ(hexEncode(crypto::sha256(all)), bulk.at("sha256").get<std::string>());
}

TEST(Crypto, Base64) {
  const std::string_view text = "any carnal pleasure.";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()),
                                            text.size());
  EXPECT_EQ(crypto::base64Encode(bytes), "YW55IGNhcm5hbCBwbGVhc3VyZS4=");
  EXPECT_EQ(crypto::base64Encode(bytes.first(19)), "YW55IGNhcm5hbCBwbGVhc3VyZQ==");
  EXPECT_EQ(crypto::base64Encode(bytes.first(18)), "YW55IGNhcm5hbCBwbGVhc3Vy");
  EXPECT_EQ(crypto::base64Encode({}), "");
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  for (std::size_t n = 0; n <= all.size(); ++n) {
    const auto part = std::span<const std::uint8_t>(all).first(n);
    const auto decoded = crypto::base64Decode(crypto::base64Encode(part));
    ASSERT_TRUE(decoded);
    EXPECT_TRUE(std::equal(decoded->begin(), decoded->end(), part.begin(), part.end()));
  }
}

TEST(Crypto, Base64DecodeMatchesAtob) {
  for (const auto& v : vectors().at("atob")) {
    const auto input = v.at("input").get<std::string>();
    const auto decoded = crypto::base64Decode(input);
    if (v.at("bytes").is_null()) {
      EXPECT_FALSE(decoded) << '"' << input << '"';
    } else {
      ASSERT_TRUE(decoded) << '"' << input << '"';
      EXPECT_EQ(hexEncode(*decoded), v.at("bytes").get<std::string>()) << '"' << input << '"';
    }
  }
  EXPECT_FALSE(crypto::base64Decode(std::string("YQ\0=", 4)));
  EXPECT_FALSE(crypto::base64Decode("\xc3\xa9\xc3\xa9"));
}

TEST(Crypto, TextDecodeMatchesTextDecoder) {
  for (const auto& v : vectors().at("textDecoder")) {
    const auto bytes = fromHex(v.at("bytes").get<std::string>());
    EXPECT_EQ(crypto::textDecode(bytes), v.at("text").get<std::string>()) << v.at("bytes");
  }
}

TEST(Crypto, RandomBytes) {
  EXPECT_TRUE(crypto::randomBytes(0).empty());
  const auto a = crypto::randomBytes(64);
  const auto b = crypto::randomBytes(64);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
  EXPECT_GT(std::set<std::uint8_t>(a.begin(), a.end()).size(), 16u);
}

TEST(SignalKey, SealWithFixedIvMatchesJs) {
  int fixed = 0;
  for (const auto& v : vectors().at("seal")) {
    const auto password = v.at("password").get<std::string>();
    const auto appId = v.at("appId").get<std::string>();
    const auto roomId = v.at("roomId").get<std::string>();
    const auto plaintext = v.at("plaintext").get<std::string>();
    EXPECT_EQ(hexEncode(crypto::sha256(password + ":" + appId + ":" + roomId)),
              v.at("keySha256").get<std::string>());
    const crypto::SignalKey key(password, appId, roomId);
    if (v.at("iv").is_array()) {
      ++fixed;
      EXPECT_EQ(key.seal(plaintext, ivOf(v.at("iv"))), v.at("sealed").get<std::string>());
    }
    EXPECT_EQ(key.open(v.at("sealed").get<std::string>()), plaintext);
  }
  EXPECT_GE(fixed, 4);
}

TEST(SignalKey, OpensJsSealedSdp) {
  // The last seal vector was sealed by JS with its own (generator-supplied) IV.
  const auto& v = vectors().at("seal").back();
  ASSERT_EQ(v.at("iv"), "generator");
  const crypto::SignalKey key(v.at("password").get<std::string>(), v.at("appId").get<std::string>(),
                              v.at("roomId").get<std::string>());
  const auto opened = key.open(v.at("sealed").get<std::string>());
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, v.at("plaintext").get<std::string>());
  EXPECT_TRUE(opened->starts_with("v=0\r\n"));

  const crypto::SignalKey wrong("hunter3", v.at("appId").get<std::string>(),
                                v.at("roomId").get<std::string>());
  EXPECT_FALSE(wrong.open(v.at("sealed").get<std::string>()));
  const crypto::SignalKey otherRoom(v.at("password").get<std::string>(),
                                    v.at("appId").get<std::string>(), "lobby2");
  EXPECT_FALSE(otherRoom.open(v.at("sealed").get<std::string>()));
}

TEST(SignalKey, RoundTripWithRandomIv) {
  const crypto::SignalKey key("pw", "app", "room");
  const std::string plaintext = "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"} \xf0\x9f\x8e\x89";
  const auto a = key.seal(plaintext);
  const auto b = key.seal(plaintext);
  EXPECT_NE(a, b);
  EXPECT_EQ(key.open(a), plaintext);
  EXPECT_EQ(key.open(b), plaintext);
  EXPECT_EQ(key.open(key.seal("")), "");
  const crypto::SignalKey copy = key;
  EXPECT_EQ(copy.open(a), plaintext);
}

TEST(SignalKey, OpenRejectsMalformedInput) {
  const crypto::SignalKey key("pw", "app", "room");
  crypto::SignalKey::Iv iv{};
  for (std::size_t i = 0; i < iv.size(); ++i) iv[i] = static_cast<std::uint8_t>(i * 17);
  const std::string good = key.seal("hello world", iv);
  ASSERT_EQ(key.open(good), "hello world");
  const auto dollar = good.find('$');
  const std::string ivText = good.substr(0, dollar);
  const std::string body = good.substr(dollar + 1);
  const std::string sixteen = "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16";

  const std::vector<std::string> bad = {
      "",
      "$",
      ivText,
      ivText + "$",
      "$" + body,
      ivText + "$" + body + "$",
      ivText + "$$" + body,
      ivText + ",1$" + body,                             // 17 IV bytes
      ivText.substr(ivText.find(',') + 1) + "$" + body,  // 15 IV bytes
      "256" + ivText.substr(ivText.find(',')) + "$" + body,
      "-1" + ivText.substr(ivText.find(',')) + "$" + body,
      " 0" + ivText.substr(ivText.find(',')) + "$" + body,
      "0000" + ivText.substr(ivText.find(',')) + "$" + body,
      "99999999999999999999" + ivText.substr(ivText.find(',')) + "$" + body,
      "0x1" + ivText.substr(ivText.find(',')) + "$" + body,
      "," + ivText + "$" + body,
      ivText + ",$" + body,
      sixteen + "$" + body,                            // wrong IV: tag fails
      ivText + "$" + body.substr(0, body.size() - 4),  // truncated
      ivText + "$" + "AAAA",                           // 3 bytes: shorter than a tag
      ivText + "$" + "AAAAAAAAAAAAAAAAAAAAAA==",       // 16 zero bytes: empty ct, bad tag
      ivText + "$" + body + "*",
      ivText + "$" + "A" + body,
  };
  for (const auto& text : bad) EXPECT_FALSE(key.open(text)) << text;

  // Flip every bit of the ciphertext-and-tag: authentication must fail each time.
  const auto raw = crypto::base64Decode(body);
  ASSERT_TRUE(raw);
  for (std::size_t i = 0; i < raw->size() * 8; ++i) {
    auto flipped = *raw;
    flipped[i / 8] ^= static_cast<std::uint8_t>(1u << (i % 8));
    EXPECT_FALSE(key.open(ivText + "$" + crypto::base64Encode(flipped))) << i;
  }
  // Leading zeros and whitespace in base64 are accepted where atob accepts them.
  EXPECT_EQ(key.open(ivText + "$" + body.substr(0, 4) + "\n" + body.substr(4)), "hello world");
}

TEST(SignalKey, OpenSurvivesGarbage) {
  const crypto::SignalKey key("pw", "app", "room");
  const std::string good = key.seal("some signal");
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 20000; ++round) {
    std::string text = good;
    const int edits = 1 + round % 4;
    for (int e = 0; e < edits; ++e) {
      const auto pos = static_cast<std::size_t>(rng() % (text.size() + 1));
      switch (rng() % 3) {
        case 0:
          if (pos < text.size()) text[pos] = static_cast<char>(byte(rng));
          break;
        case 1:
          text.insert(pos, 1, static_cast<char>(byte(rng)));
          break;
        default:
          if (pos < text.size()) text.erase(pos, 1 + rng() % 8);
      }
    }
    const auto opened = key.open(text);
    if (opened) {
      EXPECT_EQ(*opened, "some signal");  // only if the edits cancelled out
    }
  }
  for (int round = 0; round < 5000; ++round) {
    std::string text(rng() % 200, '\0');
    for (auto& c : text) c = static_cast<char>(byte(rng));
    EXPECT_FALSE(key.open(text));
  }
}

TEST(SignalKey, SealsNonAsciiBytesUnchanged) {
  const crypto::SignalKey key("", "a", "b");
  const std::string text = "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93";
  EXPECT_EQ(key.open(key.seal(text)), text);
  // What JS would see: TextDecoder turns invalid UTF-8 into U+FFFD and drops a leading BOM.
  EXPECT_EQ(key.open(key.seal("\xef\xbb\xbfx\xff")), "x\xef\xbf\xbd");
}

// The bounded JSON parser every layer uses for network input: exact depth limit, strings that
// look deep, and a million levels refused with the reason.
#include "util/json_limits.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace trystero;

namespace {

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST(JsonLimits, DepthScanIsExactAtTheLimit) {
  using util::kMaxJsonDepth;
  EXPECT_TRUE(util::jsonDepthWithin(nested(kMaxJsonDepth)));
  EXPECT_FALSE(util::jsonDepthWithin(nested(kMaxJsonDepth + 1)));
  // Objects and arrays count alike.
  std::string mixed;
  for (std::size_t i = 0; i < kMaxJsonDepth; ++i) mixed += i % 2 ? "[" : "{\"k\":";
  EXPECT_TRUE(util::jsonDepthWithin(mixed));
  EXPECT_FALSE(util::jsonDepthWithin(mixed + "["));
  // Sequential (not nested) containers do not add up.
  std::string wide;
  for (int i = 0; i < 10000; ++i) wide += "[],";
  EXPECT_TRUE(util::jsonDepthWithin("[" + wide + "[]]"));
}

TEST(JsonLimits, BracketsInsideStringsDoNotCount) {
  const std::string brackets(100000, '[');
  std::string text = "{\"a\":\"" + brackets + "\",\"b\":\"\\\"" + brackets + "\\\\\"}";
  EXPECT_TRUE(util::jsonDepthWithin(text, 1));
  auto value = util::parseJsonBounded(text, 1);
  ASSERT_TRUE(value.is_object());
  EXPECT_EQ(value["a"].get<std::string>(), brackets);
  // An escaped quote does not end the string; the bracket after the real end does count.
  EXPECT_FALSE(util::jsonDepthWithin("[\"\\\"[\",[]]", 1));
  EXPECT_TRUE(util::jsonDepthWithin("[\"\\\"[\",1]", 1));
}

TEST(JsonLimits, ParseRefusesAMillionLevelsAndSaysWhy) {
  util::JsonRejection why = util::JsonRejection::kNone;
  auto value = util::parseJsonBounded(nested(1000000), util::kMaxJsonDepth, &why);
  EXPECT_TRUE(value.is_discarded());
  EXPECT_EQ(why, util::JsonRejection::kTooDeep);

  value = util::parseJsonBounded("{\"a\":", util::kMaxJsonDepth, &why);
  EXPECT_TRUE(value.is_discarded());
  EXPECT_EQ(why, util::JsonRejection::kMalformed);

  // Normal JSON, also as ordered_json, and at exactly the limit (and copyable).
  value = util::parseJsonBounded("{\"x\":[1,2,{\"y\":null}]}", util::kMaxJsonDepth, &why);
  EXPECT_EQ(why, util::JsonRejection::kNone);
  EXPECT_EQ(value["x"][2]["y"], nullptr);
  auto ordered = util::parseJsonBounded<nlohmann::ordered_json>("{\"b\":1,\"a\":2}");
  EXPECT_EQ(ordered.dump(), "{\"b\":1,\"a\":2}");
  auto deepest = util::parseJsonBounded(nested(util::kMaxJsonDepth));
  ASSERT_TRUE(deepest.is_array());
  nlohmann::json copy = deepest;
  EXPECT_EQ(copy, deepest);
}

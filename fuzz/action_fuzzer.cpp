// libFuzzer target for what a peer sends on the data channel: chunks through the Reassembler,
// then payload and metadata JSON through the bounded parser, as RoomCore delivers them.
//
// Input: records of [2-byte little-endian length][that many bytes], each one data-channel
// message. Invariants: the reassembler stays within its limits; every completed JSON payload
// or metadata that parses is at most util::kMaxJsonDepth deep and can be copied and dumped
// (recursive code) safely; the depth pre-scan agrees exactly with a real parser's depth.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "crypto/crypto.hpp"
#include "room/chunk_codec.hpp"
#include "util/json_limits.hpp"

using namespace trystero;

namespace {

void check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "action_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

// The real nesting depth of valid JSON, from nlohmann's (iterative) SAX parser.
class DepthSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
  std::size_t maxDepth = 0;

 private:
  bool enter() {
    maxDepth = std::max(maxDepth, ++depth_);
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }
  std::size_t depth_ = 0;
};

void checkJson(const std::string& text) {
  util::JsonRejection why = util::JsonRejection::kNone;
  const auto value = util::parseJsonBounded(text, util::kMaxJsonDepth, &why);

  DepthSax sax;
  const bool valid = nlohmann::json::sax_parse(text, &sax);
  if (valid) {
    // nlohmann's lexer takes a NUL byte for the end of the input; the pre-scan reads on, so it
    // is exact up to the first NUL and only stricter beyond it.
    const std::string_view parsed = std::string_view(text).substr(0, text.find('\0'));
    check(util::jsonDepthWithin(parsed, sax.maxDepth), "pre-scan deeper than the parser");
    if (sax.maxDepth > 0) {
      check(!util::jsonDepthWithin(parsed, sax.maxDepth - 1), "pre-scan shallower than parser");
    }
    check(util::jsonDepthWithin(text, sax.maxDepth) || parsed.size() < text.size(),
          "pre-scan deeper than the parser");
    if (value.is_discarded()) {
      check(why == util::JsonRejection::kTooDeep, "valid JSON refused, not for depth");
      check(sax.maxDepth > util::kMaxJsonDepth || parsed.size() < text.size(),
            "shallow valid JSON refused");
    } else {
      check(sax.maxDepth <= util::kMaxJsonDepth, "deep JSON accepted");
    }
  } else {
    check(value.is_discarded(), "invalid JSON accepted");
  }
  if (!value.is_discarded()) {
    // What a receive callback may do with it: all recursive in nlohmann.
    nlohmann::json copy = value;
    check(copy == value, "copy differs");
    (void)copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  room::ReassemblerLimits limits;
  limits.maxBytesInFlight = 256 * 1024;
  limits.maxPartials = 8;
  limits.maxMessageBytes = 64 * 1024;
  limits.maxMetaBytes = 16 * 1024;
  room::Reassembler reassembler(limits);

  std::span<const std::uint8_t> rest(data, size);
  while (rest.size() >= 2) {
    std::size_t length = rest[0] | std::size_t(rest[1]) << 8;
    rest = rest.subspan(2);
    length = std::min(length, rest.size());
    auto result = reassembler.feed(rest.first(length));
    rest = rest.subspan(length);

    check(reassembler.bytesInFlight() <= limits.maxBytesInFlight, "bytes in flight");
    check(reassembler.partialCount() <= limits.maxPartials, "partials");
    check(reassembler.droppedKeyCount() <= limits.maxPartials, "dropped keys");
    if (result.progress) {
      check(result.progress->progress >= 0 && result.progress->progress <= 1, "progress");
      if (result.progress->meta) {
        check(util::jsonDepthWithin(*result.progress->meta), "stored deep metadata");
        checkJson(*result.progress->meta);
      }
    }
    if (result.message) {
      check(result.message->bytes.size() <= limits.maxMessageBytes, "message size");
      if (result.message->meta) checkJson(*result.message->meta);
      if (result.message->kind == room::PayloadKind::kJson) {
        checkJson(crypto::textDecode(result.message->bytes));
      }
    }
  }
  // The whole input as one JSON text too, for the parser's sake.
  checkJson(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}

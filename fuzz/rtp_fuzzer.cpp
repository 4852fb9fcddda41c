// libFuzzer target for the RTP parser: whatever parses must serialize, and parse back to the
// same packet.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "media/rtp.hpp"
#include "media_fuzz_check.hpp"

using namespace trystero::media;
using trystero::media::fuzzing::check;

namespace {

bool sameBytes(ByteView a, ByteView b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  classifyRtpOrRtcp(input);
  auto packet = parseRtp(input);
  if (!packet) return 0;
  check(packet->payload.data() >= data &&
            packet->payload.data() + packet->payload.size() <= data + size,
        "rtp_fuzzer", "payload inside the input");
  auto written = serializeRtp(*packet);
  check(written.has_value(), "rtp_fuzzer", "a parsed packet serializes");
  auto again = parseRtp(*written);
  check(again.has_value(), "rtp_fuzzer", "own output parses");
  check(again->marker == packet->marker && again->payloadType == packet->payloadType &&
            again->sequenceNumber == packet->sequenceNumber &&
            again->timestamp == packet->timestamp && again->ssrc == packet->ssrc &&
            again->csrcs == packet->csrcs && again->paddingSize == packet->paddingSize,
        "rtp_fuzzer", "header fields survive");
  check(sameBytes(again->payload, packet->payload), "rtp_fuzzer", "payload survives");
  check(again->extensions.size() == packet->extensions.size() &&
            again->unknownExtensionProfile == packet->unknownExtensionProfile &&
            sameBytes(again->unknownExtensionData, packet->unknownExtensionData),
        "rtp_fuzzer", "extension block survives");
  for (std::size_t i = 0; i < packet->extensions.size(); ++i) {
    check(again->extensions[i].id == packet->extensions[i].id &&
              sameBytes(again->extensions[i].data, packet->extensions[i].data),
          "rtp_fuzzer", "extension element survives");
  }
  SequenceUnwrapper unwrapper;
  unwrapper.unwrap(packet->sequenceNumber);
  return 0;
}

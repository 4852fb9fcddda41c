// libFuzzer target for the RTCP compound parser: whatever parses and can be written again must
// parse back to the same packets.
#include <cstddef>
#include <cstdint>

#include "media/rtcp.hpp"
#include "media_fuzz_check.hpp"

using namespace trystero::media;
using trystero::media::fuzzing::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto packets = parseRtcpCompound(ByteView(data, size));
  if (!packets) return 0;
  check(!packets->empty(), "rtcp_fuzzer", "a parsed compound has packets");
  for (const RtcpPacket& packet : *packets) {
    if (auto* nack = std::get_if<GenericNack>(&packet)) {
      check(nack->lostSequenceNumbers().size() <= nack->entries.size() * 17, "rtcp_fuzzer",
            "NACK expansion bound");
    }
  }
  // Unknown packets whose padding left a body off the word boundary cannot be written back.
  auto written = serializeRtcpCompound(*packets);
  if (!written) return 0;
  auto again = parseRtcpCompound(*written);
  check(again.has_value(), "rtcp_fuzzer", "own output parses");
  check(*again == *packets, "rtcp_fuzzer", "packets survive a round trip");
  return 0;
}

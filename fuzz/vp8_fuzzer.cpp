// libFuzzer target for the vp8 depacketizer: any packet sequence keeps the assembler
// within its bounds (see media_fuzz_check.hpp for the input layout).
#include <cstddef>
#include <cstdint>

#include "media/vp8.hpp"
#include "media_fuzz_check.hpp"

using namespace trystero::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const FrameAssembler::Limits limits{
      .maxPackets = 32, .maxReorderPackets = 8, .maxFrameBytes = 4096};
  FrameAssembler assembler = makeVp8Depacketizer(limits);
  fuzzing::feedDepacketizer(assembler, limits, ByteView(data, size), "vp8_fuzzer");
  return 0;
}

// libFuzzer target for the IVF and Ogg Opus readers: any bytes end the reading (cleanly or as
// failed) within the readers' size bounds.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "media/ivf.hpp"
#include "media/ogg_opus.hpp"
#include "media_fuzz_check.hpp"

using namespace trystero::media;
using trystero::media::fuzzing::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  {
    std::istringstream in(bytes);
    IvfReader reader(in, 4096);
    while (auto frame = reader.next()) {
      check(frame->data.size() <= 4096, "media_file_fuzzer", "IVF frame bound");
    }
  }
  {
    std::istringstream in(bytes);
    OggOpusReader reader(in, {.maxPacketSize = 4096});
    while (auto packet = reader.next()) {
      check(packet->size() <= 4096, "media_file_fuzzer", "Ogg packet bound");
    }
  }
  return 0;
}

// i8042 reset line.
#include "devices/legacy/i8042.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace franca {
namespace {
constexpr uint64_t kCommandOffset = 4;
constexpr uint8_t kCommandPulseReset = 0xfe;
}  // namespace

void I8042::read(uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);  // status: output buffer empty, input buffer empty
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == kCommandOffset && !data.empty() && data[0] == kCommandPulseReset) {
    spdlog::info("guest pulsed the i8042 reset line");
    stop_(StopReason::kReset, kExitGuestReset);
  }
}

}  // namespace franca

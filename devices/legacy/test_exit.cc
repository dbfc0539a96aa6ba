// Guest verdict port.
#include "devices/legacy/test_exit.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace franca {

void TestExit::read(uint64_t, std::span<uint8_t> data) { std::fill(data.begin(), data.end(), 0xff); }

void TestExit::write(uint64_t, std::span<const uint8_t> data) {
  if (data.empty()) return;
  spdlog::info("guest verdict {}", data[0]);
  stop_(StopReason::kVerdict, data[0]);
}

}  // namespace franca

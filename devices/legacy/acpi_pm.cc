// HW-reduced ACPI sleep control and reset registers.
#include "devices/legacy/acpi_pm.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "arch/x86_64/layout.h"
#include "vmm/core/timeline.h"

namespace franca {
namespace {
constexpr uint8_t kSleepEnable = 1 << 5;
constexpr uint64_t kSleepControl = 0, kReset = 2;
}  // namespace

void AcpiPm::read(uint64_t, std::span<uint8_t> data) { std::fill(data.begin(), data.end(), 0); }

void AcpiPm::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  const uint8_t value = data[0];
  if (offset == kSleepControl && (value & kSleepEnable) && ((value >> 2) & 7) == kS5Type) {
    mark_milestone(Milestone::kPowerOff);
    stop_(StopReason::kPowerOff, 0);
  } else if (offset == kReset && value == x86::kAcpiResetValue) {
    spdlog::info("guest wrote the ACPI reset register");
    stop_(StopReason::kReset, kExitGuestReset);
  } else {
    spdlog::debug("acpi pm: ignored write {:#x} at +{}", value, offset);
  }
}

}  // namespace franca

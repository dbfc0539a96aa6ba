// HW-reduced ACPI power registers (ACPI 6.x §4.8.3.7 sleep control/status,
// §4.8.3.6 reset register), at the ports the FADT names (arch/x86_64/layout.h):
//   +0 sleep control: SLP_EN (bit 5) with SLP_TYP 5 (S5, bits 2..4) powers off
//   +1 sleep status: reads 0
//   +2 reset: kAcpiResetValue resets the machine
#pragma once

#include "vmm/core/bus.h"
#include "vmm/core/stop.h"

namespace franca {

class AcpiPm : public BusDevice {
 public:
  static constexpr uint64_t kSize = 3;
  static constexpr uint8_t kS5Type = 5;
  explicit AcpiPm(StopFn stop) : stop_(std::move(stop)) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  StopFn stop_;
};

}  // namespace franca

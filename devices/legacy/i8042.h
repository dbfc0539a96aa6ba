// The PC keyboard controller, only as far as the reset line goes: command 0xFE
// on port 0x64 pulses CPU reset (Linux's reboot=k fallback). No keyboard.
// Covers ports 0x60-0x64 (offset 0 data, offset 4 status/command).
#pragma once

#include "vmm/core/bus.h"
#include "vmm/core/stop.h"

namespace franca {

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kSize = 5;
  explicit I8042(StopFn stop) : stop_(std::move(stop)) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  StopFn stop_;
};

}  // namespace franca

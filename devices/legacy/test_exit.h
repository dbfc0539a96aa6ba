// The test-exit port (0xf4): the guest's verdict becomes franca's exit status,
// unchanged (unlike QEMU's isa-debug-exit, which exits (v << 1) | 1).
// From a busybox shell:  printf '\003' | dd of=/dev/port bs=1 seek=244 count=1
#pragma once

#include "vmm/core/bus.h"
#include "vmm/core/stop.h"

namespace franca {

class TestExit : public BusDevice {
 public:
  explicit TestExit(StopFn stop) : stop_(std::move(stop)) {}
  void read(uint64_t, std::span<uint8_t> data) override;
  void write(uint64_t, std::span<const uint8_t> data) override;

 private:
  StopFn stop_;
};

}  // namespace franca

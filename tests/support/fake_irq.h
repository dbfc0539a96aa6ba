// An IrqLine that records what devices do to it.
#pragma once

#include <atomic>

#include "vmm/core/bus.h"

namespace franca::testing {

class FakeIrq : public IrqLine {
 public:
  void set_level(bool high) override {
    level = high;
    if (high) ++raised;
  }
  std::atomic<bool> level{false};
  std::atomic<int> raised{0};  // rising edges seen
};

}  // namespace franca::testing

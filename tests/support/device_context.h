// DeviceContextBuilder: the DeviceContext a transport hands a device at
// DRIVER_OK, built from driver-side rings (driver_queue.h), for the few device
// tests that must call activate() directly because no driver could get there
// through a transport (device tests otherwise probe through probed_device.h);
// FailureLog records DeviceContext::fail.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/virtio/device.h"
#include "tests/support/driver_queue.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/guest_memory.h"

namespace franca::testing {

class DeviceContextBuilder {
 public:
  explicit DeviceContextBuilder(EventLoop& loop) { ctx_.loop = &loop; }

  DeviceContextBuilder& memory(const GuestMemory& memory) {
    ctx_.memory = &memory;
    return *this;
  }
  DeviceContextBuilder& features(uint64_t negotiated) {
    ctx_.features = negotiated;
    return *this;
  }
  // Activates `driver`'s ring (over memory(), set first) as queue `index`, kicked through `kick_fd`.
  DeviceContextBuilder& queue(uint16_t index, const DriverQueue& driver, int kick_fd) {
    EXPECT_NE(ctx_.memory, nullptr) << "memory() before queue()";
    if (!ctx_.memory) return *this;
    auto queue = virtio::Queue::activate(driver.config(), driver.features(), *ctx_.memory);
    EXPECT_TRUE(queue.has_value()) << "queue " << index << " does not activate";
    if (queue) ctx_.queues.push_back({.index = index, .queue = std::move(*queue), .kick_fd = kick_fd});
    return *this;
  }
  DeviceContextBuilder& interrupt(std::shared_ptr<virtio::Interrupt> irq) {
    ctx_.interrupt = std::move(irq);
    return *this;
  }
  DeviceContextBuilder& fail(std::function<void(std::string_view why)> fn) {
    ctx_.fail = std::move(fn);
    return *this;
  }
  virtio::DeviceContext build() { return std::move(ctx_); }

 private:
  virtio::DeviceContext ctx_;
};

// Every reason a device gave DeviceContext::fail, in order (any thread).
class FailureLog {
 public:
  std::function<void(std::string_view why)> recorder() {
    return [this](std::string_view why) {
      std::lock_guard lock(mutex_);
      reasons_.emplace_back(why);
    };
  }
  std::vector<std::string> reasons() {
    std::lock_guard lock(mutex_);
    return reasons_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> reasons_;
};

}  // namespace franca::testing

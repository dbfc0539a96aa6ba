// Shared fixture for the virtqueue core tests: a driver-side queue over test
// RAM and the device-side Queue activated on it, parameterized over the split
// (virtio 1.x §2.7) and packed (§2.8) formats.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "devices/virtio/queue/queue.h"
#include "tests/support/driver_queue.h"

namespace franca::virtio::queue_test {

using franca::testing::DriverBuffer;
using franca::testing::DriverQueue;
using franca::testing::DriverQueueOptions;
using franca::testing::TestRam;
using franca::testing::UsedBuffer;

inline constexpr uint64_t kData = 0x20000;  // data buffers live from here up

class QueueTest : public ::testing::TestWithParam<bool> {
 protected:
  bool packed() const { return GetParam(); }

  // Lays out the driver side with `options` (format from the parameter) and activates the device side.
  void start(DriverQueueOptions options = {}) {
    options.packed = packed();
    driver_.emplace(ram_->memory(), options);
    auto queue = Queue::activate(driver_->config(), driver_->features(), ram_->memory());
    ASSERT_TRUE(queue) << describe(queue.error());
    queue_.emplace(std::move(*queue));
  }

  // Pops one chain, failing the test unless one was available and valid.
  DescriptorChain pop_chain() {
    DescriptorChain chain;
    auto popped = queue_->pop(chain);
    EXPECT_TRUE(popped.has_value()) << describe(popped.error());
    EXPECT_TRUE(popped.value_or(false));
    return chain;
  }

  // The error pop() reports, failing the test if it reported none.
  std::optional<QueueError> pop_error() {
    DescriptorChain chain;
    auto popped = queue_->pop(chain);
    EXPECT_FALSE(popped.has_value());
    if (popped) return std::nullopt;
    return popped.error();
  }

  std::unique_ptr<TestRam> ram_ = std::make_unique<TestRam>();
  std::optional<DriverQueue> driver_;
  std::optional<Queue> queue_;
};

inline std::string format_name(const ::testing::TestParamInfo<bool>& info) { return info.param ? "Packed" : "Split"; }

}  // namespace franca::virtio::queue_test

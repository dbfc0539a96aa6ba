// RecordingInterrupt: the virtio Interrupt a device signals through, counting
// used-buffer signals per queue and configuration-change signals.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "devices/virtio/device.h"

namespace franca::testing {

class RecordingInterrupt : public virtio::Interrupt {
 public:
  static constexpr size_t kQueues = 8;  // queue q is counted in used[q % kQueues]
  void signal_used(uint16_t queue) override { ++used[queue % kQueues]; }
  void signal_config() override { ++config; }
  int queue_notifier(uint16_t queue) const override { return notifiers[queue % kQueues]; }
  std::atomic<int> used[kQueues] = {};
  int notifiers[kQueues] = {-1, -1, -1, -1, -1, -1, -1, -1};  // queue_notifier's answers (set before activation)
  std::atomic<int> config{0};
};

}  // namespace franca::testing

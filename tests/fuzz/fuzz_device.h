// Shared by the transport fuzz targets: a small virtio device that serves its
// rings once at DRIVER_OK (pops every chain, returns it used, signals), and a
// way to run what a transport posted to the vmm-io loop on the fuzzing thread
// (deterministic and fast: no loop thread, no cross-thread waits).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "devices/virtio/device.h"
#include "vmm/core/event_loop.h"

namespace franca::fuzz {

class RingDevice : public virtio::VirtioDevice {
 public:
  explicit RingDevice(uint64_t features, uint16_t queues) : features_(features), queues_(queues) {}
  uint32_t device_type() const override { return 3; }  // console-like
  const std::string& id() const override { return id_; }
  uint64_t offered_features() const override { return features_; }
  std::span<const virtio::FeatureName> feature_names() const override { return {}; }
  uint16_t num_queues() const override { return queues_; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < 12 ? static_cast<uint8_t>(offset + i) : 0;
  }
  // One pass over every ring; a corrupt ring fails the device as a real one would.
  Result<void> activate(virtio::DeviceContext ctx) override {
    for (virtio::ActiveQueue& q : ctx.queues) {
      virtio::DescriptorChain chain;
      bool used = false;
      for (int n = 0; n < 64; ++n) {
        auto got = q.queue.pop(chain);
        if (!got) {
          ctx.fail(virtio::describe(got.error()));
          return {};
        }
        if (!*got) break;
        q.queue.push(chain, chain.writable_bytes());
        used = true;
      }
      if (used && q.queue.should_signal()) ctx.interrupt->signal_used(q.index);
    }
    return {};
  }
  void reset() override {}

 private:
  uint64_t features_;
  uint16_t queues_;
  std::string id_ = "fuzz0";
};

// Runs everything posted to `loop` so far (activation) on the calling thread.
// The loop never runs otherwise, so invoke() (device reset) runs inline.
inline void run_posted(EventLoop& loop) {
  loop.stop();  // posted after the pending work; run() also drains what is left
  loop.run();
}

}  // namespace franca::fuzz

// FakeDevice: a VirtioDevice with no data path, for transport tests: it keeps
// the DeviceContext it is activated with and counts activations and resets.
#pragma once

#include <linux/virtio_config.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "devices/virtio/device.h"

namespace franca::testing {

class FakeDevice : public virtio::VirtioDevice {
 public:
  struct Options {
    uint32_t type = 42;  // VIRTIO_ID_*; 42 is no real device
    std::string id = "fake0";
    uint64_t features = uint64_t{1} << VIRTIO_F_VERSION_1;  // offered
    uint16_t queues = 2;
    bool signal_on_activate = false;  // signal_used on the first enabled queue when activated
  };
  FakeDevice() = default;
  explicit FakeDevice(Options options) : options_(std::move(options)) {}

  uint32_t device_type() const override { return options_.type; }
  const std::string& id() const override { return options_.id; }
  uint64_t offered_features() const override { return options_.features; }
  std::span<const virtio::FeatureName> feature_names() const override { return {}; }
  uint16_t num_queues() const override { return options_.queues; }
  // Byte at `offset` reads 0xa0 + offset.
  void read_config(uint64_t offset, std::span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0xa0 + offset + i);
  }
  Result<void> activate(virtio::DeviceContext ctx) override {
    if (options_.signal_on_activate && !ctx.queues.empty()) ctx.interrupt->signal_used(ctx.queues[0].index);
    ctx_ = std::make_unique<virtio::DeviceContext>(std::move(ctx));
    activations++;
    return {};
  }
  void reset() override {
    ctx_.reset();
    resets++;
  }

  std::unique_ptr<virtio::DeviceContext> ctx_;  // from the last activation, until reset
  std::atomic<int> activations{0};
  std::atomic<int> resets{0};

 private:
  Options options_;
};

}  // namespace franca::testing

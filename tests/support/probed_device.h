// ProbedDevice: a device model behind a real MmioTransport on test RAM, brought
// up the way Linux's virtio_mmio (vm_probe, vm_setup_vq) and virtio core
// (virtio_dev_probe, virtio_features_ok, virtio_device_ready) do it (virtio 1.x
// §3.1.1, §4.2.3), so the transport activates the device exactly as in a guest.
//
//   ProbedDevice dev(device, ram, loop.loop());
//   ASSERT_TRUE(dev.probe({.mask = bit(VIRTIO_F_RING_PACKED), .queues = ProbeOptions::rings(1, 32)}));
//   dev.queue(0).add({...}); dev.queue(0).publish(); dev.kick(0);  // QueueNotify
//   EXPECT_EQ(dev.signals().used[0], 1); EXPECT_FALSE(dev.needs_reset());
//
// The driver rings are DriverQueues in the format the negotiated features ask
// for (packed, event idx, indirect). A thin tap between the transport and the
// device counts the device's signals per queue (mmio's InterruptStatus cannot
// say which queue) and keeps the reasons it gave fail(); both still reach the
// transport, which sets InterruptStatus, pulses the FakeIrq line and sets
// NEEDS_RESET. Call from the test thread while the loop runs on another.
#pragma once

#include <gtest/gtest.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/transport/mmio/mmio_transport.h"
#include "tests/support/device_context.h"
#include "tests/support/driver_queue.h"
#include "tests/support/fake_irq.h"
#include "tests/support/recording_interrupt.h"
#include "vmm/core/error.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/guest_memory.h"

namespace franca::testing {

// Where the driver puts one queue's rings, and how many entries it asks for.
struct QueueLayout {
  uint16_t size = 8;
  uint64_t ring_base = 0x1000;
};

struct ProbeOptions {
  // Offered features the driver declines (the default driver accepts the rest).
  uint64_t mask = 0;
  // Exactly these driver features instead (the test must pick offered ones).
  std::optional<uint64_t> features = std::nullopt;
  // Queues 0..n-1 the driver sets up; the device's other queues stay disabled.
  std::vector<QueueLayout> queues = {};

  // `count` rings of `size` entries, `stride` bytes apart from `base`
  // (0x20000 leaves room for each ring and DriverQueue's indirect-table area).
  static std::vector<QueueLayout> rings(uint16_t count, uint16_t size = 8, uint64_t base = 0x1000,
                                        uint64_t stride = 0x20000) {
    std::vector<QueueLayout> out;
    for (uint16_t i = 0; i < count; ++i) out.push_back({size, base + i * stride});
    return out;
  }
};

namespace detail {

// What the tap saw, shared with the Interrupt and fail callback it hands the
// device (which may outlive the tap on the loop, see device.h's lifetime rule).
struct TapRecord {
  RecordingInterrupt signals;
  FailureLog failures;
};

// Counts the device's signals, then forwards them to the transport's Interrupt.
class TapInterrupt : public virtio::Interrupt {
 public:
  TapInterrupt(std::shared_ptr<virtio::Interrupt> next, std::shared_ptr<TapRecord> record)
      : next_(std::move(next)), record_(std::move(record)) {}
  void signal_used(uint16_t queue) override {
    next_->signal_used(queue);  // first: a test that sees the record sees the transport's effect
    record_->signals.signal_used(queue);
  }
  void signal_config() override {
    next_->signal_config();
    record_->signals.signal_config();
  }

 private:
  std::shared_ptr<virtio::Interrupt> next_;
  std::shared_ptr<TapRecord> record_;
};

// The VirtioDevice the transport sees: `device` itself, with what activate()
// returned kept and the DeviceContext's interrupt and fail recorded on the way.
class DeviceTap : public virtio::VirtioDevice {
 public:
  explicit DeviceTap(std::shared_ptr<virtio::VirtioDevice> device) : device_(std::move(device)) {}

  uint32_t device_type() const override { return device_->device_type(); }
  const std::string& id() const override { return device_->id(); }
  uint64_t offered_features() const override { return device_->offered_features(); }
  std::span<const virtio::FeatureName> feature_names() const override { return device_->feature_names(); }
  uint16_t num_queues() const override { return device_->num_queues(); }
  uint16_t max_queue_size() const override { return device_->max_queue_size(); }
  void read_config(uint64_t offset, std::span<uint8_t> data) override { device_->read_config(offset, data); }
  void write_config(uint64_t offset, std::span<const uint8_t> data) override { device_->write_config(offset, data); }
  Result<void> activate(virtio::DeviceContext ctx) override {
    ctx.interrupt = std::make_shared<TapInterrupt>(std::move(ctx.interrupt), record_);
    ctx.fail = [record = record_, next = std::move(ctx.fail)](std::string_view why) {
      next(why);  // first: once a test sees the failure, NEEDS_RESET is already set
      record->failures.recorder()(why);
    };
    auto result = device_->activate(std::move(ctx));
    std::lock_guard lock(mutex_);
    ++activations_;
    last_activation_ = result;
    return result;
  }
  void reset() override { device_->reset(); }
  std::vector<std::pair<std::string, uint64_t>> extra_counters() const override { return device_->extra_counters(); }
  std::vector<std::string> describe_queues() const override { return device_->describe_queues(); }

  TapRecord& record() { return *record_; }
  int activations() {
    std::lock_guard lock(mutex_);
    return activations_;
  }
  Result<void> last_activation() {
    std::lock_guard lock(mutex_);
    return last_activation_;
  }

 private:
  std::shared_ptr<virtio::VirtioDevice> device_;
  std::shared_ptr<TapRecord> record_ = std::make_shared<TapRecord>();
  std::mutex mutex_;
  int activations_ = 0;
  Result<void> last_activation_;
};

}  // namespace detail

class ProbedDevice {
 public:
  // `memory` and `loop` must outlive this; the loop must be running on its own thread.
  ProbedDevice(std::shared_ptr<virtio::VirtioDevice> device, const GuestMemory& memory, EventLoop& loop)
      : memory_(memory), loop_(loop), tap_(std::make_shared<detail::DeviceTap>(std::move(device))) {
    auto transport = virtio::MmioTransport::create(tap_, memory, loop, irq_);
    if (!transport) throw std::runtime_error("ProbedDevice: " + transport.error().message);
    transport_ = std::move(*transport);
  }
  ProbedDevice(const ProbedDevice&) = delete;
  ProbedDevice& operator=(const ProbedDevice&) = delete;
  ~ProbedDevice() { transport_->shutdown(); }  // the device's reset(), on the loop

  // The whole probe: an error (and a test failure naming the step) when the
  // transport refused a step, activate()'s own error when the device refused.
  Result<void> probe(const ProbeOptions& options) {
    if (!set_up(options)) return host_error("probe: set-up refused (see the test failure)");
    return driver_ok();
  }
  // The probe up to every queue ready, for tests that publish chains before
  // DRIVER_OK: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues.
  bool set_up(const ProbeOptions& options) {
    options_ = options;
    queues_.clear();
    if (!identify()) return false;
    write_register(VIRTIO_MMIO_STATUS, 0);
    add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    add_status(VIRTIO_CONFIG_S_DRIVER);
    if (!negotiate(options)) return false;
    for (uint16_t i = 0; i < options.queues.size(); ++i) {
      if (!set_up_queue(i, options.queues[i])) return false;
    }
    return true;
  }
  // DRIVER_OK; waits until the transport's activation ran on the loop.
  Result<void> driver_ok() {
    const int before = tap_->activations();
    add_status(VIRTIO_CONFIG_S_DRIVER_OK);
    if (!settle()) return host_error("the loop did not run the activation within five seconds");
    if (tap_->activations() == before) return host_error("DRIVER_OK did not activate the device (NEEDS_RESET?)");
    return tap_->last_activation();
  }
  // Driver reset (status 0): the transport stops the device before it returns.
  void reset() {
    write_register(VIRTIO_MMIO_STATUS, 0);
    EXPECT_EQ(status(), 0u) << "status after reset";
  }
  // reset(), then the same probe again over fresh rings.
  Result<void> reprobe() {
    reset();
    return probe(options_);
  }

  uint64_t features() const { return features_; }  // what the driver wrote
  size_t queues() const { return queues_.size(); }
  DriverQueue& queue(uint16_t index) { return *queues_.at(index); }
  // A driver notify: a QueueNotify write (what reaches the transport without a KVM ioeventfd).
  void kick(uint16_t queue) { write_register(VIRTIO_MMIO_QUEUE_NOTIFY, queue); }
  int kick_fd(uint16_t queue) const { return transport_->kick_fd(queue); }

  // The config window at MmioTransport::kConfigOffset.
  std::vector<uint8_t> read_config(uint64_t offset, size_t n) {
    std::vector<uint8_t> out(n);
    transport_->read(virtio::MmioTransport::kConfigOffset + offset, out);
    return out;
  }
  template <class T>
  T config(uint64_t offset) {
    T value{};
    const auto bytes = read_config(offset, sizeof(T));
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
  }
  void write_config(uint64_t offset, std::span<const uint8_t> data) {
    transport_->write(virtio::MmioTransport::kConfigOffset + offset, data);
  }

  uint8_t status() { return static_cast<uint8_t>(read_register(VIRTIO_MMIO_STATUS)); }
  bool needs_reset() { return status() & VIRTIO_CONFIG_S_NEEDS_RESET; }
  uint32_t interrupt_status() { return read_register(VIRTIO_MMIO_INTERRUPT_STATUS); }
  void ack_interrupts(uint32_t bits) { write_register(VIRTIO_MMIO_INTERRUPT_ACK, bits); }
  uint32_t config_generation() { return read_register(VIRTIO_MMIO_CONFIG_GENERATION); }

  // The device's signals per queue / config, counted on their way to the transport.
  RecordingInterrupt& signals() { return tap_->record().signals; }
  // The transport's interrupt line (rising edges).
  FakeIrq& irq() { return *irq_; }
  // Every reason the device gave DeviceContext::fail, in order.
  std::vector<std::string> failures() { return tap_->record().failures.reasons(); }
  int activations() { return tap_->activations(); }
  virtio::MmioTransport& transport() { return *transport_; }

  uint32_t read_register(uint64_t offset) {
    uint32_t v = 0;
    transport_->read(offset, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }
  void write_register(uint64_t offset, uint32_t v) {
    transport_->write(offset, {reinterpret_cast<const uint8_t*>(&v), 4});
  }

 private:
  static constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

  // Waits until the loop ran everything posted so far (the transport posts the
  // activation). Not EventLoop::invoke: that runs inline on a loop not yet
  // dispatching, ahead of the posted activation.
  bool settle() {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    loop_.post([done] { done->set_value(); });
    const bool ran = future.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    EXPECT_TRUE(ran) << "the event loop is not running";
    return ran;
  }

  void add_status(uint32_t bits) { write_register(VIRTIO_MMIO_STATUS, status() | bits); }

  // vm_probe: magic, version 2, a device id.
  bool identify() {
    EXPECT_EQ(read_register(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976u) << "magic";
    EXPECT_EQ(read_register(VIRTIO_MMIO_VERSION), 2u) << "virtio-mmio version";
    EXPECT_NE(read_register(VIRTIO_MMIO_DEVICE_ID), 0u) << "device id";
    return read_register(VIRTIO_MMIO_VERSION) == 2;
  }

  // Both feature words, the driver's choice written back, FEATURES_OK read back.
  bool negotiate(const ProbeOptions& options) {
    uint64_t offered = 0;
    for (uint32_t sel = 0; sel < 2; ++sel) {
      write_register(VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
      offered |= uint64_t{read_register(VIRTIO_MMIO_DEVICE_FEATURES)} << (32 * sel);
    }
    features_ = options.features.value_or(offered & ~options.mask);
    EXPECT_EQ(features_ & ~offered, 0u) << "the test asked the driver for unoffered features";
    for (uint32_t sel = 0; sel < 2; ++sel) {
      write_register(VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
      write_register(VIRTIO_MMIO_DRIVER_FEATURES, static_cast<uint32_t>(features_ >> (32 * sel)));
    }
    add_status(VIRTIO_CONFIG_S_FEATURES_OK);
    if (!(status() & VIRTIO_CONFIG_S_FEATURES_OK)) {
      ADD_FAILURE() << "the device cleared FEATURES_OK for features " << std::hex << features_;
      return false;
    }
    return true;
  }

  // vm_setup_vq: select, not yet ready, QueueNumMax, QueueNum, the three areas, QueueReady.
  bool set_up_queue(uint16_t index, const QueueLayout& layout) {
    write_register(VIRTIO_MMIO_QUEUE_SEL, index);
    if (read_register(VIRTIO_MMIO_QUEUE_READY) != 0) {
      ADD_FAILURE() << "queue " << index << " is ready before set-up";
      return false;
    }
    const uint32_t max = read_register(VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0 || layout.size > max) {
      ADD_FAILURE() << "queue " << index << ": QueueNumMax " << max << ", the test wants " << layout.size;
      return false;
    }
    queues_.push_back(std::make_unique<DriverQueue>(
        memory_, DriverQueueOptions{.size = layout.size,
                                    .packed = bool(features_ & bit(VIRTIO_F_RING_PACKED)),
                                    .event_idx = bool(features_ & bit(VIRTIO_RING_F_EVENT_IDX)),
                                    .indirect = bool(features_ & bit(VIRTIO_RING_F_INDIRECT_DESC)),
                                    .ring_base = layout.ring_base}));
    const virtio::QueueConfig rings = queues_.back()->config();
    write_register(VIRTIO_MMIO_QUEUE_NUM, layout.size);
    write_address(VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH, rings.desc);
    write_address(VIRTIO_MMIO_QUEUE_AVAIL_LOW, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, rings.driver);
    write_address(VIRTIO_MMIO_QUEUE_USED_LOW, VIRTIO_MMIO_QUEUE_USED_HIGH, rings.device);
    write_register(VIRTIO_MMIO_QUEUE_READY, 1);
    if (read_register(VIRTIO_MMIO_QUEUE_READY) != 1) {
      ADD_FAILURE() << "queue " << index << " did not become ready";
      return false;
    }
    return true;
  }
  void write_address(uint64_t low, uint64_t high, uint64_t gpa) {
    write_register(low, static_cast<uint32_t>(gpa));
    write_register(high, static_cast<uint32_t>(gpa >> 32));
  }

  const GuestMemory& memory_;
  EventLoop& loop_;
  std::shared_ptr<FakeIrq> irq_ = std::make_shared<FakeIrq>();
  std::shared_ptr<detail::DeviceTap> tap_;
  std::shared_ptr<virtio::MmioTransport> transport_;
  ProbeOptions options_;
  uint64_t features_ = 0;
  std::vector<std::unique_ptr<DriverQueue>> queues_;
};

}  // namespace franca::testing

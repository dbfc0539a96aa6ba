// What every virtio transport shares (virtio 1.x §2.1 status, §2.2 features,
// §3.1 initialization): the device, DeviceStatus, the QueueConfigs the driver
// programs, one kick eventfd per queue, and activate / reset / fail. The mmio and
// pci transports only decode their registers into these calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/queue/queue_config.h"
#include "devices/virtio/transport/device_status.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/fd.h"
#include "vmm/core/guest_memory.h"

namespace franca::virtio {

// A queue register, as both transports name it once they have decoded the offset
// (mmio §4.2.2 QueueNum/QueueReady/QueueDesc*..., pci §4.1.4.3 queue_size/queue_enable/queue_desc...).
enum class QueueField : uint8_t {
  kSize,    // QueueNum / queue_size, clamped to 16 bits
  kReady,   // mmio QueueReady: 1 readies the queue; 0 is taken any time and withdraws it
  kEnable,  // pci queue_enable: 1 enables; the driver never writes 0 (§4.1.4.3.2), so it is a setup write
  kDescLow,
  kDescHigh,
  kDriverLow,
  kDriverHigh,
  kDeviceLow,
  kDeviceHigh,
};

// Not thread-safe: the owning transport serialises calls under its own lock.
// Interrupt delivery (`irq`) and fail() are thread-safe.
//
// Lifetime: DeviceStatus lives in Shared, which the core, the device's Interrupt,
// its fail callback and the posted activation all hold by shared_ptr. A fail() or
// signal_config() on the loop after the core is gone therefore still lands in live
// memory (a DeviceStatus nobody reads any more); never hand the device a raw
// pointer to the core or its DeviceStatus.
class TransportCore {
 public:
  // Creates one kick eventfd per queue. `memory` and `loop` must outlive the core.
  static Result<std::unique_ptr<TransportCore>> create(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory,
                                                       EventLoop& loop, std::shared_ptr<Interrupt> irq);
  ~TransportCore();

  VirtioDevice& device() { return *device_; }
  const std::string& id() const { return device_->id(); }
  uint16_t num_queues() const { return static_cast<uint16_t>(queues_.size()); }
  QueueConfig* queue(uint32_t index) { return index < queues_.size() ? &queues_[index] : nullptr; }
  // A driver write of one queue register, the policy both transports share: taken
  // only in the setup window (FEATURES_OK, not DRIVER_OK) while the queue is not
  // ready, except QueueReady = 0; 64-bit addresses merge the written half. False
  // (logged, rate-limited) when refused; false for a queue that does not exist.
  bool write_queue(uint32_t index, QueueField field, uint32_t value);
  // What the driver reads back: the 32-bit half of an address, size, ready as 0/1;
  // 0 for a queue that does not exist.
  uint32_t read_queue(uint32_t index, QueueField field) const;
  int kick_fd(uint16_t queue) const { return kicks_[queue].get(); }
  // A notify write that reached the VMM (no ioeventfd): forwarded to the same eventfd.
  void kick(uint32_t queue);

  uint32_t device_features(uint32_t select) const { return status_.device_features(select); }
  void set_driver_features(uint32_t select, uint32_t value) { status_.set_driver_features(select, value); }
  uint64_t driver_features() const { return status_.negotiated(); }
  // Status, DEVICE_NEEDS_RESET included.
  uint8_t status() const { return status_.status(); }
  bool queue_setup_allowed() const { return status_.queue_setup_allowed(); }
  uint32_t config_generation() const { return status_.config_generation(); }
  // Applies a status write: logs, activates on DRIVER_OK, resets on 0.
  DeviceStatus::Transition write_status(uint8_t value);

  // Device config space; writes are taken only once FEATURES_OK is set.
  void read_config(uint64_t offset, std::span<uint8_t> data) { device_->read_config(offset, data); }
  void write_config(uint64_t offset, std::span<const uint8_t> data);

  // Device-side fatal error: NEEDS_RESET + a config interrupt. Thread-safe.
  void fail(std::string_view why);
  // VMM shutdown: stops the data path (on the loop) if it runs.
  void shutdown() { stop_device(); }

 private:
  struct Shared;
  TransportCore(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, EventLoop& loop,
                std::shared_ptr<Shared> shared, std::vector<Fd> kicks);
  void activate();
  void stop_device();
  void reset();

  std::shared_ptr<VirtioDevice> device_;
  const GuestMemory& memory_;
  EventLoop& loop_;
  std::shared_ptr<Shared> shared_;
  DeviceStatus& status_;  // in *shared_
  std::vector<Fd> kicks_;
  std::vector<QueueConfig> queues_;
  bool active_ = false;
};

}  // namespace franca::virtio

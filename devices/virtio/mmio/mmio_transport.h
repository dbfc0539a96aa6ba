// virtio-mmio version 2 transport (virtio 1.x §4.2 "Virtio Over MMIO"): decodes
// the register map into the shared DeviceStatus state machine and the device's
// config space. Kicks arrive on one eventfd per queue (registered by the VMM as
// KVM ioeventfds on QueueNotify; a notify write that still reaches us is
// forwarded to the same eventfd); interrupts set InterruptStatus and pulse the
// device's line (an irqfd in the VMM). Discovery: an ACPI LNRO0005 device.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/device_status.h"
#include "devices/virtio/queue/queue_config.h"
#include "vmm/core/bus.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/fd.h"
#include "vmm/core/guest_memory.h"

namespace franca::virtio {

class MmioTransport : public BusDevice {
 public:
  static constexpr uint64_t kSize = 0x1000;         // one 4 KiB slot per device
  static constexpr uint64_t kNotifyOffset = 0x050;  // QueueNotify
  static constexpr uint64_t kConfigOffset = 0x100;

  // Creates one kick eventfd per queue. `memory` and `loop` must outlive the transport.
  static Result<std::shared_ptr<MmioTransport>> create(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory,
                                                       EventLoop& loop, std::shared_ptr<IrqLine> irq);
  ~MmioTransport() override;

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // For KVM ioeventfds: a 4-byte write of `queue` at kNotifyOffset signals kick_fd(queue).
  int kick_fd(uint16_t queue) const { return kicks_[queue].get(); }
  uint16_t num_queues() const { return static_cast<uint16_t>(queues_.size()); }
  VirtioDevice& device() { return *device_; }
  // VMM shutdown: stops the device's data path (on the loop) if it is running.
  void shutdown();

  uint8_t status() const;
  uint32_t interrupt_status() const;

 private:
  struct Shared;  // interrupt state shared with the device's Interrupt
  MmioTransport(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, EventLoop& loop,
                std::shared_ptr<Shared> shared, std::vector<Fd> kicks);

  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);
  void write_queue_register(uint64_t offset, uint32_t value);
  void write_status(uint32_t value);
  void activate();
  void stop_device();
  void reset();
  QueueConfig* selected_queue();

  std::shared_ptr<VirtioDevice> device_;
  const GuestMemory& memory_;
  EventLoop& loop_;
  std::shared_ptr<Shared> shared_;
  std::vector<Fd> kicks_;

  mutable std::mutex mutex_;  // vCPU threads
  DeviceStatus status_;
  std::vector<QueueConfig> queues_;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint32_t queue_sel_ = 0;
  bool active_ = false;
};

}  // namespace franca::virtio

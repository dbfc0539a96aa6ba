// virtio-mmio version 2 transport (virtio 1.x §4.2 "Virtio Over MMIO"): decodes
// the register map into the shared DeviceStatus state machine and the device's
// config space. Kicks arrive on one eventfd per queue (registered by the VMM as
// KVM ioeventfds on QueueNotify; a notify write that still reaches us is
// forwarded to the same eventfd); interrupts set InterruptStatus and pulse the
// device's line (an irqfd in the VMM). Discovery: an ACPI LNRO0005 device.
// Status, features, queue setup, activation and reset live in TransportCore.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/transport/transport_core.h"
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
  int kick_fd(uint16_t queue) const { return core_->kick_fd(queue); }
  uint16_t num_queues() const { return core_->num_queues(); }
  VirtioDevice& device() { return core_->device(); }
  // VMM shutdown: stops the device's data path (on the loop) if it is running.
  void shutdown();

  uint8_t status() const;
  uint32_t interrupt_status() const;

 private:
  struct Irq;  // InterruptStatus and the line, shared with the device's Interrupt
  MmioTransport(std::unique_ptr<TransportCore> core, std::shared_ptr<Irq> irq);

  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);

  std::unique_ptr<TransportCore> core_;
  std::shared_ptr<Irq> irq_;
  mutable std::mutex mutex_;  // vCPU threads
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint32_t queue_sel_ = 0;
};

}  // namespace franca::virtio

// What a PCI function on franca's root bus implements, and what it needs from
// the VMM to place its BARs (PCI Local Bus 3.0 §6.2.5.1): mapping a BAR region
// on the MMIO bus and KVM ioeventfds on notify addresses, moved when the guest
// reprograms a BAR or toggles memory decode.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "vmm/core/bus.h"
#include "vmm/core/error.h"

namespace franca::pci {

class PciFunction {
 public:
  virtual ~PciFunction() = default;
  // `offset` < 4096 (ECAM) or < 256 (mechanism #1); 1, 2 or 4 bytes. vCPU threads.
  virtual void config_read(uint32_t offset, std::span<uint8_t> data) = 0;
  virtual void config_write(uint32_t offset, std::span<const uint8_t> data) = 0;
};

// Implemented by the VMM (KVM + the MMIO bus) and by fakes in unit tests.
class PciBarHost {
 public:
  virtual ~PciBarHost() = default;
  virtual Result<void> map(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device) = 0;
  virtual void unmap(uint64_t base) = 0;
  // A write of any length at `addr` signals `fd` (KVM ioeventfd, len 0).
  virtual Result<void> add_notify(int fd, uint64_t addr) = 0;
  virtual void remove_notify(int fd, uint64_t addr) = 0;
  // Host memory (a passed-through device's mmapped BAR) straight into the
  // guest at `base` (page-aligned, KVM memory slot): no exit on access.
  virtual Result<void> map_memory(uint64_t /*base*/, uint64_t /*size*/, void* /*host*/) {
    return host_error("this bus cannot map memory");
  }
  virtual void unmap_memory(uint64_t /*base*/) {}
};

// MSI delivery for one function's MSI-X vectors: the VMM gives each vector a
// GSI with an MSI route and an irqfd. Thread-safe.
class MsiSink {
 public:
  virtual ~MsiSink() = default;
  // The message of `vector` changed (only called while it can be delivered).
  virtual void route(uint16_t vector, uint64_t address, uint32_t data) = 0;
  virtual void fire(uint16_t vector) = 0;
  // Whether `vector` may be delivered (MSI-X on, neither it nor the function
  // masked; routed first). A sink with a notifier() lets writes to it through
  // only while open and delivers, on opening, one that came while closed.
  virtual void set_open(uint16_t /*vector*/, bool /*open*/) {}
  // An eventfd whose write raises `vector` (gated by set_open) without a call
  // into the VMM — for a kernel back-end (vhost) to signal the guest directly —
  // or -1 when the sink has none.
  virtual int notifier(uint16_t /*vector*/) const { return -1; }
};

}  // namespace franca::pci

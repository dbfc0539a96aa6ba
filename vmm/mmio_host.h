// The KVM side of franca's virtio-mmio slots (virtio 1.x §4.2): one 4 KiB
// window per device on the MMIO bus, an irqfd on the slot's GSI, one ioeventfd
// per queue on QueueNotify, and the LNRO0005 entries the DSDT lists.
#pragma once

#include <memory>
#include <vector>

#include "firmware/acpi.h"
#include "vmm/core/bus.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/fd.h"
#include "vmm/core/guest_memory.h"
#include "vmm/core/kvm.h"

namespace franca {
namespace virtio {
class VirtioDevice;
class MmioTransport;
}  // namespace virtio

class MmioHost {
 public:
  MmioHost(KvmVm& vm, Bus& mmio, const GuestMemory& memory, EventLoop& loop);
  ~MmioHost();

  // A virtio device on the next free slot (x86::kVirtioMmioGsis bounds them).
  Result<void> add_virtio(std::shared_ptr<virtio::VirtioDevice> device);
  // Stops every device's data path (before the loop stops).
  void shutdown();
  // The slots for the DSDT, in slot order.
  const std::vector<firmware::AcpiMmioDevice>& acpi() const { return acpi_; }

 private:
  KvmVm& vm_;
  Bus& mmio_;
  const GuestMemory& memory_;
  EventLoop& loop_;
  std::vector<Fd> irq_fds_;  // one per slot; closed after the transports are gone
  std::vector<std::shared_ptr<virtio::MmioTransport>> transports_;
  std::vector<firmware::AcpiMmioDevice> acpi_;
};

}  // namespace franca

// The KVM side of franca's PCI bus: the root (config ports + ECAM), BAR
// placement from the 32-bit window, BAR mapping on the MMIO bus with notify
// ioeventfds, MSI-X vectors as GSIs with MSI routes + irqfds (the routing table
// is replaced as a whole, so a shadow keeps every route), and INTx levels
// shared per GSI (virtio-notes.md §6.4).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "devices/pci/root.h"
#include "firmware/acpi.h"
#include "vmm/core/bus.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/guest_memory.h"
#include "vmm/core/kvm.h"

namespace franca {
namespace virtio {
class VirtioDevice;
class VirtioPciTransport;
}  // namespace virtio

class PciHost {
 public:
  PciHost(KvmVm& vm, Bus& pio, Bus& mmio, const GuestMemory& memory, EventLoop& loop, uint64_t ram_top);
  ~PciHost();

  // Puts the config ports and ECAM on the buses.
  Result<void> attach();
  // A virtio device on the next free slot with pre-assigned BARs.
  Result<void> add_virtio(std::shared_ptr<virtio::VirtioDevice> device);
  // Stops every device's data path (before the loop stops).
  void shutdown();
  firmware::AcpiPci acpi() const;

  class MsiRoutes;
  class IntxLevels;

 private:
  KvmVm& vm_;
  Bus& pio_;
  Bus& mmio_;
  const GuestMemory& memory_;
  EventLoop& loop_;
  uint64_t mmio64_base_;
  pci::PciRoot root_;
  std::shared_ptr<MsiRoutes> routes_;
  std::shared_ptr<IntxLevels> intx_;
  uint64_t next_bar_ = 0;
  std::vector<std::shared_ptr<virtio::VirtioPciTransport>> transports_;
};

}  // namespace franca

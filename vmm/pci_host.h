// The KVM side of franca's PCI bus: the root (config ports + ECAM), BAR
// placement from the 32-bit window, BAR mapping on the MMIO bus with notify
// ioeventfds, MSI-X vectors as GSIs with MSI routes + irqfds (the routing table
// is replaced as a whole, so a shadow keeps every route), and INTx levels
// shared per GSI (virtio-notes.md §6.4).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "devices/pci/hotplug.h"
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
namespace vfio {
class DeviceIo;
class VfioPciFunction;
}  // namespace vfio

class PciHost {
 public:
  PciHost(KvmVm& vm, Bus& pio, Bus& mmio, const GuestMemory& memory, EventLoop& loop, uint64_t ram_top);
  ~PciHost();

  // Puts the config ports, ECAM and the hotplug registers on the buses.
  // `on_eject` runs on the ejecting vCPU thread once the guest ejected a slot
  // franca asked it to eject (the slot is already gone from config space).
  Result<void> attach(std::function<void(unsigned slot)> on_eject = {});

  enum class Placement {
    kColdRemovable,  // present at boot, BARs pre-assigned, the guest may be asked to eject it
    kColdFixed,      // present at boot, no _EJ0: device-del refuses it
    kHot,            // added to a running guest: BARs unassigned, announced through the GED
  };
  // A virtio device on slot `wanted` (an error when it is taken) or on the
  // lowest free one; returns the slot.
  Result<unsigned> add_virtio(std::shared_ptr<virtio::VirtioDevice> device, Placement placement,
                              std::optional<unsigned> wanted = std::nullopt);
  // A passed-through host function (VFIO) on slot `wanted` or the lowest free
  // one. Cold: its BARs placed size-aligned (32-bit BARs in the 32-bit window,
  // 64-bit ones in the 64-bit window) and mapped; hot: the guest places them.
  struct VfioAdded {
    unsigned slot;
    std::shared_ptr<vfio::VfioPciFunction> function;
  };
  Result<VfioAdded> add_vfio(const std::string& id, std::shared_ptr<vfio::DeviceIo> io, Placement placement,
                             std::optional<unsigned> wanted = std::nullopt);
  const GuestMemory& memory() const { return memory_; }
  // Hot-add: tell the guest `slot` has a new device (device check through the GED).
  void announce(unsigned slot);
  // Hot-remove: ask the guest to eject `slot` (fails for a fixed or empty slot).
  Result<void> request_eject(unsigned slot);
  // After the guest ejected `slot`: stops the data path and releases the BARs,
  // notify ioeventfds, MSI routes, GSIs and irqfds. Not on a vCPU thread.
  void release(unsigned slot);
  // Whether the guest's ACPI has taken the GED interrupt (its pin is unmasked).
  bool guest_handles_hotplug() const;
  size_t msi_gsis_in_use() const;
  const pci::PciHotplugRegisters::Counters& hotplug_counters() const { return hotplug_->counters(); }

  // Stops every device's data path (before the loop stops).
  void shutdown();
  firmware::AcpiPci acpi() const;

  class MsiRoutes;
  class IntxLevels;
  class KvmMsiSink;
  class MemorySlots;

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
  std::shared_ptr<MemorySlots> memory_slots_;
  uint64_t next_bar_ = 0;
  uint64_t next_bar64_ = 0;
  Result<unsigned> pick_slot(const std::string& id, std::optional<unsigned> wanted) const;  // under mutex_
  void pulse_ged();
  uint32_t ejectable_slots() const;  // every slot but the host bridge and the fixed ones

  std::shared_ptr<pci::PciHotplugRegisters> hotplug_;
  struct Slot {
    std::shared_ptr<virtio::VirtioPciTransport> transport;  // a virtio device, or
    std::shared_ptr<vfio::VfioPciFunction> vfio;            // a passed-through one
    std::shared_ptr<KvmMsiSink> msi;
    std::shared_ptr<virtio::VirtioDevice> device;  // null for VFIO
    Placement placement;
    bool ejected = false;  // the guest ran _EJ0 on franca's request: release() tears it down
  };
  mutable std::mutex mutex_;  // slots_, fixed_slots_
  std::map<unsigned, Slot> slots_;
  uint32_t fixed_slots_ = 0;  // cold-plugged without _EJ0
};

}  // namespace franca

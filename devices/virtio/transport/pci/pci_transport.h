// virtio-pci modern transport (virtio 1.x §4.1 "Virtio Over PCI Bus"): a PCI
// function with vendor 0x1AF4, device 0x1040 + type, revision 1; BAR4 (64-bit,
// 16 KiB) holds common cfg @0, ISR @0x1000, device cfg @0x2000 and one 4-byte
// notify slot per queue @0x3000 (multiplier 4, a KVM ioeventfd each); BAR1
// (4 KiB) the MSI-X table and PBA. Interrupts: one MSI-X vector per queue and
// one for config, or INTx + ISR when the driver does not enable MSI-X. Status
// and queue setup go through the shared TransportCore.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>

#include "devices/pci/config_space.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_function.h"
#include "devices/virtio/transport/pci/pci_interrupt.h"
#include "devices/virtio/transport/transport_core.h"
#include "vmm/core/bus.h"

namespace franca::virtio {

class VirtioPciTransport : public pci::PciFunction,
                           public BusDevice,
                           public std::enable_shared_from_this<VirtioPciTransport> {
 public:
  static constexpr unsigned kMsixBar = 1;
  static constexpr unsigned kVirtioBar = 4;
  static constexpr uint64_t kVirtioBarSize = 0x4000;
  static constexpr uint64_t kCommonOffset = 0x0000, kCommonSize = 0x40;
  static constexpr uint64_t kIsrOffset = 0x1000;
  static constexpr uint64_t kDeviceOffset = 0x2000, kDeviceSize = 0x1000;
  static constexpr uint64_t kNotifyOffset = 0x3000;
  static constexpr uint32_t kNotifyMultiplier = 4;
  // BAR space one function takes from the window (BARs are size-aligned).
  static constexpr uint64_t kMmioSpan = kVirtioBarSize + pci::Msix::kBarSize;

  struct Wiring {
    std::shared_ptr<pci::PciBarHost> bars;  // BAR mapping + notify ioeventfds
    std::shared_ptr<pci::MsiSink> msi;      // one GSI per MSI-X vector
    std::shared_ptr<IrqLine> intx;          // level-triggered INTA
    uint64_t mmio_base = 0;                 // 16 KiB-aligned; BAR4 here, BAR1 at +16 KiB; 0: unassigned (hotplug)
  };

  static Result<std::shared_ptr<VirtioPciTransport>> create(std::shared_ptr<VirtioDevice> device,
                                                            const GuestMemory& memory, EventLoop& loop, Wiring wiring);
  ~VirtioPciTransport() override;

  // PCI configuration space (vCPU threads).
  void config_read(uint32_t offset, std::span<uint8_t> data) override;
  void config_write(uint32_t offset, std::span<const uint8_t> data) override;
  // BAR4 (vCPU threads).
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Maps the BARs as pre-programmed (memory decode is on at creation, as a BIOS
  // leaves it); a no-op for a hot-plugged function, whose BARs the guest assigns.
  Result<void> map_bars();
  // Stops the device's data path and unmaps the BARs (VMM shutdown, unplug).
  void shutdown();
  uint16_t msix_vectors() const { return msix_->vectors(); }
  uint8_t status() const;

 private:
  VirtioPciTransport(std::unique_ptr<TransportCore> core, std::shared_ptr<PciInterrupt> irq,
                     std::shared_ptr<pci::Msix> msix, Wiring wiring);
  void build_config_space();
  uint8_t add_vendor_cap(uint8_t cfg_type, uint64_t offset, uint64_t length, std::span<const uint8_t> extra,
                         std::span<const uint8_t> extra_mask);
  void remap(unsigned bar);
  void region_read(uint64_t offset, std::span<uint8_t> data);
  void region_write(uint64_t offset, std::span<const uint8_t> data);
  void pci_cfg_access(bool is_write);
  // Common configuration structure (§4.1.4.3), one field at a time.
  uint64_t common_get(uint32_t field);
  void common_set(uint32_t field, uint32_t value);
  void common_read(uint64_t offset, std::span<uint8_t> data);
  void common_write(uint64_t offset, std::span<const uint8_t> data);
  void set_queue_field(QueueConfig& q, uint32_t field, uint32_t value);
  uint16_t checked_vector(uint32_t value) const;
  void reset_transport();

  std::unique_ptr<TransportCore> core_;
  std::shared_ptr<PciInterrupt> irq_;
  std::shared_ptr<pci::Msix> msix_;
  Wiring wiring_;

  mutable std::mutex mutex_;  // vCPU threads: config space, common cfg
  bool removed_ = false;      // shutdown() ran: every access is ignored, nothing maps again
  pci::PciConfigSpace config_;
  uint8_t msix_cap_ = 0;
  uint8_t pci_cfg_cap_ = 0;
  std::array<std::optional<uint64_t>, pci::PciConfigSpace::kBars> mapped_{};
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint16_t queue_sel_ = 0;
};

}  // namespace franca::virtio

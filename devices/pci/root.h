// franca's PCI root: bus 0 with up to 32 single-function devices, a host bridge
// at 00:00.0, reached through configuration mechanism #1 (ports 0xCF8/0xCFC,
// PCI Local Bus 3.0 §3.2.2.3.2) and ECAM (PCIe 5.0 §7.2.2, described by MCFG).
// Devices may be added and removed while the guest runs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>

#include "devices/pci/pci_function.h"
#include "vmm/core/bus.h"

namespace franca::pci {

class PciRoot {
 public:
  static constexpr unsigned kSlots = 32;
  static constexpr uint16_t kConfigAddressPort = 0xcf8;
  static constexpr uint16_t kConfigPortsLen = 8;  // 0xcf8-0xcff

  PciRoot();

  // Puts `fn` in `slot` (1..31; the owner chooses it: a slot the guest has
  // ejected may still be in use until its device is released).
  Result<void> add(unsigned slot, std::shared_ptr<PciFunction> fn);
  bool remove(unsigned slot);

  // bus/device/function decoded by the caller; absent functions read all-ones.
  void config_read(unsigned bus, unsigned dev, unsigned fn, uint32_t offset, std::span<uint8_t> data) const;
  void config_write(unsigned bus, unsigned dev, unsigned fn, uint32_t offset, std::span<const uint8_t> data);

  // Bus devices: mechanism #1 on the pio bus at kConfigAddressPort, ECAM on the mmio bus.
  std::shared_ptr<BusDevice> config_ports() { return ports_; }
  std::shared_ptr<BusDevice> ecam() { return ecam_; }

 private:
  std::shared_ptr<PciFunction> find(unsigned bus, unsigned dev, unsigned fn) const;

  mutable std::shared_mutex mutex_;
  std::array<std::shared_ptr<PciFunction>, kSlots> slots_;
  std::shared_ptr<BusDevice> ports_;
  std::shared_ptr<BusDevice> ecam_;
};

}  // namespace franca::pci

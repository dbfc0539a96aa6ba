// The PCI hotplug register block the DSDT's PCI0 methods use (firmware/acpi.h
// AcpiPciHotplug; Cloud Hypervisor's PHPR scheme on a hardware-reduced
// machine). Three 32-bit registers, one bit per slot of bus 0:
//   +0 PCIU (read)  slots to device-check: read returns and clears the bitmap
//   +4 PCID (read)  slots with an eject request: read returns and clears it
//   +8 B0EJ (write) the guest's _EJ0 ejected the slots whose bits are set
// The VMM raises a slot (plug / request_eject) and then the GED interrupt; an
// eject is honoured only for a slot with an eject request outstanding.
// Everything else the guest writes is ignored and counted (vCPU threads).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>

#include "vmm/core/bus.h"

namespace franca::pci {

class PciHotplugRegisters : public BusDevice {
 public:
  static constexpr uint64_t kSize = 12;
  static constexpr uint64_t kUp = 0, kDown = 4, kEject = 8;

  // Called on the writing vCPU thread, without the block's lock, once per
  // ejected slot that had an eject request outstanding.
  using EjectFn = std::function<void(unsigned slot)>;
  explicit PciHotplugRegisters(EjectFn on_eject) : on_eject_(std::move(on_eject)) {}

  // A device appeared in `slot`: the next PCIU read reports it.
  void plug(unsigned slot);
  // Ask the guest to eject `slot` (again, if asked before); PCID reports it.
  void request_eject(unsigned slot);
  // The device in `slot` went without the guest's eject (or the request is withdrawn).
  void forget(unsigned slot);
  bool eject_pending(unsigned slot) const;

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  struct Counters {
    std::atomic<uint64_t> ejects{0};          // honoured _EJ0 writes (per slot)
    std::atomic<uint64_t> ignored_ejects{0};  // slot bits without an eject request
    std::atomic<uint64_t> bad_accesses{0};    // wrong width/offset, writes to PCIU/PCID
  };
  const Counters& counters() const { return counters_; }

 private:
  static constexpr uint32_t kValidSlots = 0xfffffffe;  // slot 0 is the host bridge

  EjectFn on_eject_;
  mutable std::mutex mutex_;
  uint32_t up_ = 0;
  uint32_t down_ = 0;
  uint32_t eject_requested_ = 0;
  Counters counters_;
};

}  // namespace franca::pci

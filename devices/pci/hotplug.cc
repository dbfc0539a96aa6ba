// PCI hotplug registers: up/down bitmaps read-to-clear, ejects checked against requests.
#include "devices/pci/hotplug.h"

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::pci {

void PciHotplugRegisters::plug(unsigned slot) {
  if (slot == 0 || slot >= 32) return;
  std::lock_guard lock(mutex_);
  up_ |= 1u << slot;
  down_ &= ~(1u << slot);
  eject_requested_ &= ~(1u << slot);
}

void PciHotplugRegisters::request_eject(unsigned slot) {
  if (slot == 0 || slot >= 32) return;
  std::lock_guard lock(mutex_);
  down_ |= 1u << slot;
  up_ &= ~(1u << slot);
  eject_requested_ |= 1u << slot;
}

void PciHotplugRegisters::forget(unsigned slot) {
  if (slot == 0 || slot >= 32) return;
  std::lock_guard lock(mutex_);
  up_ &= ~(1u << slot);
  down_ &= ~(1u << slot);
  eject_requested_ &= ~(1u << slot);
}

bool PciHotplugRegisters::eject_pending(unsigned slot) const {
  if (slot == 0 || slot >= 32) return false;
  std::lock_guard lock(mutex_);
  return (eject_requested_ >> slot) & 1;
}

void PciHotplugRegisters::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (data.size() != 4 || (offset != kUp && offset != kDown)) {
    if (offset != kEject || data.size() != 4) counters_.bad_accesses++;
    return;  // B0EJ reads as 0
  }
  uint32_t value = 0;
  {
    std::lock_guard lock(mutex_);
    uint32_t& bitmap = offset == kUp ? up_ : down_;
    value = bitmap;
    bitmap = 0;
  }
  std::memcpy(data.data(), &value, 4);
}

void PciHotplugRegisters::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != kEject || data.size() != 4) {
    counters_.bad_accesses++;
    FRANCA_WARN_RATELIMITED("pci hotplug: guest wrote {} bytes at register offset {} (ignored)", data.size(), offset);
    return;
  }
  uint32_t value = 0;
  std::memcpy(&value, data.data(), 4);
  uint32_t honoured = 0;
  {
    std::lock_guard lock(mutex_);
    honoured = value & eject_requested_ & kValidSlots;
    eject_requested_ &= ~honoured;
    down_ &= ~honoured;
  }
  if (const uint32_t ignored = value & ~honoured; ignored != 0) {
    counters_.ignored_ejects += static_cast<uint64_t>(__builtin_popcount(ignored));
    FRANCA_WARN_RATELIMITED("pci hotplug: guest ejected slots {:#x} with no eject request (ignored)", ignored);
  }
  for (unsigned slot = 1; slot < 32; ++slot) {
    if (!((honoured >> slot) & 1)) continue;
    counters_.ejects++;
    if (on_eject_) on_eject_(slot);
  }
}

}  // namespace franca::pci

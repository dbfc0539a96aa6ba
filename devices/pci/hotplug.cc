// PCI hotplug registers: up/down bitmaps read-to-clear, ejects checked against requests.
#include "devices/pci/hotplug.h"

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/core/log.h"

namespace franca::pci {
namespace {

// Slot `slot`'s bit in the registers, 0 for the host bridge and out-of-range slots.
uint32_t slot_bit(unsigned slot) { return slot >= 1 && slot < 32 ? 1u << slot : 0; }

}  // namespace

void PciHotplugRegisters::plug(unsigned slot) {
  const uint32_t bit = slot_bit(slot);
  std::lock_guard lock(mutex_);
  up_ |= bit;
  down_ &= ~bit;
  eject_requested_ &= ~bit;
}

void PciHotplugRegisters::request_eject(unsigned slot) {
  const uint32_t bit = slot_bit(slot);
  std::lock_guard lock(mutex_);
  down_ |= bit;
  up_ &= ~bit;
  eject_requested_ |= bit;
}

void PciHotplugRegisters::forget(unsigned slot) {
  const uint32_t bit = slot_bit(slot);
  std::lock_guard lock(mutex_);
  up_ &= ~bit;
  down_ &= ~bit;
  eject_requested_ &= ~bit;
}

bool PciHotplugRegisters::eject_pending(unsigned slot) const {
  std::lock_guard lock(mutex_);
  return (eject_requested_ & slot_bit(slot)) != 0;
}

void PciHotplugRegisters::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  const bool bitmap = offset == kUp || offset == kDown;
  if (data.size() != 4 || !(bitmap || offset == kEject)) {
    counters_.bad_accesses++;
    return;
  }
  if (!bitmap) return;  // B0EJ reads as 0
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
    if (!(honoured & slot_bit(slot))) continue;
    counters_.ejects++;
    if (on_eject_) on_eject_(slot);
  }
}

}  // namespace franca::pci

// Type-0 configuration header and capability list (PCI Local Bus 3.0 §6.1, §6.2.5, §6.7).
#include "devices/pci/config_space.h"

#include <linux/pci_regs.h>

#include <algorithm>

namespace franca::pci {

PciConfigSpace::PciConfigSpace(const PciIds& ids) {
  store(PCI_VENDOR_ID, ids.vendor, 2);
  store(PCI_DEVICE_ID, ids.device, 2);
  store(PCI_REVISION_ID, ids.revision, 1);
  store(PCI_CLASS_PROG, ids.class_code, 3);
  store(PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL, 1);
  store(PCI_SUBSYSTEM_VENDOR_ID, ids.subsystem_vendor, 2);
  store(PCI_SUBSYSTEM_ID, ids.subsystem, 2);
  store(PCI_INTERRUPT_PIN, ids.interrupt_pin, 1);
  // Writable: command (I/O, memory, bus master, SERR, INTx disable), cache line
  // size, latency timer, interrupt line. Everything else is read-only.
  const uint16_t command_mask =
      PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
  wmask_[PCI_COMMAND] = static_cast<uint8_t>(command_mask);
  wmask_[PCI_COMMAND + 1] = static_cast<uint8_t>(command_mask >> 8);
  wmask_[PCI_CACHE_LINE_SIZE] = wmask_[PCI_LATENCY_TIMER] = wmask_[PCI_INTERRUPT_LINE] = 0xff;
}

void PciConfigSpace::store(uint32_t offset, uint64_t value, int width) {
  for (int i = 0; i < width && offset + i < kSize; ++i) bytes_[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

void PciConfigSpace::set_write_mask(uint32_t offset, uint64_t mask, int width) {
  for (int i = 0; i < width && offset + i < kSize; ++i) wmask_[offset + i] = static_cast<uint8_t>(mask >> (8 * i));
}

void PciConfigSpace::add_memory_bar(unsigned index, uint64_t size, bool is64, uint64_t address, bool prefetchable) {
  if (index + (is64 ? 1 : 0) >= kBars || size < 16 || (size & (size - 1))) return;
  bars_[index] = Bar{size, is64};
  const uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * index;
  const uint64_t mask = ~(size - 1);
  const uint32_t type = (is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : PCI_BASE_ADDRESS_MEM_TYPE_32) |
                        (prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
  store(reg, (address & mask & ~uint64_t{0xf}) | type, 4);
  const uint32_t low_mask = static_cast<uint32_t>(mask) & ~uint32_t{0xf};
  for (int i = 0; i < 4; ++i) wmask_[reg + i] = static_cast<uint8_t>(low_mask >> (8 * i));
  if (!is64) return;
  bars_[index + 1] = Bar{};
  store(reg + 4, address >> 32, 4);
  const uint32_t high_mask = static_cast<uint32_t>(mask >> 32);
  for (int i = 0; i < 4; ++i) wmask_[reg + 4 + i] = static_cast<uint8_t>(high_mask >> (8 * i));
}

uint8_t PciConfigSpace::add_capability(std::span<const uint8_t> body, std::span<const uint8_t> writable) {
  const size_t len = (body.size() + 3) & ~size_t{3};
  if (body.size() < 2 || writable.size() != body.size() || next_free_ + len > 0x100) return 0;
  const auto at = static_cast<uint8_t>(next_free_);
  std::copy(body.begin(), body.end(), bytes_.begin() + at);
  std::copy(writable.begin(), writable.end(), wmask_.begin() + at);
  bytes_[at + 1] = 0;
  wmask_[at + 1] = 0;
  if (last_cap_) {
    bytes_[last_cap_ + 1] = at;
  } else {
    bytes_[PCI_CAPABILITY_LIST] = at;
    bytes_[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
  }
  last_cap_ = at;
  next_free_ = static_cast<uint16_t>(at + len);
  return at;
}

void PciConfigSpace::read(uint32_t offset, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) data[i] = byte(offset + static_cast<uint32_t>(i));
}

void PciConfigSpace::write(uint32_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = uint64_t{offset} + i;
    if (at >= kSize) return;
    bytes_[at] = static_cast<uint8_t>((bytes_[at] & ~wmask_[at]) | (data[i] & wmask_[at]));
  }
}

bool PciConfigSpace::memory_enabled() const { return command() & PCI_COMMAND_MEMORY; }
bool PciConfigSpace::intx_disabled() const { return command() & PCI_COMMAND_INTX_DISABLE; }

void PciConfigSpace::set_interrupt_status(bool pending) {
  if (pending)
    bytes_[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
  else
    bytes_[PCI_STATUS] &= static_cast<uint8_t>(~PCI_STATUS_INTERRUPT);
}

uint64_t PciConfigSpace::raw_bar(unsigned index) const {
  const uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * index;
  uint64_t v = load32(reg) & PCI_BASE_ADDRESS_MEM_MASK;
  if (bars_[index].is64) v |= uint64_t{load32(reg + 4)} << 32;
  return v;
}

std::optional<uint64_t> PciConfigSpace::bar_address(unsigned index) const {
  if (index >= kBars || bars_[index].size == 0 || !memory_enabled()) return std::nullopt;
  const uint64_t addr = raw_bar(index);
  // 0 is "unassigned"; a BAR that wraps past the top of the address space cannot decode.
  if (addr == 0 || addr + bars_[index].size < addr) return std::nullopt;
  return addr;
}

}  // namespace franca::pci

// A passed-through function's config space, franca's bytes over the device's
// (PCI Local Bus 3.0 §6.2.5 BARs, §6.8.1 MSI, §6.8.2 MSI-X).
#include "devices/vfio/vfio_config.h"

#include <linux/pci_regs.h>

#include <algorithm>

namespace franca::vfio {
namespace {

uint32_t load32(std::span<const uint8_t, 256> raw, uint32_t at) {
  return at + 4 > raw.size() ? 0 : raw[at] | raw[at + 1] << 8 | raw[at + 2] << 16 | uint32_t{raw[at + 3]} << 24;
}
uint16_t load16(std::span<const uint8_t, 256> raw, uint32_t at) {
  return at + 2 > raw.size() ? 0 : static_cast<uint16_t>(raw[at] | raw[at + 1] << 8);
}

uint8_t msi_length(bool is64, bool mask) { return static_cast<uint8_t>((is64 ? 14 : 10) + (mask ? 10 : 0)); }

}  // namespace

DeviceShape read_shape(std::span<const uint8_t, 256> raw, std::span<const uint64_t, 6> region_sizes) {
  DeviceShape s;
  for (unsigned i = 0; i < 6; ++i) {
    const uint32_t bar = load32(raw, PCI_BASE_ADDRESS_0 + 4 * i);
    const uint64_t size = region_sizes[i];
    if (bar & PCI_BASE_ADDRESS_SPACE_IO) {
      s.bars[i].io = size != 0;
      continue;
    }
    const bool is64 = (bar & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
    if (is64 && i == 5) continue;  // a 64-bit BAR cannot start in the last register
    // A power of two of at least 16 bytes (VFIO rounds nothing: check).
    if (size >= 16 && !(size & (size - 1))) {
      s.bars[i] = BarShape{size, is64, bool(bar & PCI_BASE_ADDRESS_MEM_PREFETCH), false};
    }
    if (is64) ++i;  // the upper half
  }
  s.has_intx = raw[PCI_INTERRUPT_PIN] != 0;
  if (!(load16(raw, PCI_STATUS) & PCI_STATUS_CAP_LIST)) return s;
  uint8_t at = raw[PCI_CAPABILITY_LIST] & 0xfc;
  for (int hops = 0; at >= 0x40 && hops < 48; ++hops) {  // 48 = (256 - 64) / 4: a loop in the list ends here
    const uint8_t id = raw[at];
    if (id == PCI_CAP_ID_MSIX && !s.msix.cap && at + PCI_CAP_MSIX_SIZEOF <= 256) {
      const uint16_t control = load16(raw, at + PCI_MSIX_FLAGS);
      const uint32_t table = load32(raw, at + PCI_MSIX_TABLE), pba = load32(raw, at + PCI_MSIX_PBA);
      s.msix = MsixShape{at,
                         static_cast<uint16_t>((control & PCI_MSIX_FLAGS_QSIZE) + 1),
                         table & PCI_MSIX_TABLE_BIR,
                         table & PCI_MSIX_TABLE_OFFSET,
                         pba & PCI_MSIX_PBA_BIR,
                         pba & PCI_MSIX_PBA_OFFSET};
    } else if (id == PCI_CAP_ID_MSI && !s.msi.cap) {
      const uint16_t control = load16(raw, at + PCI_MSI_FLAGS);
      const bool is64 = control & PCI_MSI_FLAGS_64BIT, mask = control & PCI_MSI_FLAGS_MASKBIT;
      if (at + msi_length(is64, mask) <= 256)
        s.msi = MsiShape{at, is64, mask, static_cast<uint8_t>((control & PCI_MSI_FLAGS_QMASK) >> 1),
                         msi_length(is64, mask)};
    }
    at = raw[at + 1] & 0xfc;
  }
  return s;
}

VfioConfig::VfioConfig(std::span<const uint8_t, 256> raw, const DeviceShape& shape,
                       std::span<const uint64_t, 6> bar_addresses)
    : shape_(shape), emu_(pci::PciIds{}) {
  // The header bytes franca owns.
  emu_.store(PCI_HEADER_TYPE, raw[PCI_HEADER_TYPE] & 0x7f, 1);
  emulate(PCI_HEADER_TYPE, 2);                                            // header type, BIST (0)
  emulate(PCI_BASE_ADDRESS_0, PCI_CARDBUS_CIS + 4 - PCI_BASE_ADDRESS_0);  // BARs and CardBus CIS (0)
  emulate(PCI_ROM_ADDRESS, 4);                                            // no ROM
  emulate(PCI_CAPABILITY_LIST + 1, 7);                                    // reserved
  emu_.store(PCI_INTERRUPT_PIN, shape.has_intx ? 1 : 0, 1);
  emulate(PCI_INTERRUPT_LINE, 2);
  for (unsigned i = 0; i < 6; ++i) {
    const BarShape& b = shape.bars[i];
    if (b.size) emu_.add_memory_bar(i, b.size, b.is64, bar_addresses[i], b.prefetchable);
  }
  // A BIOS leaves a cold-plugged device decoding its BARs; a hot-plugged one is off until the guest assigns them.
  const bool placed = std::any_of(bar_addresses.begin(), bar_addresses.end(), [](uint64_t a) { return a != 0; });
  emu_.store(PCI_COMMAND, placed ? PCI_COMMAND_MEMORY : 0, 2);
  if (const MsixShape& m = shape.msix; m.cap) {
    emu_.store(m.cap + PCI_MSIX_FLAGS, (m.vectors - 1) & PCI_MSIX_FLAGS_QSIZE, 2);
    emu_.set_write_mask(m.cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
    emulate(m.cap + PCI_MSIX_FLAGS, 2);
  }
  if (const MsiShape& m = shape.msi; m.cap) {
    const uint16_t control = static_cast<uint16_t>((m.is64 ? PCI_MSI_FLAGS_64BIT : 0) |
                                                   (m.per_vector_mask ? PCI_MSI_FLAGS_MASKBIT : 0) | m.max_log2 << 1);
    emu_.store(m.cap + PCI_MSI_FLAGS, control, 2);
    emu_.set_write_mask(m.cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE, 2);
    emu_.set_write_mask(m.cap + PCI_MSI_ADDRESS_LO, 0xfffffffc, 4);
    const uint32_t data_at = m.cap + (m.is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
    if (m.is64) emu_.set_write_mask(m.cap + PCI_MSI_ADDRESS_HI, 0xffffffff, 4);
    emu_.set_write_mask(data_at, 0xffff, 2);
    if (m.per_vector_mask) emu_.set_write_mask(data_at + 4, (uint64_t{1} << (1u << m.max_log2)) - 1, 4);
    emulate(m.cap + PCI_MSI_FLAGS, m.length - PCI_MSI_FLAGS);  // pending bits (the last dword) read 0
  }
}

void VfioConfig::overlay(uint32_t offset, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) {
    const uint32_t at = offset + static_cast<uint32_t>(i);
    if (emulated(at)) data[i] = at < pci::PciConfigSpace::kSize ? emu_.byte(at) : 0xff;
  }
}

void VfioConfig::write(uint32_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    const uint32_t at = offset + static_cast<uint32_t>(i);
    if (at < 0x100 && emulated_[at]) emu_.write(at, data.subspan(i, 1));
  }
}

void VfioConfig::mirror_command(uint32_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    const uint32_t at = offset + static_cast<uint32_t>(i);
    if (at == PCI_COMMAND || at == PCI_COMMAND + 1) emu_.write(at, data.subspan(i, 1));
  }
}

uint16_t VfioConfig::msix_control() const {
  return shape_.msix.cap ? emu_.load16(shape_.msix.cap + PCI_MSIX_FLAGS) : 0;
}

bool VfioConfig::msi_enabled() const {
  return shape_.msi.cap && (emu_.load16(shape_.msi.cap + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE);
}

unsigned VfioConfig::msi_vectors() const {
  if (!shape_.msi.cap) return 0;
  const unsigned mme = (emu_.load16(shape_.msi.cap + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE) >> 4;
  return 1u << std::min<unsigned>(mme, shape_.msi.max_log2);
}

uint64_t VfioConfig::msi_address() const {
  const MsiShape& m = shape_.msi;
  if (!m.cap) return 0;
  uint64_t a = emu_.load32(m.cap + PCI_MSI_ADDRESS_LO);
  if (m.is64) a |= uint64_t{emu_.load32(m.cap + PCI_MSI_ADDRESS_HI)} << 32;
  return a;
}

uint32_t VfioConfig::msi_data() const {
  const MsiShape& m = shape_.msi;
  return m.cap ? emu_.load16(m.cap + (m.is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32)) : 0;
}

bool VfioConfig::msi_masked(unsigned vector) const {
  const MsiShape& m = shape_.msi;
  if (!m.cap || !m.per_vector_mask || vector >= 32) return false;
  return emu_.load32(m.cap + (m.is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32)) & (1u << vector);
}

}  // namespace franca::vfio

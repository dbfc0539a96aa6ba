// The configuration space a guest sees of a passed-through PCI function: the
// device's own bytes (as vfio-pci already filters them) with franca's in front
// where franca owns the resource:
// - BARs 0-5: franca places them (memory BARs only; an I/O BAR reads 0: franca
//   has no PCI I/O window), size probing as on hardware;
// - the expansion ROM BAR reads 0 (hidden), BIST 0, the multifunction bit of the
//   header type is cleared (only function 0 is given to the guest);
// - interrupt line (writable) and pin (INTA when the device has one: the slot's
//   _PRT entry);
// - the MSI-X capability's enable and function-mask bits (the vector table is
//   franca's: pci::Msix, trapped in the BAR), and the whole MSI capability;
// - the extended space (0x100-0xfff) reads 0: no PCIe extended capabilities.
// Everything else — IDs, command, status, the PCIe and PM capabilities — is the
// device's: reads and writes go to it. Pure data: the owner locks and does the I/O.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <span>

#include "devices/pci/config_space.h"

namespace franca::vfio {

struct BarShape {
  uint64_t size = 0;  // 0: absent (or an I/O BAR, not exposed)
  bool is64 = false;
  bool prefetchable = false;
  bool io = false;  // the device's BAR is an I/O BAR (not exposed)
};

struct MsixShape {
  uint8_t cap = 0;  // offset of the capability, 0 = none
  uint16_t vectors = 0;
  unsigned table_bar = 0;
  uint32_t table_offset = 0;
  unsigned pba_bar = 0;
  uint32_t pba_offset = 0;
};

struct MsiShape {
  uint8_t cap = 0;  // 0 = none
  bool is64 = false;
  bool per_vector_mask = false;
  uint8_t max_log2 = 0;  // Multiple Message Capable
  uint8_t length = 0;    // bytes of the capability
};

// The shape of the device, read once from its config space and region sizes.
struct DeviceShape {
  std::array<BarShape, 6> bars{};
  MsixShape msix;
  MsiShape msi;
  bool has_intx = false;
};

// `raw`: the device's first 256 bytes of config space; `region_sizes`: the
// VFIO region size of each BAR (0 when absent). Pure: no I/O.
DeviceShape read_shape(std::span<const uint8_t, 256> raw, std::span<const uint64_t, 6> region_sizes);

class VfioConfig {
 public:
  // `bar_addresses`: where franca places each BAR (0: unassigned, the guest places it).
  VfioConfig(std::span<const uint8_t, 256> raw, const DeviceShape& shape, std::span<const uint64_t, 6> bar_addresses);

  // Whether the byte at `offset` comes from franca (else from the device).
  bool emulated(uint32_t offset) const { return offset >= 0x100 || emulated_[offset]; }
  // Fills the emulated bytes of [offset, offset + data.size()) (the rest is left as read from the device).
  void overlay(uint32_t offset, std::span<uint8_t> data) const;
  // Applies the emulated bytes of a guest write (the caller sends the rest to the device).
  void write(uint32_t offset, std::span<const uint8_t> data);
  // The command register as the guest last wrote it (mirrored; the device gets it too).
  void mirror_command(uint32_t offset, std::span<const uint8_t> data);

  std::optional<uint64_t> bar_address(unsigned index) const { return emu_.bar_address(index); }
  const DeviceShape& shape() const { return shape_; }

  uint16_t msix_control() const;  // enable (bit 15) and function mask (bit 14) as the guest set them
  bool msi_enabled() const;
  unsigned msi_vectors() const;  // 1 << min(MME, MMC)
  uint64_t msi_address() const;
  uint32_t msi_data() const;
  bool msi_masked(unsigned vector) const;

 private:
  void emulate(uint32_t offset, uint32_t length) {
    for (uint32_t i = 0; i < length && offset + i < 0x100; ++i) emulated_[offset + i] = true;
  }

  DeviceShape shape_;
  pci::PciConfigSpace emu_;  // franca's bytes (BARs, capability fields, line/pin) with their write masks
  std::bitset<256> emulated_;
};

}  // namespace franca::vfio

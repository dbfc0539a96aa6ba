// A type-0 PCI configuration space (PCI Local Bus 3.0 §6.1-6.2, §6.7 capability
// list): the header fields, read-only bits enforced by a per-byte write mask,
// memory BARs with size probing (32- and 64-bit), and a capability chain. Pure
// data, no locking, no I/O: owners (a PCI function) call it under their lock.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace franca::pci {

struct PciIds {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // base << 16 | sub << 8 | prog-if
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem = 0;
  uint8_t interrupt_pin = 0;  // 0 none, 1 INTA ... 4 INTD
};

class PciConfigSpace {
 public:
  static constexpr size_t kSize = 4096;  // ECAM reaches the extended space (reads 0)
  static constexpr size_t kBars = 6;

  explicit PciConfigSpace(const PciIds& ids);

  // A memory BAR of `size` bytes (a power of two >= 16) at `address`; a 64-bit
  // BAR also takes index + 1. Set up once at creation.
  void add_memory_bar(unsigned index, uint64_t size, bool is64, uint64_t address, bool prefetchable = false);
  // Appends a capability (body[0] = id; body[1], the next pointer, is filled in)
  // whose bytes in `writable` (same length, per-byte masks) the guest may change.
  // Returns its offset in config space, or 0 when the 256-byte space is full.
  uint8_t add_capability(std::span<const uint8_t> body, std::span<const uint8_t> writable);

  // Any offset/width inside kSize; out-of-range bytes read as 0xff / are ignored.
  void read(uint32_t offset, std::span<uint8_t> data) const;
  void write(uint32_t offset, std::span<const uint8_t> data);

  uint16_t command() const { return load16(0x04); }
  bool memory_enabled() const;
  bool intx_disabled() const;
  void set_interrupt_status(bool pending);  // status bit 3, mirrors the INTx level
  // Where BAR `index` decodes now: nullopt when memory decode is off, the BAR
  // is absent or the upper half of a 64-bit BAR, or it sits at 0.
  std::optional<uint64_t> bar_address(unsigned index) const;
  uint64_t bar_size(unsigned index) const { return bars_[index].size; }

  uint8_t byte(uint32_t offset) const { return offset < kSize ? bytes_[offset] : 0xff; }
  uint16_t load16(uint32_t offset) const { return static_cast<uint16_t>(byte(offset) | byte(offset + 1) << 8); }
  uint32_t load32(uint32_t offset) const { return load16(offset) | uint32_t{load16(offset + 2)} << 16; }
  void store(uint32_t offset, uint64_t value, int width);  // device-side, ignores the write mask
  // Which bits of the `width` bytes at `offset` the guest may change (device-side setup).
  void set_write_mask(uint32_t offset, uint64_t mask, int width);

 private:
  struct Bar {
    uint64_t size = 0;
    bool is64 = false;  // the next BAR register holds the high dword (size 0 there)
  };
  uint64_t raw_bar(unsigned index) const;

  std::array<uint8_t, kSize> bytes_{};
  std::array<uint8_t, kSize> wmask_{};
  std::array<Bar, kBars> bars_{};
  uint8_t last_cap_ = 0;  // offset of the last capability, 0 = none
  uint16_t next_free_ = 0x40;
};

}  // namespace franca::pci

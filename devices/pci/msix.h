// MSI-X (PCI Local Bus 3.0 §6.8.2): the capability, a vector table and pending
// bit array living in one 4 KiB BAR (table at 0, PBA at 0x800). A vector is
// delivered only while MSI-X is enabled and neither the function nor the entry
// is masked; otherwise its PBA bit is set and it fires on unmask. Messages go
// to an MsiSink (KVM GSI route + irqfd per vector in the VMM), which is told
// when each vector opens and closes, so that a notifier written by someone else
// (vhost) obeys the masks too. (Such a write while masked is delivered on
// unmask, but is not shown in the PBA.)
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "devices/pci/pci_function.h"
#include "vmm/core/bus.h"

namespace franca::pci {

class Msix : public BusDevice {
 public:
  static constexpr uint64_t kTableOffset = 0;
  static constexpr uint64_t kPbaOffset = 0x800;
  static constexpr uint64_t kBarSize = 0x1000;
  static constexpr uint16_t kMaxVectors = 128;  // the table must end before the PBA
  static constexpr size_t kCapSize = 12;

  // `vectors` in [1, kMaxVectors].
  Msix(uint16_t vectors, std::shared_ptr<MsiSink> sink);

  // The capability body (id, next, control, table, PBA with BIR `bar`) and its write mask.
  std::array<uint8_t, kCapSize> capability(uint8_t bar) const;
  static std::array<uint8_t, kCapSize> capability_write_mask();
  // Message Control as the guest left it in config space (enable bit 15, function mask bit 14).
  void set_control(uint16_t control);
  bool enabled() const;
  uint16_t vectors() const { return static_cast<uint16_t>(entries_.size()); }

  // The BAR region: the table and the PBA (read-only). Aligned 4/8-byte accesses.
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Raise `vector` (out-of-range vectors are dropped). Thread-safe.
  void signal(uint16_t vector);
  bool pending(uint16_t vector) const;
  // The sink's notifier for `vector` (see MsiSink::notifier), -1 if none or out of range.
  int notifier(uint16_t vector) const;

 private:
  struct Entry {
    std::array<uint32_t, 4> words{0, 0, 0, 1};  // addr lo, addr hi, data, control (bit 0 = masked)
    bool pending = false;
    bool dirty = true;  // the sink has not seen the current message
    bool open = false;  // what the sink was last told (set_open)
  };
  bool deliverable(const Entry& e) const;
  void deliver_if_ready(uint16_t vector);  // route if dirty, open or close the sink, fire if pending
  void write_word(uint16_t vector, unsigned word, uint32_t value);

  std::shared_ptr<MsiSink> sink_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  bool enabled_ = false;
  bool function_mask_ = false;
};

}  // namespace franca::pci

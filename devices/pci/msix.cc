// MSI-X table, PBA and masking (PCI Local Bus 3.0 §6.8.2.6-§6.8.2.10).
#include "devices/pci/msix.h"

#include <linux/pci_regs.h>

#include <algorithm>
#include <cstring>

namespace franca::pci {

Msix::Msix(uint16_t vectors, std::shared_ptr<MsiSink> sink)
    : sink_(std::move(sink)), entries_(std::clamp<uint16_t>(vectors, 1, kMaxVectors)) {}

std::array<uint8_t, Msix::kCapSize> Msix::capability(uint8_t bar) const {
  std::array<uint8_t, kCapSize> c{};
  c[0] = PCI_CAP_ID_MSIX;
  const uint16_t control = static_cast<uint16_t>(entries_.size() - 1);  // table size - 1
  c[2] = static_cast<uint8_t>(control);
  c[3] = static_cast<uint8_t>(control >> 8);
  const uint32_t table = static_cast<uint32_t>(kTableOffset) | bar;
  const uint32_t pba = static_cast<uint32_t>(kPbaOffset) | bar;
  std::memcpy(c.data() + PCI_MSIX_TABLE, &table, 4);
  std::memcpy(c.data() + PCI_MSIX_PBA, &pba, 4);
  return c;
}

std::array<uint8_t, Msix::kCapSize> Msix::capability_write_mask() {
  std::array<uint8_t, kCapSize> m{};
  m[PCI_MSIX_FLAGS + 1] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
  return m;
}

bool Msix::deliverable(const Entry& e) const {
  return enabled_ && !function_mask_ && !(e.words[3] & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

bool Msix::enabled() const {
  std::lock_guard lock(mutex_);
  return enabled_;
}

bool Msix::pending(uint16_t vector) const {
  std::lock_guard lock(mutex_);
  return vector < entries_.size() && entries_[vector].pending;
}

int Msix::notifier(uint16_t vector) const { return vector < entries_.size() ? sink_->notifier(vector) : -1; }

void Msix::deliver_if_ready(uint16_t vector) {
  Entry& e = entries_[vector];
  if (!deliverable(e)) {
    if (e.open) sink_->set_open(vector, false);
    e.open = false;
    return;
  }
  if (e.dirty) {
    sink_->route(vector, e.words[0] | uint64_t{e.words[1]} << 32, e.words[2]);
    e.dirty = false;
  }
  if (!e.open) sink_->set_open(vector, true);  // after the route: what came while closed goes to the new message
  e.open = true;
  if (e.pending) {
    e.pending = false;
    sink_->fire(vector);
  }
}

void Msix::set_control(uint16_t control) {
  std::lock_guard lock(mutex_);
  enabled_ = control & PCI_MSIX_FLAGS_ENABLE;
  function_mask_ = control & PCI_MSIX_FLAGS_MASKALL;
  for (uint16_t v = 0; v < entries_.size(); ++v) deliver_if_ready(v);
}

void Msix::signal(uint16_t vector) {
  std::lock_guard lock(mutex_);
  if (vector >= entries_.size()) return;
  entries_[vector].pending = true;
  deliver_if_ready(vector);
}

void Msix::write_word(uint16_t vector, unsigned word, uint32_t value) {
  Entry& e = entries_[vector];
  if (word == 3) {
    e.words[3] = (e.words[3] & ~PCI_MSIX_ENTRY_CTRL_MASKBIT) | (value & PCI_MSIX_ENTRY_CTRL_MASKBIT);
  } else if (e.words[word] != value) {
    e.words[word] = value;
    e.dirty = true;
  }
  deliver_if_ready(vector);
}

void Msix::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if ((data.size() != 4 && data.size() != 8) || offset % data.size()) return;
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size(); i += 4) {
    const uint64_t at = offset + i;
    uint32_t v = 0;
    if (at < kTableOffset + entries_.size() * PCI_MSIX_ENTRY_SIZE) {
      v = entries_[at / PCI_MSIX_ENTRY_SIZE].words[(at % PCI_MSIX_ENTRY_SIZE) / 4];
    } else if (at >= kPbaOffset && at < kPbaOffset + (entries_.size() + 63) / 64 * 8) {
      const size_t first = (at - kPbaOffset) * 8;  // vector of bit 0 of this dword
      for (size_t b = 0; b < 32 && first + b < entries_.size(); ++b) v |= uint32_t{entries_[first + b].pending} << b;
    }
    std::memcpy(data.data() + i, &v, 4);
  }
}

void Msix::write(uint64_t offset, std::span<const uint8_t> data) {
  if ((data.size() != 4 && data.size() != 8) || offset % data.size()) return;
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size(); i += 4) {
    const uint64_t at = offset + i;
    if (at >= entries_.size() * PCI_MSIX_ENTRY_SIZE) return;  // PBA and the gap are read-only
    uint32_t v;
    std::memcpy(&v, data.data() + i, 4);
    write_word(static_cast<uint16_t>(at / PCI_MSIX_ENTRY_SIZE), static_cast<unsigned>(at % PCI_MSIX_ENTRY_SIZE) / 4, v);
  }
}

}  // namespace franca::pci

// PCI root bus, host bridge, mechanism #1 ports and ECAM window.
#include "devices/pci/root.h"

#include <linux/pci_regs.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "devices/pci/config_space.h"

namespace franca::pci {
namespace {

// 00:00.0, class 0x0600: what Linux's type-1 sanity check looks for on bus 0
// when there is no DMI. IDs as in Firecracker / Cloud Hypervisor.
class HostBridge : public PciFunction {
 public:
  HostBridge() : config_(PciIds{.vendor = 0x8086, .device = 0x0d57, .class_code = 0x060000}) {}
  void config_read(uint32_t offset, std::span<uint8_t> data) override {
    std::lock_guard lock(mutex_);
    config_.read(offset, data);
  }
  void config_write(uint32_t offset, std::span<const uint8_t> data) override {
    std::lock_guard lock(mutex_);
    config_.write(offset, data);
  }

 private:
  std::mutex mutex_;
  PciConfigSpace config_;
};

uint32_t load_le(std::span<const uint8_t> data) {
  uint32_t v = 0;
  std::memcpy(&v, data.data(), std::min<size_t>(data.size(), 4));
  return v;
}

// 0xCF8: CONFIG_ADDRESS (32-bit accesses only; bit 31 enable, bus 23:16,
// device 15:11, function 10:8, register 7:2); 0xCFC-0xCFF: CONFIG_DATA.
class ConfigPorts : public BusDevice {
 public:
  explicit ConfigPorts(PciRoot& root) : root_(root) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
    if (offset == 0 && data.size() == 4) {
      const uint32_t v = address_.load(std::memory_order_relaxed);
      std::memcpy(data.data(), &v, 4);
    } else if (offset >= 4) {
      const uint32_t a = address_.load(std::memory_order_relaxed);
      if (a & 0x80000000u) root_.config_read(bus(a), dev(a), fn(a), reg(a, offset), clip(data, offset));
    }
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset == 0 && data.size() == 4) {  // other widths (Linux's 0xCFB byte probe) are ignored
      address_.store(load_le(data), std::memory_order_relaxed);
    } else if (offset >= 4) {
      const uint32_t a = address_.load(std::memory_order_relaxed);
      if (a & 0x80000000u) root_.config_write(bus(a), dev(a), fn(a), reg(a, offset), clip(data, offset));
    }
  }

 private:
  static unsigned bus(uint32_t a) { return (a >> 16) & 0xff; }
  static unsigned dev(uint32_t a) { return (a >> 11) & 0x1f; }
  static unsigned fn(uint32_t a) { return (a >> 8) & 0x7; }
  static uint32_t reg(uint32_t a, uint64_t offset) { return (a & 0xfc) + static_cast<uint32_t>(offset - 4); }
  // An access that runs past 0xCFF only reaches the bytes up to it.
  template <typename Span>
  static Span clip(Span data, uint64_t offset) {
    return data.first(std::min<size_t>(data.size(), 8 - offset));
  }

  PciRoot& root_;
  std::atomic<uint32_t> address_{0};  // one latch shared by all vCPUs, as on real chipsets
};

// ECAM: bus 27:20 (we decode bus 0 only), device 19:15, function 14:12, register 11:0.
class Ecam : public BusDevice {
 public:
  explicit Ecam(PciRoot& root) : root_(root) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
    if (ok(offset, data.size())) root_.config_read(bus(offset), dev(offset), fn(offset), offset & 0xfff, data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (ok(offset, data.size())) root_.config_write(bus(offset), dev(offset), fn(offset), offset & 0xfff, data);
  }

 private:
  // Naturally aligned 1/2/4-byte accesses that stay inside one function's 4 KiB.
  static bool ok(uint64_t offset, size_t size) { return (size == 1 || size == 2 || size == 4) && offset % size == 0; }
  static unsigned bus(uint64_t o) { return static_cast<unsigned>(o >> 20) & 0xff; }
  static unsigned dev(uint64_t o) { return static_cast<unsigned>(o >> 15) & 0x1f; }
  static unsigned fn(uint64_t o) { return static_cast<unsigned>(o >> 12) & 0x7; }
  PciRoot& root_;
};

}  // namespace

PciRoot::PciRoot() : ports_(std::make_shared<ConfigPorts>(*this)), ecam_(std::make_shared<Ecam>(*this)) {
  slots_[0] = std::make_shared<HostBridge>();
}

Result<void> PciRoot::add(unsigned slot, std::shared_ptr<PciFunction> fn) {
  std::unique_lock lock(mutex_);
  if (slot == 0 || slot >= kSlots) return usage_error(fmt::format("PCI slot {} is not one of 1-31", slot));
  if (slots_[slot]) return usage_error(fmt::format("PCI slot {} is in use", slot));
  slots_[slot] = std::move(fn);
  return {};
}

bool PciRoot::remove(unsigned slot) {
  std::unique_lock lock(mutex_);
  if (slot == 0 || slot >= kSlots || !slots_[slot]) return false;
  slots_[slot].reset();
  return true;
}

std::shared_ptr<PciFunction> PciRoot::find(unsigned bus, unsigned dev, unsigned fn) const {
  if (bus != 0 || fn != 0 || dev >= kSlots) return nullptr;
  std::shared_lock lock(mutex_);
  return slots_[dev];
}

void PciRoot::config_read(unsigned bus, unsigned dev, unsigned fn, uint32_t offset, std::span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0xff);
  if (auto f = find(bus, dev, fn)) f->config_read(offset, data);
}

void PciRoot::config_write(unsigned bus, unsigned dev, unsigned fn, uint32_t offset, std::span<const uint8_t> data) {
  if (auto f = find(bus, dev, fn)) f->config_write(offset, data);
}

}  // namespace franca::pci

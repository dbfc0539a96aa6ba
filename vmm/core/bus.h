// Port-I/O and MMIO buses: address ranges dispatched to devices; devices may be
// added and removed while vCPUs run (hotplug), so lookups hold a shared lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>

#include "vmm/core/error.h"

namespace franca {

// A device on a bus. `offset` is relative to the base the device was inserted at.
// Called from vCPU threads; implementations synchronise their own state.
class BusDevice {
 public:
  virtual ~BusDevice() = default;
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}

  // Fails if [base, base+len) is empty or overlaps a range already present.
  Result<void> insert(uint64_t base, uint64_t len, std::shared_ptr<BusDevice> device);
  bool remove(uint64_t base);

  // Unclaimed reads return all-ones; unclaimed writes are ignored. Returns
  // whether a device claimed the access.
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

 private:
  struct Entry {
    uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  // The device whose range holds [addr, addr+len), with its base.
  std::pair<uint64_t, std::shared_ptr<BusDevice>> find(uint64_t addr, uint64_t len) const;

  std::string name_;
  mutable std::shared_mutex mutex_;
  std::map<uint64_t, Entry> ranges_;  // base -> entry
};

// An interrupt line as a device sees it; implemented over KVM (irq line or
// irqfd) in the VMM and by recorders in unit tests.
class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void set_level(bool high) = 0;
  // An edge: raise then lower.
  virtual void pulse() {
    set_level(true);
    set_level(false);
  }
};

}  // namespace franca

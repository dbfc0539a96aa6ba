// Address-range dispatch for the port-I/O and MMIO buses.
#include "vmm/core/bus.h"

#include <fmt/format.h>
#include <algorithm>
#include <mutex>

namespace franca {

Result<void> Bus::insert(uint64_t base, uint64_t len, std::shared_ptr<BusDevice> device) {
  if (len == 0 || base + len < base) return host_error(fmt::format("{}: empty range at {:#x}", name_, base));
  std::unique_lock lock(mutex_);
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + len) {
    return host_error(fmt::format("{}: range {:#x}+{:#x} overlaps {:#x}", name_, base, len, next->first));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len > base) {
      return host_error(fmt::format("{}: range {:#x}+{:#x} overlaps {:#x}", name_, base, len, prev->first));
    }
  }
  ranges_.emplace(base, Entry{len, std::move(device)});
  return {};
}

bool Bus::remove(uint64_t base) {
  std::unique_lock lock(mutex_);
  return ranges_.erase(base) > 0;
}

std::pair<uint64_t, std::shared_ptr<BusDevice>> Bus::find(uint64_t addr, uint64_t len) const {
  std::shared_lock lock(mutex_);
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return {0, nullptr};
  --it;
  const uint64_t offset = addr - it->first;
  if (offset >= it->second.len || len > it->second.len - offset) return {0, nullptr};
  return {it->first, it->second.device};
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
  auto [base, device] = find(addr, data.size());
  if (!device) {
    std::ranges::fill(data, 0xff);
    return false;
  }
  device->read(addr - base, data);
  return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
  auto [base, device] = find(addr, data.size());
  if (!device) return false;
  device->write(addr - base, data);
  return true;
}

}  // namespace franca

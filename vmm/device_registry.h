// The VM's devices (virtio, and VFIO functions) as the control API and the hotplug code see them:
// cold-plugged ones from the command line and hot-added ones, each with its
// transport and PCI slot. The api thread adds and removes; any thread reads a
// snapshot (the --timeout dump runs on the loop).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vmm/device_options.h"

namespace franca {
namespace virtio {
class VirtioDevice;
}  // namespace virtio
namespace vfio {
class VfioPciFunction;
}  // namespace vfio

struct DeviceEntry {
  std::shared_ptr<virtio::VirtioDevice> device;  // null for a VFIO function
  std::shared_ptr<vfio::VfioPciFunction> vfio;
  std::string id;
  Transport transport = Transport::kPci;
  std::optional<unsigned> pci_slot;  // bus 0
  bool hotplugged = false;
  bool removable = false;
};

class DeviceRegistry {
 public:
  void add(DeviceEntry entry) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(entry));
  }
  std::optional<DeviceEntry> remove(const std::string& id) {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->id != id) continue;
      DeviceEntry out = std::move(*it);
      entries_.erase(it);
      return out;
    }
    return std::nullopt;
  }
  std::optional<DeviceEntry> find(const std::string& id) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.id == id) return e;
    return std::nullopt;
  }
  std::optional<DeviceEntry> find_slot(unsigned slot) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.pci_slot == slot) return e;
    return std::nullopt;
  }
  std::vector<DeviceEntry> snapshot() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  // The virtio devices.
  std::vector<std::shared_ptr<virtio::VirtioDevice>> devices() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<virtio::VirtioDevice>> out;
    for (const auto& e : entries_)
      if (e.device) out.push_back(e.device);
    return out;
  }
  bool has_vfio() const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.vfio) return true;
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<DeviceEntry> entries_;
};

}  // namespace franca

// Hot-add and hot-remove of PCI devices (virtio, VFIO) on a running guest (README
// "Hotplug"): device-add opens the device from the same option string as the
// command line, puts it on a free slot with unassigned BARs and tells the guest
// through the GED (ACPI device check); device-del asks the guest to eject the
// slot and waits for its _EJ0, after which a `hotplug` thread releases
// everything the device held (PciHost::release) — also when the caller has
// given up waiting.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "vmm/core/error.h"
#include "vmm/device_registry.h"

namespace franca {
class PciHost;
class EventLoop;

class PciHotplug {
 public:
  PciHotplug(PciHost& pci, EventLoop& loop, DeviceRegistry& registry);
  ~PciHotplug();

  struct Added {
    std::string id;
    unsigned slot;
  };
  // `type`: disk, net, console or vfio; `opts` as --disk/--net/--console/--vfio take them. api thread.
  Result<Added> add(std::string_view type, std::string_view opts);
  // Hot-adds a VFIO function from its parsed option as `id` (a failover primary). Any thread.
  Result<Added> add_vfio(const VfioOption& option, const std::string& id);
  // Whether the balloon may be giving memory back (a VFIO device-add then refuses).
  void set_balloon_check(std::function<bool()> holds_memory) { balloon_holds_memory_ = std::move(holds_memory); }
  // Returns once the guest ejected device `id` and it is gone, or an error after `timeout`
  // (the eject request then stays pending). api thread.
  Result<void> remove(const std::string& id, std::chrono::milliseconds timeout);
  // VM shutdown: a remove() waiting for the guest returns now (with an error).
  void stop_waiting();
  // PciHost's eject callback (a vCPU thread): queues the slot for release.
  void ejected(unsigned slot);

  struct Stats {
    uint64_t added = 0;
    uint64_t removed = 0;
    uint64_t ejects = 0;          // the guest's honoured _EJ0 writes
    uint64_t ignored_ejects = 0;  // eject writes for slots franca had not asked to eject
    uint64_t bad_accesses = 0;    // other guest accesses to the register block (wrong width, offset, ...)
    size_t msi_gsis_in_use = 0;   // MSI routes held by the PCI devices
    bool guest_ready = false;     // the guest took the GED interrupt
  };
  Stats stats() const;

 private:
  void run(std::stop_token stop);
  std::string next_id(std::string_view prefix) const;

  PciHost& pci_;
  EventLoop& loop_;
  DeviceRegistry& registry_;
  mutable std::mutex mutex_;
  std::condition_variable_any cv_;
  std::deque<unsigned> ejected_;    // slots to release
  std::set<std::string> removing_;  // ids with an eject request out
  bool stopping_ = false;
  Stats stats_;
  std::function<bool()> balloon_holds_memory_;
  std::jthread worker_;  // last: stopped and joined first
};

}  // namespace franca

// PCI hotplug of virtio devices: open, place, announce; eject request, wait, release.
#include "vmm/hotplug.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/vfio/vfio_device.h"
#include "devices/vfio/vfio_pci.h"
#include "devices/virtio/block/block.h"
#include "devices/virtio/console/console.h"
#include "devices/virtio/net/net.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/thread.h"
#include "vmm/pci_host.h"

namespace franca {

PciHotplug::PciHotplug(PciHost& pci, EventLoop& loop, DeviceRegistry& registry)
    : pci_(pci),
      loop_(loop),
      registry_(registry),
      worker_(start_thread({.name = "hotplug"}, [this](std::stop_token stop) { run(stop); })) {}

PciHotplug::~PciHotplug() {
  worker_.request_stop();
  cv_.notify_all();
}

std::string PciHotplug::next_id(std::string_view prefix) const {
  for (unsigned n = 0;; ++n) {
    std::string id = fmt::format("{}{}", prefix, n);
    if (!registry_.find(id)) return id;
  }
}

Result<PciHotplug::Added> PciHotplug::add(std::string_view type, std::string_view opts) {
  if (!pci_.guest_handles_hotplug()) {
    return usage_error(
        "the guest has not enabled ACPI hotplug (its GED interrupt is masked: still booting, acpi=off, or a kernel "
        "without the acpi-ged driver)");
  }
  // The transport and id checks every type shares; `prefix`: the default id's.
  DeviceCommon common;
  std::string id;
  auto place = [&](const DeviceCommon& c, std::string_view prefix) -> Result<void> {
    if (c.transport != Transport::kPci)
      return usage_error(
          fmt::format("device-add {}: transport=mmio has no hotplug (virtio-mmio devices are fixed at boot)", type));
    if (!c.id.empty() && registry_.find(c.id)) return usage_error(fmt::format("device-add: id={} is in use", c.id));
    common = c;
    id = c.id.empty() ? next_id(prefix) : c.id;
    return {};
  };
  std::shared_ptr<virtio::VirtioDevice> device;
  if (type == "disk") {
    auto option = parse_disk_option(opts);
    if (!option) return std::unexpected(option.error());
    if (auto r = place(*option, "blk"); !r) return std::unexpected(r.error());
    auto disk = virtio::Block::create(option->block, id);
    if (!disk) return std::unexpected(disk.error());
    device = std::move(*disk);
  } else if (type == "net") {
    auto option = parse_net_option(opts);
    if (!option) return std::unexpected(option.error());
    if (auto r = place(*option, "net"); !r) return std::unexpected(r.error());
    virtio::NetConfig net = option->net;
    if (!net.mac_given) {  // apart from cold NICs and from earlier hot ones
      std::lock_guard lock(mutex_);
      net.mac[5] = static_cast<uint8_t>(net.mac[5] + 0x80 + stats_.added);
    }
    auto nic = virtio::Net::create(net, id);
    if (!nic) return std::unexpected(nic.error());
    device = std::move(*nic);
  } else if (type == "console") {
    auto option = parse_console_option(opts);
    if (!option) return std::unexpected(option.error());
    if (auto r = place(*option, "console"); !r) return std::unexpected(r.error());
    if (option->console.mode == virtio::ConsoleConfig::Mode::kStdio)
      return usage_error("device-add console: stdio belongs to the VM's first console; use pty, file: or socket:");
    auto console = virtio::Console::create(option->console, id);
    if (!console) return std::unexpected(console.error());
    std::shared_ptr<virtio::Console> shared = std::move(*console);
    Result<void> started;
    loop_.invoke([&] { started = shared->start(loop_); });
    if (!started) return std::unexpected(started.error());
    device = shared;
  } else if (type == "vfio") {
    auto option = parse_vfio_option(opts);
    if (!option) return std::unexpected(option.error());
    if (auto r = place(*option, "vfio"); !r) return std::unexpected(r.error());
    return add_vfio(*option, id);
  } else {
    return usage_error(fmt::format("device-add: type \"{}\" is not one of disk, net, console, vfio", type));
  }
  auto slot = pci_.add_virtio(device, PciHost::Placement::kHot, common.slot);
  if (!slot) {
    loop_.invoke([&] { device->detach(); });  // a console's back-end was started above
    return std::unexpected(slot.error());
  }
  registry_.add(DeviceEntry{.device = device,
                            .vfio = nullptr,
                            .id = id,
                            .transport = Transport::kPci,
                            .pci_slot = *slot,
                            .hotplugged = true,
                            .removable = common.removable});
  {
    std::lock_guard lock(mutex_);
    ++stats_.added;
  }
  pci_.announce(*slot);
  spdlog::info("hotplug: {} added in slot {}{}", id, *slot, common.removable ? "" : " (removable=off)");
  return Added{id, *slot};
}

Result<PciHotplug::Added> PciHotplug::add_vfio(const VfioOption& option, const std::string& id) {
  if (balloon_holds_memory_ && balloon_holds_memory_())
    return usage_error(
        "device-add vfio: the balloon holds guest memory or reports free pages; a passed-through device may DMA to any "
        "guest page (deflate it first: balloon with the whole memory as target)");
  auto io = vfio::VfioDevice::open(option.path, pci_.memory());
  if (!io) return std::unexpected(io.error());
  auto added = pci_.add_vfio(id, std::move(*io), PciHost::Placement::kHot, option.slot);
  if (!added) return std::unexpected(added.error());
  registry_.add(DeviceEntry{.device = nullptr,
                            .vfio = added->function,
                            .id = id,
                            .transport = Transport::kPci,
                            .pci_slot = added->slot,
                            .hotplugged = true,
                            .removable = option.removable});
  {
    std::lock_guard lock(mutex_);
    ++stats_.added;
  }
  pci_.announce(added->slot);
  spdlog::info("hotplug: {} ({}) added in slot {}", id, option.path, added->slot);
  return Added{id, added->slot};
}

Result<void> PciHotplug::remove(const std::string& id, std::chrono::milliseconds timeout) {
  const auto entry = registry_.find(id);
  if (!entry) return usage_error(fmt::format("no device \"{}\"", id));
  if (!entry->pci_slot) return usage_error(fmt::format("{} is a virtio-mmio device: no hotplug there", id));
  if (!entry->removable) return usage_error(fmt::format("{} is not removable (removable=off)", id));
  if (!pci_.guest_handles_hotplug())
    return usage_error("the guest has not enabled ACPI hotplug (GED interrupt masked)");
  {
    std::lock_guard lock(mutex_);
    removing_.insert(id);
  }
  if (auto r = pci_.request_eject(*entry->pci_slot); !r) {
    std::lock_guard lock(mutex_);
    removing_.erase(id);
    return r;
  }
  spdlog::info("hotplug: asked the guest to eject {} (slot {})", id, *entry->pci_slot);
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return stopping_ || !removing_.contains(id); });
  if (!removing_.contains(id)) return {};
  if (stopping_) return host_error(fmt::format("{}: franca is shutting down; the eject request stays pending", id));
  return host_error(
      fmt::format("{}: the guest did not eject it within {} ms; it stays in place with the eject request pending", id,
                  timeout.count()));
}

void PciHotplug::stop_waiting() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
}

void PciHotplug::ejected(unsigned slot) {
  {
    std::lock_guard lock(mutex_);
    ejected_.push_back(slot);
  }
  cv_.notify_all();
}

void PciHotplug::run(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    cv_.wait(lock, stop, [&] { return !ejected_.empty(); });
    while (!ejected_.empty()) {
      const unsigned slot = ejected_.front();
      ejected_.pop_front();
      lock.unlock();
      auto entry = registry_.find_slot(slot);
      pci_.release(slot);
      if (entry) registry_.remove(entry->id);
      const std::string id = entry ? entry->id : "?";
      spdlog::info("hotplug: {} removed from slot {}", id, slot);
      entry.reset();  // the device is freed here (io_uring, TAP, image lock) if nobody else holds it, unlocked
      lock.lock();
      removing_.erase(id);
      ++stats_.removed;
      cv_.notify_all();
    }
  }
}

PciHotplug::Stats PciHotplug::stats() const {
  Stats out;
  {
    std::lock_guard lock(mutex_);
    out = stats_;
  }
  const auto& registers = pci_.hotplug_counters();
  out.ejects = registers.ejects;
  out.ignored_ejects = registers.ignored_ejects;
  out.bad_accesses = registers.bad_accesses;
  out.msi_gsis_in_use = pci_.msi_gsis_in_use();
  out.guest_ready = pci_.guest_handles_hotplug();
  return out;
}

}  // namespace franca

// The control API's view of a Vm (api::ApiTarget): status, pause/resume,
// shutdown, net link and back-end, counters (README "Control socket").
#include <linux/virtio_ids.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/vfio/vfio_pci.h"
#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/device.h"
#include "devices/virtio/net/net_control.h"
#include "vmm/core/event_loop.h"
#include "vmm/failover.h"
#include "vmm/hotplug.h"
#include "vmm/vm_api.h"

namespace franca {
namespace {

using json = nlohmann::json;

std::string type_name(uint32_t device_type) {
  switch (device_type) {
    case VIRTIO_ID_BLOCK:
      return "block";
    case VIRTIO_ID_CONSOLE:
      return "console";
    case VIRTIO_ID_NET:
      return "net";
    case VIRTIO_ID_BALLOON:
      return "balloon";
    default:
      return fmt::format("virtio-{}", device_type);
  }
}

json counters_of(virtio::VirtioDevice& device) {
  const virtio::DeviceCounters& c = device.counters();
  json out{{"kicks", c.kicks.load()},
           {"requests", c.requests.load()},
           {"errors", c.errors.load()},
           {"ring_errors", c.ring_errors.load()},
           {"stalls", c.stalls.load()}};
  for (const auto& [name, value] : device.extra_counters()) out[name] = value;
  return out;
}

// Runs on the `api` thread only; Vm stops that thread before anything it touches.
class VmApi final : public api::ApiTarget {
 public:
  explicit VmApi(VmView vm) : vm_(std::move(vm)) {}

  Result<json> status() override {
    json devices = json::array();
    for (const DeviceEntry& e : vm_.devices.snapshot()) devices.push_back(describe(e));
    const std::chrono::duration<double> uptime = std::chrono::steady_clock::now() - vm_.started;
    json out{{"state", vm_.vcpus.paused() ? "paused" : "running"},
             {"cpus", vm_.cpus},
             {"memory_mib", vm_.memory / kMiB},
             {"uptime_s", uptime.count()},
             {"devices", std::move(devices)},
             {"hotplug", hotplug_summary(vm_.hotplug.stats())}};
    if (vm_.failover) out["failover"] = failover_summary();
    return out;
  }

  Result<json> set_failover(const std::string& id, bool plugged) override {
    if (!vm_.failover || !vm_.failover->has(id))
      return usage_error(fmt::format("{}: not a failover standby (--net failover=on with a --vfio failover_pair)", id));
    if (auto r = vm_.failover->set_wanted(id, plugged, kEjectWait); !r) return std::unexpected(r.error());
    for (json& pair : failover_summary()) {
      if (pair["standby"] == id) return pair;
    }
    return json::object();
  }

  Result<json> pause() override {
    if (vm_.vcpus.pause()) spdlog::info("api: guest paused");
    return json{{"state", "paused"}};
  }

  Result<json> resume() override {
    if (vm_.vcpus.resume()) spdlog::info("api: guest resumed");
    return json{{"state", "running"}};
  }

  Result<json> shutdown() override {
    spdlog::info("api: shutdown requested");
    vm_.request_stop(StopReason::kApi, 0);
    return json::object();
  }

  Result<json> set_net_link(const std::string& id, bool up) override {
    auto net = find_net(id);
    if (!net) return std::unexpected(net.error());
    if (auto r = (*net)->set_link(up); !r) return std::unexpected(r.error());
    return json{{"id", id}, {"link", up ? "up" : "down"}};
  }

  Result<json> set_net_backend(const std::string& id, const std::string& backend) override {
    auto net = find_net(id);
    if (!net) return std::unexpected(net.error());
    if (auto r = (*net)->set_backend(backend); !r) return std::unexpected(r.error());
    return json{{"id", id}, {"backend", (*net)->backend_name()}};
  }

  Result<json> counters(const std::optional<std::string>& id) override {
    auto wanted = selected(id);
    if (!wanted) return std::unexpected(wanted.error());
    json devices = json::object();
    for (const auto& device : *wanted) devices[device->id()] = counters_of(*device);
    return json{{"devices", std::move(devices)}};
  }

  Result<json> queues(const std::optional<std::string>& id) override {
    auto found = selected(id);
    if (!found) return std::unexpected(found.error());
    const std::vector<std::shared_ptr<virtio::VirtioDevice>> wanted = std::move(*found);
    // The rings are the loop's: read there. A loop that does not answer is
    // itself the diagnosis (the closure owns what it touches, so it may run late).
    auto lines = std::make_shared<std::vector<std::vector<std::string>>>(wanted.size());
    const bool answered = vm_.device_loop.invoke_for(
        [wanted, lines] {
          for (size_t i = 0; i < wanted.size(); ++i) (*lines)[i] = wanted[i]->describe_queues();
        },
        kLoopWait);
    if (!answered) {
      return host_error(
          fmt::format("the device loop (vmm-io) did not answer within {} ms: it is stuck or busy", kLoopWait.count()));
    }
    json devices = json::object();
    for (size_t i = 0; i < wanted.size(); ++i) devices[wanted[i]->id()] = (*lines)[i];
    return json{{"devices", std::move(devices)}};
  }

  Result<json> device_add(const std::string& type, const std::string& opts) override {
    auto added = vm_.hotplug.add(type, opts);
    if (!added) return std::unexpected(added.error());
    return json{{"id", added->id}, {"pci", fmt::format("0000:00:{:02x}.0", added->slot)}};
  }

  Result<json> device_del(const std::string& id) override {
    if (vm_.failover && vm_.failover->is_primary(id))
      return usage_error(fmt::format("{} is a failover primary: use failover-unplug with its standby", id));
    const auto entry = vm_.devices.find(id);  // keeps the device for its last counters
    if (auto r = vm_.hotplug.remove(id, kEjectWait); !r) return std::unexpected(r.error());
    if (entry && entry->vfio) return json{{"id", id}, {"removed", true}, {"vfio", vfio_summary(*entry->vfio)}};
    return json{{"id", id}, {"removed", true}, {"counters", counters_of(*entry->device)}};
  }

  Result<json> vcpus() override { return json{{"vcpus", vm_.vcpus.inspect()}}; }

  Result<json> set_balloon(uint64_t target_mib) override {
    auto balloon = find_balloon();
    if (!balloon) return std::unexpected(balloon.error());
    virtio::Balloon& b = **balloon;
    const uint64_t guest_mib = b.guest_pages() / kPagesPerMib;
    if (target_mib < guest_mib && vm_.devices.has_vfio()) {
      return usage_error(
          "balloon: refused while a VFIO device is attached (it may DMA to any guest page, so none can be given back)");
    }
    if (target_mib == 0 || target_mib > guest_mib) {
      return usage_error(
          fmt::format("balloon {}: the target is the memory the guest keeps, 1 to {} MiB", target_mib, guest_mib));
    }
    if (auto r = b.set_size_mib(guest_mib - target_mib); !r) return std::unexpected(r.error());
    return balloon_summary(**balloon);
  }

  Result<json> balloon_stats() override {
    auto balloon = find_balloon();
    if (!balloon) return std::unexpected(balloon.error());
    virtio::Balloon& b = **balloon;
    // Without polling, ask now (the guest answers within milliseconds when it is running).
    bool fresh = false;
    if (b.stats_period_s() == 0) fresh = b.request_stats(kStatsWait);
    json out = balloon_summary(b);
    const virtio::Balloon::Stats stats = b.stats();
    json values = json::object();
    for (const auto& s : stats.values) values[virtio::balloon::stat_name(s.tag)] = s.value;
    out["stats"] = std::move(values);
    out["stats_updates"] = stats.updates;
    out["stats_period_s"] = b.stats_period_s();
    out["stats_negotiated"] = b.stats_negotiated();
    if (stats.received) {
      const std::chrono::duration<double> age = std::chrono::steady_clock::now() - *stats.received;
      out["age_s"] = age.count();
    } else {
      out["age_s"] = nullptr;
    }
    if (b.stats_period_s() == 0 && b.stats_negotiated() && !fresh) out["stale"] = true;
    return out;
  }

 private:
  static constexpr std::chrono::milliseconds kStatsWait{2000};
  static constexpr std::chrono::milliseconds kLoopWait{2000};
  static constexpr std::chrono::milliseconds kEjectWait{20000};

  static constexpr uint64_t kPagesPerMib = kMiB / virtio::balloon::kPageSize;

  // target_mib: what the guest should keep; balloon_mib: num_pages, what the
  // device asks the balloon to hold; actual_mib: what the guest says it holds.
  static json balloon_summary(const virtio::Balloon& b) {
    const uint64_t guest = b.guest_pages(), size = b.size_pages(), actual = std::min(b.actual_pages(), guest);
    return json{{"id", b.id()},
                {"target_mib", (guest - size) / kPagesPerMib},
                {"balloon_mib", size / kPagesPerMib},
                {"actual_mib", actual / kPagesPerMib},
                {"guest_mib", (guest - actual) / kPagesPerMib},
                {"balloon_pages", size},
                {"actual_pages", b.actual_pages()}};
  }

  Result<virtio::Balloon*> find_balloon() const {
    for (const auto& device : vm_.devices.devices()) {
      if (auto* b = dynamic_cast<virtio::Balloon*>(device.get())) return b;  // never hot-removed
    }
    return usage_error("this VM has no balloon (start it with --balloon)");
  }

  json failover_summary() const {
    json pairs = json::array();
    for (const FailoverManager::PairStatus& p : vm_.failover->status()) {
      json pair{{"standby", p.standby}, {"primary", p.primary},          {"host", p.host},
                {"state", p.state},     {"driver_standby", p.driver},    {"plugs", p.plugs},
                {"unplugs", p.unplugs}, {"negotiations", p.negotiations}};
      if (!p.error.empty()) pair["error"] = p.error;
      pairs.push_back(std::move(pair));
    }
    return pairs;
  }

  static json hotplug_summary(const PciHotplug::Stats& s) {
    return json{{"guest_ready", s.guest_ready},
                {"added", s.added},
                {"removed", s.removed},
                {"ejects", s.ejects},
                {"ignored_ejects", s.ignored_ejects},
                {"bad_accesses", s.bad_accesses},
                {"msi_gsis_in_use", s.msi_gsis_in_use}};
  }

  static json vfio_summary(const vfio::VfioPciFunction& f) {
    const vfio::VfioPciFunction::Stats s = f.stats();
    return json{{"irq_mode", s.irq_mode},
                {"config_reads", s.config_reads},
                {"config_writes", s.config_writes},
                {"trapped_reads", s.trapped_reads},
                {"trapped_writes", s.trapped_writes},
                {"device_errors", s.device_errors},
                {"direct_kib", s.direct_bytes >> 10},
                {"trapped_kib", s.trapped_bytes >> 10}};
  }

  static json describe(const DeviceEntry& e) {
    if (e.vfio) {
      json out{{"id", e.id}, {"type", "vfio"}, {"transport", "pci"}, {"host", e.vfio->host_name()}};
      if (e.pci_slot) out["pci"] = fmt::format("0000:00:{:02x}.0", *e.pci_slot);
      out["hotplugged"] = e.hotplugged;
      out["removable"] = e.removable;
      out.update(vfio_summary(*e.vfio));
      return out;
    }
    virtio::VirtioDevice& device = *e.device;
    json out{{"id", e.id},
             {"type", type_name(device.device_type())},
             {"transport", e.transport == Transport::kPci ? "pci" : "mmio"}};
    if (e.pci_slot) {
      out["pci"] = fmt::format("0000:00:{:02x}.0", *e.pci_slot);
      out["hotplugged"] = e.hotplugged;
      out["removable"] = e.removable;
    }
    if (auto* net = dynamic_cast<virtio::NetControl*>(&device)) {
      out["backend"] = net->backend_name();
      out["link"] = net->link_up() ? "up" : "down";
    }
    if (auto* balloon = dynamic_cast<const virtio::Balloon*>(&device)) out.update(balloon_summary(*balloon));
    return out;
  }

  Result<std::shared_ptr<virtio::VirtioDevice>> find(const std::string& id) const {
    if (auto e = vm_.devices.find(id)) {
      if (e->device) return e->device;
      return usage_error(fmt::format("{} is a VFIO function: it has no virtio counters or queues (see status)", id));
    }
    return usage_error(fmt::format("no device \"{}\"", id));
  }

  // Device `id`, or every device when there is no id.
  Result<std::vector<std::shared_ptr<virtio::VirtioDevice>>> selected(const std::optional<std::string>& id) const {
    if (!id) return vm_.devices.devices();
    auto device = find(*id);
    if (!device) return std::unexpected(device.error());
    return std::vector<std::shared_ptr<virtio::VirtioDevice>>{*device};
  }

  // The NIC's control interface, sharing ownership of the device: a hot-removed
  // NIC stays alive while a request uses it.
  Result<std::shared_ptr<virtio::NetControl>> find_net(const std::string& id) const {
    auto found = find(id);
    if (!found) return std::unexpected(found.error());
    auto net = std::dynamic_pointer_cast<virtio::NetControl>(*found);
    if (!net)
      return usage_error(fmt::format("{} is a {} device, not a net device", id, type_name((*found)->device_type())));
    return net;
  }

  VmView vm_;
};

}  // namespace

std::unique_ptr<api::ApiTarget> make_vm_api(VmView view) { return std::make_unique<VmApi>(std::move(view)); }

void log_guest_state(VcpuControl& vcpus, const std::vector<std::shared_ptr<virtio::VirtioDevice>>& devices,
                     std::string_view why) {
  if (auto all = vcpus.try_inspect(); !all) {
    spdlog::warn("{}: vCPU state not read (the control API is pausing or inspecting the vCPUs)", why);
  } else {
    for (size_t i = 0; i < all->size(); ++i) {
      const json& one = (*all)[i];
      spdlog::warn("{}: vcpu{} (thread {}):\n{}", why, i, one["tid"].get<pid_t>(),
                   one.contains("state") ? one["state"].get<std::string>() : one["error"].get<std::string>());
    }
  }
  for (const auto& device : devices) {
    spdlog::warn("{}: {} counters {}", why, device->id(), counters_of(*device).dump());
    for (const std::string& line : device->describe_queues()) spdlog::warn("{}: {} {}", why, device->id(), line);
  }
}

}  // namespace franca

// The control API's view of a Vm (api::ApiTarget): status, pause/resume,
// shutdown, net link and back-end, counters (README "Control socket").
#include <linux/virtio_ids.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/device.h"
#include "devices/virtio/net/net_control.h"
#include "vmm/api/api_server.h"
#include "vmm/vm.h"

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

constexpr std::chrono::milliseconds kParkTimeout{2000};

// One vCPU's id, thread and state, or why the state could not be read.
json inspect(Vcpu& vcpu, size_t id) {
  json one{{"id", id}, {"tid", vcpu.tid()}};
  if (auto state = vcpu.inspect(kParkTimeout)) {
    one["state"] = x86::describe(*state);
  } else {
    one["error"] =
        fmt::format("did not leave KVM_RUN and park within {} ms: its thread is stuck in franca", kParkTimeout.count());
  }
  return one;
}

json counters_of(virtio::VirtioDevice& device) {
  const virtio::DeviceCounters& c = device.counters();
  json out{{"kicks", c.kicks.load()},
           {"requests", c.requests.load()},
           {"errors", c.errors.load()},
           {"ring_errors", c.ring_errors.load()}};
  for (const auto& [name, value] : device.extra_counters()) out[name] = value;
  return out;
}

}  // namespace

// Runs on the `api` thread only; Vm stops that thread before anything it touches.
class VmApi final : public api::ApiTarget {
 public:
  explicit VmApi(Vm& vm) : vm_(vm) {}

  Result<json> status() override {
    json devices = json::array();
    for (size_t i = 0; i < vm_.virtio_devices_.size(); ++i) devices.push_back(describe(i));
    const std::chrono::duration<double> uptime = std::chrono::steady_clock::now() - vm_.started_;
    return json{{"state", paused_ ? "paused" : "running"},
                {"cpus", vm_.config_.cpus},
                {"memory_mib", vm_.config_.memory / kMiB},
                {"uptime_s", uptime.count()},
                {"devices", std::move(devices)}};
  }

  Result<json> pause() override {
    std::lock_guard lock(vm_.vcpu_control_);
    if (!paused_) {
      for (auto& vcpu : vm_.vcpus_) vcpu->pause();
      paused_ = true;
      spdlog::info("api: guest paused");
    }
    return json{{"state", "paused"}};
  }

  Result<json> resume() override {
    std::lock_guard lock(vm_.vcpu_control_);
    if (paused_) {
      for (auto& vcpu : vm_.vcpus_) vcpu->resume();
      paused_ = false;
      spdlog::info("api: guest resumed");
    }
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
    json devices = json::object();
    if (id) {
      auto index = find(*id);
      if (!index) return std::unexpected(index.error());
      devices[*id] = counters_of(*vm_.virtio_devices_[*index]);
    } else {
      for (const auto& device : vm_.virtio_devices_) devices[device->id()] = counters_of(*device);
    }
    return json{{"devices", std::move(devices)}};
  }

  Result<json> vcpus() override {
    std::lock_guard lock(vm_.vcpu_control_);
    json out = json::array();
    for (size_t i = 0; i < vm_.vcpus_.size(); ++i) out.push_back(inspect(*vm_.vcpus_[i], i));
    return json{{"vcpus", std::move(out)}};
  }

  Result<json> set_balloon(uint64_t target_mib) override {
    auto balloon = find_balloon();
    if (!balloon) return std::unexpected(balloon.error());
    virtio::Balloon& b = **balloon;
    const uint64_t guest_mib = b.guest_pages() / kPagesPerMib;
    if (target_mib == 0 || target_mib > guest_mib) {
      return usage_error(fmt::format("balloon {}: the target is the memory the guest keeps, 1 to {} MiB", target_mib,
                                     guest_mib));
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
    for (const auto& device : vm_.virtio_devices_) {
      if (auto* b = dynamic_cast<virtio::Balloon*>(device.get())) return b;
    }
    return usage_error("this VM has no balloon (start it with --balloon)");
  }

  json describe(size_t i) const {
    virtio::VirtioDevice& device = *vm_.virtio_devices_[i];
    json out{{"id", device.id()},
             {"type", type_name(device.device_type())},
             {"transport", vm_.virtio_transports_[i] == Transport::kPci ? "pci" : "mmio"}};
    if (auto* net = dynamic_cast<virtio::NetControl*>(&device)) {
      out["backend"] = net->backend_name();
      out["link"] = net->link_up() ? "up" : "down";
    }
    if (auto* balloon = dynamic_cast<const virtio::Balloon*>(&device)) out.update(balloon_summary(*balloon));
    return out;
  }

  Result<size_t> find(const std::string& id) const {
    for (size_t i = 0; i < vm_.virtio_devices_.size(); ++i) {
      if (vm_.virtio_devices_[i]->id() == id) return i;
    }
    return usage_error(fmt::format("no device \"{}\"", id));
  }

  Result<virtio::NetControl*> find_net(const std::string& id) const {
    auto index = find(id);
    if (!index) return std::unexpected(index.error());
    virtio::VirtioDevice& device = *vm_.virtio_devices_[*index];
    auto* net = dynamic_cast<virtio::NetControl*>(&device);
    if (!net)
      return usage_error(fmt::format("{} is a {} device, not a net device", id, type_name(device.device_type())));
    return net;
  }

  Vm& vm_;
  bool paused_ = false;
};

void Vm::log_guest_state(std::string_view why) {
  std::unique_lock lock(vcpu_control_, std::try_to_lock);
  if (!lock) {
    spdlog::warn("{}: vCPU state not read (the control API is pausing or inspecting the vCPUs)", why);
  } else {
    for (size_t i = 0; i < vcpus_.size(); ++i) {
      const json one = inspect(*vcpus_[i], i);
      spdlog::warn("{}: vcpu{} (thread {}):\n{}", why, i, one["tid"].get<pid_t>(),
                   one.contains("state") ? one["state"].get<std::string>() : one["error"].get<std::string>());
    }
  }
  for (const auto& device : virtio_devices_)
    spdlog::warn("{}: {} counters {}", why, device->id(), counters_of(*device).dump());
}

Result<std::unique_ptr<api::ApiServer>> Vm::open_api_socket(const VmConfig& config) {
  if (config.api_socket.empty()) return nullptr;
  return api::ApiServer::create(config.api_socket);
}

void Vm::start_api() {
  started_ = std::chrono::steady_clock::now();
  if (!api_server_) return;
  api_target_ = std::make_unique<VmApi>(*this);
  api_server_->start(*api_target_);
  spdlog::info("control socket on {}", api_server_->path());
}

}  // namespace franca

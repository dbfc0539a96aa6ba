// Net failover: the pair policy and the worker that plugs and unplugs primaries.
#include "vmm/failover.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio/net/net.h"
#include "devices/virtio/net/virtio_net_uapi.h"
#include "vmm/core/thread.h"
#include "vmm/hotplug.h"
#include "vmm/pci_host.h"

namespace franca {

using Action = FailoverPolicy::Action;

void FailoverPolicy::negotiated(bool standby) {
  driver_ = standby ? Driver::kAccepted : Driver::kRefused;
  failed_ = false;
}

void FailoverPolicy::set_wanted(bool plugged) {
  wanted_ = plugged;
  failed_ = false;
}

Action FailoverPolicy::peek() const {
  if (in_flight_ != Action::kNone || failed_ || present_ == desired()) return Action::kNone;
  return present_ ? Action::kUnplug : Action::kPlug;
}

Action FailoverPolicy::next() {
  const Action a = peek();
  if (a != Action::kNone) in_flight_ = a;
  return a;
}

void FailoverPolicy::done(Action action, bool ok, std::string error) {
  if (action != in_flight_ || action == Action::kNone) return;
  in_flight_ = Action::kNone;
  if (ok) present_ = action == Action::kPlug;
  failed_ = !ok;
  error_ = ok ? std::string{} : std::move(error);
}

std::string_view FailoverPolicy::state() const {
  if (in_flight_ == Action::kPlug) return "plugging";
  if (in_flight_ == Action::kUnplug) return "unplugging";
  if (failed_) return "failed";
  if (present_) return "plugged";
  if (driver_ == Driver::kUnknown) return "waiting";
  if (driver_ == Driver::kRefused) return "hidden";
  return wanted_ ? "plugging" : "unplugged";
}

namespace {
constexpr auto kGuestReadyWait = std::chrono::seconds(120);
constexpr auto kEjectWait = std::chrono::seconds(60);
constexpr uint64_t kStandby = uint64_t{1} << VIRTIO_NET_F_STANDBY;

std::string_view driver_name(FailoverPolicy::Driver d) {
  switch (d) {
    case FailoverPolicy::Driver::kUnknown:
      return "unknown";
    case FailoverPolicy::Driver::kAccepted:
      return "accepted";
    case FailoverPolicy::Driver::kRefused:
      return "refused";
  }
  return "?";
}
}  // namespace

FailoverManager::FailoverManager(PciHotplug& hotplug, PciHost& pci)
    : hotplug_(hotplug),
      pci_(pci),
      worker_(start_thread({.name = "failover"}, [this](std::stop_token stop) { run(stop); })) {}

FailoverManager::~FailoverManager() { stop(); }

void FailoverManager::add_pair(std::shared_ptr<virtio::Net> standby, VfioOption option, std::string primary_id) {
  size_t index = 0;
  {
    std::lock_guard lock(mutex_);
    auto pair = std::make_unique<Pair>();
    pair->standby = standby->id();
    pair->option = std::move(option);
    pair->option.removable = true;
    pair->primary = std::move(primary_id);
    pair->net = standby;
    spdlog::info("failover {}: primary {} ({}) stays hidden until the standby's driver accepts STANDBY", pair->standby,
                 pair->primary, pair->option.path);
    index = pairs_.size();
    pairs_.push_back(std::move(pair));
  }
  standby->set_negotiation_observer([this, index](uint64_t features) { on_negotiated(index, features); });
}

// A vCPU thread, under the standby's transport lock: record and wake the worker.
void FailoverManager::on_negotiated(size_t index, uint64_t features) {
  const bool standby = features & kStandby;
  {
    std::lock_guard lock(mutex_);
    Pair& pair = *pairs_[index];
    ++pair.negotiations;
    const bool was_present = pair.policy.present();
    pair.policy.negotiated(standby);
    if (standby) {
      spdlog::info("failover {}: the driver accepted STANDBY{}", pair.standby,
                   was_present || !pair.policy.wanted() ? "" : fmt::format("; plugging primary {}", pair.primary));
    } else if (was_present) {
      spdlog::warn(
          "failover {}: the driver renegotiated without STANDBY; unplugging primary {} so that the guest "
          "never has two NICs with one MAC",
          pair.standby, pair.primary);
    } else {
      spdlog::warn(
          "failover {}: the driver did not accept STANDBY (no failover in the guest): primary {} stays "
          "hidden, the guest has one plain virtio NIC",
          pair.standby, pair.primary);
    }
  }
  cv_.notify_all();
}

Result<void> FailoverManager::set_wanted(const std::string& standby, bool plugged, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  Pair* pair = find(standby);
  if (!pair)
    return usage_error(
        fmt::format("{}: not a failover standby (--net failover=on with a --vfio failover_pair)", standby));
  pair->policy.set_wanted(plugged);
  spdlog::info("failover {}: {} requested", standby, plugged ? "failover-plug" : "failover-unplug");
  if (plugged && pair->policy.driver() != FailoverPolicy::Driver::kAccepted) {
    return usage_error(fmt::format("{}: the guest's driver has not accepted STANDBY ({}); primary {} stays hidden",
                                   standby, driver_name(pair->policy.driver()), pair->primary));
  }
  cv_.notify_all();
  if (!cv_.wait_for(lock, timeout, [&] { return stopping_ || pair->policy.settled(); }))
    return host_error(fmt::format("{}: primary {} still {} after {} ms", standby, pair->primary, pair->policy.state(),
                                  timeout.count()));
  if (stopping_) return host_error(fmt::format("{}: franca is shutting down", standby));
  if (!pair->policy.error().empty()) return host_error(fmt::format("{}: {}", standby, pair->policy.error()));
  return {};
}

Result<void> FailoverManager::plug(const VfioOption& option, const std::string& primary, std::stop_token stop) {
  // At the first negotiation the guest may still be bringing up its ACPI hotplug (GED).
  const auto deadline = std::chrono::steady_clock::now() + kGuestReadyWait;
  while (!pci_.guest_handles_hotplug()) {
    if (stop.stop_requested()) return host_error("franca is stopping");
    if (std::chrono::steady_clock::now() > deadline)
      return host_error(
          "the guest has not enabled ACPI hotplug (its GED interrupt is masked): cannot plug the primary");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto added = hotplug_.add_vfio(option, primary);
  if (!added) return std::unexpected(added.error());
  return {};
}

void FailoverManager::run(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    Pair* pair = nullptr;
    cv_.wait(lock, stop, [&] {
      for (const auto& p : pairs_) {
        if (p->policy.peek() != Action::kNone) pair = p.get();
      }
      return pair != nullptr;
    });
    if (!pair) continue;
    const Action action = pair->policy.next();
    const VfioOption option = pair->option;  // a pair's option and id never change; copied to use them unlocked
    const std::string primary = pair->primary;
    lock.unlock();
    Result<void> r = action == Action::kPlug ? plug(option, primary, stop) : hotplug_.remove(primary, kEjectWait);
    lock.lock();
    if (r) {
      ++(action == Action::kPlug ? pair->plugs : pair->unplugs);
      spdlog::info(
          "failover {}: primary {} {}", pair->standby, pair->primary,
          action == Action::kPlug ? "plugged (the guest probes it now)" : "unplugged; traffic is on the standby");
    } else {
      spdlog::error("failover {}: {} of primary {} failed: {}", pair->standby,
                    action == Action::kPlug ? "plug" : "unplug", pair->primary, r.error().message);
    }
    pair->policy.done(action, r.has_value(), r ? std::string{} : r.error().message);
    cv_.notify_all();
  }
}

std::vector<FailoverManager::PairStatus> FailoverManager::status() const {
  std::lock_guard lock(mutex_);
  std::vector<PairStatus> out;
  for (const auto& p : pairs_) {
    out.push_back(PairStatus{.standby = p->standby,
                             .primary = p->primary,
                             .host = p->option.path.substr(p->option.path.rfind('/') + 1),
                             .state = std::string(p->policy.state()),
                             .error = p->policy.error(),
                             .driver = std::string(driver_name(p->policy.driver())),
                             .plugs = p->plugs,
                             .unplugs = p->unplugs,
                             .negotiations = p->negotiations});
  }
  return out;
}

bool FailoverManager::is_primary(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& p : pairs_) {
    if (p->primary == id) return true;
  }
  return false;
}

void FailoverManager::stop() {
  std::vector<std::shared_ptr<virtio::Net>> nets;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (const auto& p : pairs_) {
      if (auto n = p->net.lock()) nets.push_back(std::move(n));
    }
  }
  for (auto& n : nets) n->set_negotiation_observer(nullptr);  // not under mutex_: the observer takes it
  worker_.request_stop();
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

FailoverManager::Pair* FailoverManager::find(const std::string& standby) const {
  for (const auto& p : pairs_) {
    if (p->standby == standby) return p.get();
  }
  return nullptr;
}

bool FailoverManager::has(const std::string& standby) const {
  std::lock_guard lock(mutex_);
  return find(standby) != nullptr;
}

}  // namespace franca

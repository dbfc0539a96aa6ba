// ApiTarget: what the control socket can ask of a running VM (README "Control
// socket"). Vm implements it (vmm/vm_api.cc); tests use a fake.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "vmm/core/error.h"

namespace franca::api {

// Each call runs on the `api` thread and returns the reply's result fields as a
// JSON object (merged after "ok": true), or an Error whose message becomes the
// reply's "error". Arguments are already validated in shape (dispatch.cc).
class ApiTarget {
 public:
  virtual ~ApiTarget() = default;
  virtual Result<nlohmann::json> status() = 0;
  virtual Result<nlohmann::json> pause() = 0;     // a no-op when paused
  virtual Result<nlohmann::json> resume() = 0;    // a no-op when running
  virtual Result<nlohmann::json> shutdown() = 0;  // requests the stop; the reply is still sent
  virtual Result<nlohmann::json> set_net_link(const std::string& id, bool up) = 0;
  virtual Result<nlohmann::json> set_net_backend(const std::string& id, const std::string& backend) = 0;
  // Every device's counters, or only device `id`'s.
  virtual Result<nlohmann::json> counters(const std::optional<std::string>& id) = 0;
  // Every device's queues (or only device `id`'s) as this process serves them:
  // ring indices, event-idx state, and how long the driver has been waiting on
  // each without progress — for a guest that stopped doing I/O.
  virtual Result<nlohmann::json> queues(const std::optional<std::string>& id) = 0;
  // Every vCPU's thread id and architectural state (briefly paused to read it),
  // or why it could not be read: for diagnosing a guest that stopped.
  virtual Result<nlohmann::json> vcpus() = 0;
  // The balloon's new target in MiB; its target, actual and the guest's last
  // memory statistics (refreshed first when the balloon does not poll).
  virtual Result<nlohmann::json> set_balloon(uint64_t target_mib) = 0;
  virtual Result<nlohmann::json> balloon_stats() = 0;
  // PCI hotplug: a disk, net or console from its --disk/--net/--console option
  // string (reply: id, PCI address); removal waits for the guest's eject.
  virtual Result<nlohmann::json> device_add(const std::string& type, const std::string& opts) = 0;
  virtual Result<nlohmann::json> device_del(const std::string& id) = 0;
  // Net failover: take standby `id`'s primary out (false) or put it back (true);
  // replies once done, with the pair's state.
  virtual Result<nlohmann::json> set_failover(const std::string& id, bool plugged) = 0;
};

}  // namespace franca::api

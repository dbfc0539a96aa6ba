// The control API's view of a Vm (README "Control socket"): what it reports and
// what it may do, handed over by Vm as a VmView; no Vm internals.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "vmm/api/api_target.h"
#include "vmm/config.h"
#include "vmm/core/stop.h"
#include "vmm/vcpu_control.h"

namespace franca {
namespace virtio {
class VirtioDevice;
}  // namespace virtio

// All the control API may see or do: Vm's config values, its devices, the vCPU
// controller, a stop request and the time the guest started.
struct VmView {
  unsigned cpus;
  uint64_t memory;  // bytes
  const std::vector<std::shared_ptr<virtio::VirtioDevice>>& devices;
  const std::vector<Transport>& transports;  // of devices[i]
  VcpuControl& vcpus;
  StopFn request_stop;
  std::chrono::steady_clock::time_point started;
};

// Served on the `api` thread only; everything `view` refers to outlives the api thread.
std::unique_ptr<api::ApiTarget> make_vm_api(VmView view);

// Logs every vCPU's state (skipped while the control API holds the vCPUs) and
// every device's counters at warn level: where was a guest about to be stopped?
// Any thread but a vCPU's.
void log_guest_state(VcpuControl& vcpus, const std::vector<std::shared_ptr<virtio::VirtioDevice>>& devices,
                     std::string_view why);

}  // namespace franca

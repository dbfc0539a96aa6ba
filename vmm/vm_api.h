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
#include "vmm/device_registry.h"
#include "vmm/vcpu_control.h"

namespace franca {
class EventLoop;
class PciHotplug;
class FailoverManager;
namespace virtio {
class VirtioDevice;
}  // namespace virtio

// All the control API may see or do: Vm's config values, its devices, the vCPU
// controller, a stop request, the time the guest started, and the devices'
// loop (`vmm-io`), where their queue state may be read.
struct VmView {
  unsigned cpus;
  uint64_t memory;  // bytes
  DeviceRegistry& devices;
  PciHotplug& hotplug;
  FailoverManager* failover;  // null without --vfio failover_pair=
  VcpuControl& vcpus;
  StopFn request_stop;
  std::chrono::steady_clock::time_point started;
  EventLoop& device_loop;
};

// Served on the `api` thread only; everything `view` refers to outlives the api thread.
std::unique_ptr<api::ApiTarget> make_vm_api(VmView view);

// Logs every vCPU's state (skipped while the control API holds the vCPUs),
// every device's counters and queue states at warn level: where was a guest
// about to be stopped? On the devices' loop thread.
void log_guest_state(VcpuControl& vcpus, const std::vector<std::shared_ptr<virtio::VirtioDevice>>& devices,
                     std::string_view why);

}  // namespace franca

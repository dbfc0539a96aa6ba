// The Vm owns everything a running guest needs and fixes the build and
// shutdown order (STYLE.md "Threads and ownership"):
//   build: validate inputs -> KVM VM + irqchip + PIT -> guest RAM -> firmware
//          (ACPI, kernel, initrd, boot_params) -> devices on buses -> vCPUs
//   shutdown: stop the control API -> stop vCPUs -> stop device data paths (on the
//             loop) -> stop the I/O loop -> destroy devices -> unmap memory
//   (docs/design.md "Stop and shutdown").
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "vmm/config.h"
#include "vmm/core/bus.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/guest_memory.h"
#include "vmm/core/host_input.h"
#include "vmm/core/kvm.h"
#include "vmm/core/stop.h"
#include "vmm/device_registry.h"
#include "vmm/kernel_cache.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_control.h"
#include "vmm/virtio_devices.h"

namespace franca {

class Serial8250;
class MmioHost;
class PciHost;
class PciHotplug;
class FailoverManager;
class HostEvents;
namespace firmware {
struct BzImage;
struct InitrdSource;
}  // namespace firmware
namespace api {
class ApiServer;
class ApiTarget;
}  // namespace api

class Vm {
 public:
  // Checks the inputs (kernel, initrd, sizes) first so bad input fails before any host access.
  static Result<std::unique_ptr<Vm>> create(const VmConfig& config);
  ~Vm();

  // Runs the guest until it stops; returns franca's exit status.
  int run();
  // Thread-safe; the first request decides the exit status.
  void request_stop(StopReason reason, int exit_code);

 private:
  Vm(const VmConfig& config, KvmVm kvm_vm);
  Result<void> setup_memory();
  Result<void> load_kernel(const firmware::BzImage& image, const std::optional<DecompressedKernel>& direct,
                           const firmware::InitrdSource& initrd);
  Result<void> setup_serial_output();
  Result<void> setup_devices();
  Result<void> setup_virtio_devices();
  Result<void> setup_vfio_devices();
  Result<void> add_failover_pair(const VfioOption& option, const std::string& primary_id);
  Result<void> setup_vcpus(const Kvm& kvm);
  Result<void> setup_host_events();
  void wait_for_stop();
  void shutdown();
  void log_vcpu_positions();
  // --api-socket, bound before any KVM call (null without it); served from start_api().
  static Result<std::unique_ptr<api::ApiServer>> open_api_socket(const VmConfig& config);
  void start_api();  // also starts the uptime clock

  VmConfig config_;
  KvmVm kvm_vm_;
  GuestMemory memory_;
  Bus pio_bus_{"pio"};
  Bus mmio_bus_{"mmio"};
  std::unique_ptr<EventLoop> loop_;
  std::jthread loop_thread_;  // vmm-io, from start_thread
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  VcpuControl vcpu_control_{vcpus_};  // pause/resume/inspect, one controller at a time (api, timeout)
  std::shared_ptr<Serial8250> serial_;
  int serial_out_fd_ = -1;
  uint64_t boot_entry_ = 0;
  uint64_t boot_zero_page_ = 0;
  Fd serial_file_;                              // --serial file:PATH
  std::shared_ptr<HostInputSink> stdio_input_;  // who owns host stdin (console or COM1), or null
  std::unique_ptr<HostEvents> host_events_;     // signalfd, timerfds, stdin on loop_
  OpenedDevices devices_;                       // every virtio device and its transport choice
  std::unique_ptr<MmioHost> mmio_;              // virtio-mmio slots, their irqfds and ioeventfds
  std::unique_ptr<PciHost> pci_;                // root bus, BARs, MSI routes, INTx, hotplug registers
  DeviceRegistry registry_;                     // every virtio device now (cold + hot-added)
  std::unique_ptr<PciHotplug> hotplug_;         // device-add / device-del; stopped with the api
  std::unique_ptr<FailoverManager> failover_;   // failover pairs (--vfio failover_pair=), or null
  std::unique_ptr<api::ApiServer> api_server_;  // stopped first in shutdown()
  std::unique_ptr<api::ApiTarget> api_target_;
  std::chrono::steady_clock::time_point started_;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::optional<std::pair<StopReason, int>> stop_;
};

}  // namespace franca

// The virtio devices the command line asks for, opened (images, TAPs, console
// files and sockets) before any KVM call: a bad --disk, --net or --console is
// the user's error whatever the host has. Names: blk<N>, net<N>, console0, balloon0.
#pragma once

#include <memory>
#include <vector>

#include "vmm/config.h"
#include "vmm/core/host_input.h"

namespace franca {
namespace virtio {
class VirtioDevice;
class Console;
class Balloon;
}  // namespace virtio
class EventLoop;

struct OpenedDevices {
  std::vector<std::shared_ptr<virtio::VirtioDevice>> all;
  std::vector<DeviceCommon> placement;  // of all[i]: transport, slot, removable (id: all[i]->id())
  std::shared_ptr<virtio::Console> console;
  std::shared_ptr<virtio::Balloon> balloon;
  std::shared_ptr<HostInputSink> stdio_input;  // the console with --console stdio, else null

  // Registers the back-ends' fds on `loop` (the console's), once, before the guest runs.
  Result<void> start(EventLoop& loop) const;
};

Result<OpenedDevices> open_virtio_devices(const VmConfig& config);
// The ids the devices of `config` get, in the order open_virtio_devices makes them.
std::vector<std::string> device_ids(const VmConfig& config);

}  // namespace franca

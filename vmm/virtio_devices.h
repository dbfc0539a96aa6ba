// The virtio devices the command line asks for, opened (images, TAPs, console
// files and sockets) before any KVM call: a bad --disk, --net or --console is
// the user's error whatever the host has. Names: blk<N>, net<N>, console0, balloon0.
#pragma once

#include <memory>
#include <vector>

#include "vmm/config.h"

namespace franca {
namespace virtio {
class VirtioDevice;
class Console;
class Balloon;
}  // namespace virtio

struct OpenedDevices {
  std::vector<std::shared_ptr<virtio::VirtioDevice>> all;
  std::vector<Transport> transports;  // of all[i]
  std::shared_ptr<virtio::Console> console;
  std::shared_ptr<virtio::Balloon> balloon;
};

Result<OpenedDevices> open_virtio_devices(const VmConfig& config);

}  // namespace franca

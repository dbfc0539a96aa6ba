// Opening the virtio devices of a VmConfig (see virtio_devices.h).
#include "vmm/virtio_devices.h"

#include <fmt/format.h>

#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/block/block.h"
#include "devices/virtio/console/console.h"
#include "devices/virtio/net/net.h"

namespace franca {

Result<OpenedDevices> open_virtio_devices(const VmConfig& config) {
  OpenedDevices out;
  for (size_t i = 0; i < config.disks.size(); ++i) {
    auto disk = virtio::Block::create(config.disks[i].block, fmt::format("blk{}", i));
    if (!disk) return std::unexpected(disk.error());
    out.all.push_back(std::move(*disk));
    out.transports.push_back(config.disks[i].transport);
  }
  for (size_t i = 0; i < config.nets.size(); ++i) {
    virtio::NetConfig net = config.nets[i].net;
    if (!net.mac_given) net.mac[5] = static_cast<uint8_t>(net.mac[5] + i);  // unique defaults
    auto device = virtio::Net::create(net, fmt::format("net{}", i));
    if (!device) return std::unexpected(device.error());
    out.all.push_back(std::move(*device));
    out.transports.push_back(config.nets[i].transport);
  }
  if (config.console) {
    auto console = virtio::Console::create(config.console->console, "console0");
    if (!console) return std::unexpected(console.error());
    out.console = std::move(*console);
    out.all.push_back(out.console);
    out.transports.push_back(config.console->transport);
  }
  if (config.balloon) {
    auto balloon = virtio::Balloon::create(config.balloon->balloon, config.memory, "balloon0");
    if (!balloon) return std::unexpected(balloon.error());
    out.balloon = std::move(*balloon);
    out.all.push_back(out.balloon);
    out.transports.push_back(config.balloon->transport);
  }
  return out;
}

}  // namespace franca

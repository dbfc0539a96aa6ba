// Opening the virtio devices of a VmConfig (see virtio_devices.h).
#include "vmm/virtio_devices.h"

#include <string>

#include <fmt/format.h>

#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/block/block.h"
#include "devices/virtio/console/console.h"
#include "devices/virtio/net/net.h"

namespace franca {

namespace {
// id= or the default name (blk0, net1, ...).
std::string id_or(const DeviceCommon& common, std::string fallback) {
  return common.id.empty() ? std::move(fallback) : common.id;
}
}  // namespace

Result<OpenedDevices> open_virtio_devices(const VmConfig& config) {
  OpenedDevices out;
  const std::vector<std::string> ids = device_ids(config);  // in the order made below
  size_t next = 0;
  for (size_t i = 0; i < config.disks.size(); ++i) {
    auto disk = virtio::Block::create(config.disks[i].block, ids[next++]);
    if (!disk) return std::unexpected(disk.error());
    out.all.push_back(std::move(*disk));
    out.placement.push_back(config.disks[i]);
  }
  for (size_t i = 0; i < config.nets.size(); ++i) {
    virtio::NetConfig net = config.nets[i].net;
    if (!net.mac_given) net.mac[5] = static_cast<uint8_t>(net.mac[5] + i);  // unique defaults
    auto device = virtio::Net::create(net, ids[next++]);
    if (!device) return std::unexpected(device.error());
    out.all.push_back(std::move(*device));
    out.placement.push_back(config.nets[i]);
  }
  if (config.console) {
    auto console = virtio::Console::create(config.console->console, ids[next++]);
    if (!console) return std::unexpected(console.error());
    out.console = std::move(*console);
    if (config.console->console.mode == virtio::ConsoleConfig::Mode::kStdio) out.stdio_input = out.console;
    out.all.push_back(out.console);
    out.placement.push_back(*config.console);
  }
  if (config.balloon) {
    auto balloon = virtio::Balloon::create(config.balloon->balloon, config.memory, ids[next++]);
    if (!balloon) return std::unexpected(balloon.error());
    out.balloon = std::move(*balloon);
    out.all.push_back(out.balloon);
    out.placement.push_back(*config.balloon);
  }
  return out;
}

std::vector<std::string> device_ids(const VmConfig& config) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < config.disks.size(); ++i) ids.push_back(id_or(config.disks[i], fmt::format("blk{}", i)));
  for (size_t i = 0; i < config.nets.size(); ++i) ids.push_back(id_or(config.nets[i], fmt::format("net{}", i)));
  if (config.console) ids.push_back(id_or(*config.console, "console0"));
  if (config.balloon) ids.push_back(id_or(*config.balloon, "balloon0"));
  for (size_t i = 0; i < config.vfio.size(); ++i) ids.push_back(id_or(config.vfio[i], fmt::format("vfio{}", i)));
  return ids;
}

Result<void> OpenedDevices::start(EventLoop& loop) const {
  if (console) return console->start(loop);
  return {};
}

}  // namespace franca

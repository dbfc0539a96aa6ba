// The device options (--disk, --console, --net, --balloon, --vfio): one grammar for every device,
// "key=value,key=value" like cloud-hypervisor, with transport= and features=
// on each (a leading item without '=' is the device's main value, e.g.
// `--console pty`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "devices/virtio/balloon/balloon_config.h"
#include "devices/virtio/block/block_config.h"
#include "devices/virtio/console/console_config.h"
#include "devices/virtio/net/net_config.h"
#include "vmm/core/error.h"

namespace franca {

enum class Transport { kMmio, kPci };

// The keys every device takes: transport=pci|mmio, id=NAME (else blkN, netN,
// console0, balloon0), and for PCI slot=1-31 and removable=on|off (off: no
// _EJ0 in the DSDT, device-del refuses it).
struct DeviceCommon {
  Transport transport = Transport::kPci;
  std::string id;
  std::optional<unsigned> slot;
  bool removable = true;
};

struct DiskOption : DeviceCommon {
  virtio::BlockConfig block;
};

struct ConsoleOption : DeviceCommon {
  virtio::ConsoleConfig console;
};

struct BalloonOption : DeviceCommon {
  virtio::BalloonConfig balloon;
};

struct NetOption : DeviceCommon {
  virtio::NetConfig net;
};

// A host PCI function passed through with VFIO (PCI only).
struct VfioOption : DeviceCommon {
  std::string path;           // /sys/bus/pci/devices/DDDD:BB:DD.F (or a bare DDDD:BB:DD.F)
  std::string failover_pair;  // the id of the --net failover=on it is the primary of
};

// Each also takes the DeviceCommon keys: [,id=NAME][,slot=N][,removable=off].
// "path=IMG[,readonly=on][,serial=ID][,queues=N][,transport=pci|mmio][,features=-a,-b]"
Result<DiskOption> parse_disk_option(std::string_view text);
// "stdio|pty|file:PATH|socket:PATH|none[,transport=pci|mmio][,features=...]"
Result<ConsoleOption> parse_console_option(std::string_view text);
// "tap=NAME|fd=N[,mac=MAC][,backend=inprocess|vhost|auto][,queues=N][,mtu=N][,transport=pci|mmio][,features=...]"
Result<NetOption> parse_net_option(std::string_view text);
// "[size=MIB][,deflate_on_oom=on][,free_page_reporting=on][,stats_period=SECS][,transport=pci|mmio][,features=...]"
// (an empty value is a balloon with every default: target 0, no polling).
Result<BalloonOption> parse_balloon_option(std::string_view text);
// "path=/sys/bus/pci/devices/DDDD:BB:DD.F[,id=NAME][,slot=N][,removable=off]" (a bare BDF is taken as that path).
Result<VfioOption> parse_vfio_option(std::string_view text);

}  // namespace franca

// The virtio device options (--disk, --console, --net, --balloon): one grammar for every device,
// "key=value,key=value" like cloud-hypervisor, with transport= and features=
// on each (a leading item without '=' is the device's main value, e.g.
// `--console pty`).
#pragma once

#include <string_view>

#include "devices/virtio/balloon/balloon_config.h"
#include "devices/virtio/block/block_config.h"
#include "devices/virtio/console/console_config.h"
#include "devices/virtio/net/net_config.h"
#include "vmm/core/error.h"

namespace franca {

enum class Transport { kMmio, kPci };

struct DiskOption {
  virtio::BlockConfig block;
  Transport transport = Transport::kPci;
};

struct ConsoleOption {
  virtio::ConsoleConfig console;
  Transport transport = Transport::kPci;
};

struct BalloonOption {
  virtio::BalloonConfig balloon;
  Transport transport = Transport::kPci;
};

struct NetOption {
  virtio::NetConfig net;
  Transport transport = Transport::kPci;
};

// "path=IMG[,readonly=on][,serial=ID][,queues=N][,transport=pci|mmio][,features=-a,-b]"
Result<DiskOption> parse_disk_option(std::string_view text);
// "stdio|pty|file:PATH|socket:PATH|none[,transport=pci|mmio][,features=...]"
Result<ConsoleOption> parse_console_option(std::string_view text);
// "tap=NAME|fd=N[,mac=MAC][,backend=inprocess|vhost|auto][,queues=N][,mtu=N][,transport=pci|mmio][,features=...]"
Result<NetOption> parse_net_option(std::string_view text);
// "[size=MIB][,deflate_on_oom=on][,free_page_reporting=on][,stats_period=SECS][,transport=pci|mmio][,features=...]"
// (an empty value is a balloon with every default: target 0, no polling).
Result<BalloonOption> parse_balloon_option(std::string_view text);

}  // namespace franca

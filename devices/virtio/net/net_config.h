// What the command line decides for one virtio-net device (--net), validated
// by vmm/device_options.cc before any host access.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "devices/virtio/features.h"

namespace franca::virtio {

enum class NetBackend { kInProcess, kVhost, kAuto };
std::string_view backend_name(NetBackend backend);

using MacAddress = std::array<uint8_t, 6>;

struct NetConfig {
  std::string tap;  // TAP interface name (created if missing) ...
  int fd = -1;      // ... or an already open TAP fd (fd=N), taken over
  MacAddress mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  bool mac_given = false;  // else the VMM makes the default unique per device
  NetBackend backend = NetBackend::kInProcess;
  uint16_t queues = 1;        // rx/tx queue pairs (VIRTIO_NET_F_MQ when > 1)
  uint16_t mtu = 0;           // 0: VIRTIO_NET_F_MTU not offered
  bool packed = false;        // offer VIRTIO_F_RING_PACKED (in-process only)
  bool failover = false;      // offer VIRTIO_NET_F_STANDBY: the standby of a primary with this MAC
  uint64_t feature_mask = 0;  // bits hidden by features=
};

inline constexpr uint16_t kMaxNetQueuePairs = 16;

// Device-specific feature names for features= and logs ("csum", "mrg_rxbuf", ...).
std::span<const FeatureName> net_feature_names();

}  // namespace franca::virtio

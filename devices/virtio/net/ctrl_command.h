// The virtio-net control virtqueue (virtio 1.x §5.1.6.5): one command per
// chain — {u8 class, u8 command, data} readable, one ack byte writable. The
// parser is a pure function over a copy of the readable bytes, so it is unit
// tested and fuzzed without a queue; Net applies the resulting state (TAP
// offloads, active queue pairs, MAC) after each command.
//
// Handled: RX (PROMISC, ALLMULTI with CTRL_RX), MAC TABLE_SET (CTRL_RX) and
// ADDR_SET (CTRL_MAC_ADDR), ANNOUNCE_ACK (GUEST_ANNOUNCE), MQ VQ_PAIRS_SET
// (MQ), GUEST_OFFLOADS_SET (CTRL_GUEST_OFFLOADS). Anything else, a command
// whose feature was not negotiated, or malformed data gets VIRTIO_NET_ERR.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "devices/virtio/net/net_config.h"

namespace franca::virtio {

// Receive filtering state. franca delivers every frame the TAP gives it (the
// host side decides what reaches the TAP), so the filters are recorded and
// acknowledged — what QEMU does with a TAP peer in promiscuous mode.
struct NetRxMode {
  bool promisc = true;  // the spec's reset state (§5.1.6.5.1)
  bool allmulti = false;
  std::vector<MacAddress> unicast;
  std::vector<MacAddress> multicast;
};

struct NetCtrlState {
  MacAddress mac{};
  uint16_t pairs = 1;           // active queue pairs
  uint64_t guest_offloads = 0;  // GUEST_* bits in effect
  bool announce = false;        // VIRTIO_NET_S_ANNOUNCE
  NetRxMode rx;
};

inline constexpr size_t kMaxCtrlRequest = 4096;  // class + command + data
inline constexpr size_t kMaxMacTableEntries = 64;

// Applies one command (`request` = the chain's readable bytes) to `state`;
// returns VIRTIO_NET_OK or VIRTIO_NET_ERR. `state` is untouched on ERR.
uint8_t apply_ctrl(std::span<const uint8_t> request, uint64_t features, uint16_t max_pairs, NetCtrlState& state);

}  // namespace franca::virtio

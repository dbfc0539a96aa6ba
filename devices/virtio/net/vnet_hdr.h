// The virtio-net packet header (virtio 1.x §5.1.6 "Device Operation"): checks
// on what the driver puts in front of a transmitted frame, and the TAP offload
// flags that match the receive offloads the driver accepted (§5.1.6.4,
// virtio-notes.md §6.3). The TAP is set up with a 12-byte vnet header, the
// same layout as virtio_net_hdr_v1, so headers pass through unchanged.
#pragma once

#include "devices/virtio/net/virtio_net_uapi.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace franca::virtio {

// VERSION_1 (or MRG_RXBUF) makes the header 12 bytes in both directions.
inline constexpr size_t kNetHdrSize = sizeof(virtio_net_hdr_v1);
static_assert(kNetHdrSize == 12);
inline constexpr size_t kMinFrame = 14;  // an Ethernet header

enum class TxHeaderError : uint8_t {
  kNone,
  kShortFrame,         // less than an Ethernet header after the virtio header
  kBadFlags,           // unknown flag bits
  kCsumNotNegotiated,  // NEEDS_CSUM without VIRTIO_NET_F_CSUM
  kCsumOutsideFrame,   // csum_start + csum_offset + 2 beyond the frame
  kBadGsoType,         // not NONE / TCPV4 / TCPV6 (UFO/USO are never offered)
  kGsoNotNegotiated,   // TSO4/TSO6/ECN without the matching HOST_* feature
  kGsoWithoutCsum,     // segmentation needs a partial checksum
  kGsoBadSize,         // gso_size 0
};
std::string_view describe(TxHeaderError error);

// Checks (and normalises: DATA_VALID cleared) a header copied out of the
// guest's transmit buffer. `features` are the negotiated bits.
TxHeaderError check_tx_header(virtio_net_hdr_v1& header, uint64_t features, size_t frame_len);

// TUN_F_* for TUNSETOFFLOAD from the GUEST_* bits in effect (what the TAP may
// hand us: partial checksums, TSO4/6 with ECN).
unsigned tap_offload_flags(uint64_t guest_features);

// The GUEST_* bits CTRL_GUEST_OFFLOADS_SET may switch.
inline constexpr uint64_t kGuestOffloadBits = (1ull << VIRTIO_NET_F_GUEST_CSUM) | (1ull << VIRTIO_NET_F_GUEST_TSO4) |
                                              (1ull << VIRTIO_NET_F_GUEST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_ECN) |
                                              (1ull << VIRTIO_NET_F_GUEST_UFO);

}  // namespace franca::virtio

// virtio-net header checks and TAP offload flags (virtio 1.x §5.1.6.2, §5.1.6.4).
#include "devices/virtio/net/vnet_hdr.h"

#include <linux/if_tun.h>

namespace franca::virtio {
namespace {

constexpr bool has(uint64_t features, unsigned bit) { return (features >> bit) & 1; }

TxHeaderError check_gso(const virtio_net_hdr_v1& h, uint64_t features) {
  const uint8_t type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
  if (type == VIRTIO_NET_HDR_GSO_NONE) {
    return (h.gso_type & VIRTIO_NET_HDR_GSO_ECN) ? TxHeaderError::kBadGsoType : TxHeaderError::kNone;
  }
  if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6) return TxHeaderError::kBadGsoType;
  const unsigned needed = type == VIRTIO_NET_HDR_GSO_TCPV4 ? VIRTIO_NET_F_HOST_TSO4 : VIRTIO_NET_F_HOST_TSO6;
  if (!has(features, needed)) return TxHeaderError::kGsoNotNegotiated;
  if ((h.gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(features, VIRTIO_NET_F_HOST_ECN))
    return TxHeaderError::kGsoNotNegotiated;
  if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return TxHeaderError::kGsoWithoutCsum;
  if (h.gso_size == 0) return TxHeaderError::kGsoBadSize;
  return TxHeaderError::kNone;
}

}  // namespace

std::string_view describe(TxHeaderError error) {
  switch (error) {
    case TxHeaderError::kNone:
      return "ok";
    case TxHeaderError::kShortFrame:
      return "frame shorter than an Ethernet header";
    case TxHeaderError::kBadFlags:
      return "unknown header flags";
    case TxHeaderError::kCsumNotNegotiated:
      return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
    case TxHeaderError::kCsumOutsideFrame:
      return "checksum position outside the frame";
    case TxHeaderError::kBadGsoType:
      return "unsupported gso_type";
    case TxHeaderError::kGsoNotNegotiated:
      return "segmentation offload not negotiated";
    case TxHeaderError::kGsoWithoutCsum:
      return "segmentation without NEEDS_CSUM";
    case TxHeaderError::kGsoBadSize:
      return "gso_size 0";
  }
  return "unknown header error";
}

TxHeaderError check_tx_header(virtio_net_hdr_v1& h, uint64_t features, size_t frame_len) {
  if (frame_len < kMinFrame) return TxHeaderError::kShortFrame;
  // The driver must not set DATA_VALID or RSC_INFO on transmit (§5.1.6.2.1);
  // DATA_VALID is harmless, so drop it rather than the packet.
  h.flags &= ~VIRTIO_NET_HDR_F_DATA_VALID;
  if (h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) return TxHeaderError::kBadFlags;
  if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    if (!has(features, VIRTIO_NET_F_CSUM)) return TxHeaderError::kCsumNotNegotiated;
    const size_t end = size_t{h.csum_start} + h.csum_offset + 2;
    if (end > frame_len) return TxHeaderError::kCsumOutsideFrame;
  }
  h.num_buffers = 0;
  return check_gso(h, features);
}

unsigned tap_offload_flags(uint64_t guest) {
  if (!has(guest, VIRTIO_NET_F_GUEST_CSUM)) return 0;  // TSO needs partial checksums
  unsigned flags = TUN_F_CSUM;
  if (has(guest, VIRTIO_NET_F_GUEST_TSO4)) flags |= TUN_F_TSO4;
  if (has(guest, VIRTIO_NET_F_GUEST_TSO6)) flags |= TUN_F_TSO6;
  if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) && has(guest, VIRTIO_NET_F_GUEST_ECN)) flags |= TUN_F_TSO_ECN;
  if (has(guest, VIRTIO_NET_F_GUEST_UFO)) flags |= TUN_F_UFO;
  return flags;
}

}  // namespace franca::virtio

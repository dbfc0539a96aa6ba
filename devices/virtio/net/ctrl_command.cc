// virtio-net control virtqueue commands (virtio 1.x §5.1.6.5).
#include "devices/virtio/net/ctrl_command.h"

#include "devices/virtio/net/virtio_net_uapi.h"

#include <cstring>
#include <optional>

#include "devices/virtio/net/vnet_hdr.h"

namespace franca::virtio {
namespace {

constexpr bool has(uint64_t features, unsigned bit) { return (features >> bit) & 1; }

// Little-endian field reads over the command data, bounds-checked.
class DataReader {
 public:
  explicit DataReader(std::span<const uint8_t> data) : data_(data) {}
  template <class T>
  std::optional<T> take() {
    if (data_.size() - at_ < sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, data_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  bool done() const { return at_ == data_.size(); }

 private:
  std::span<const uint8_t> data_;
  size_t at_ = 0;
};

std::optional<std::vector<MacAddress>> take_mac_list(DataReader& in) {
  const auto n = in.take<uint32_t>();
  if (!n || *n > kMaxMacTableEntries) return std::nullopt;
  std::vector<MacAddress> macs;
  for (uint32_t i = 0; i < *n; ++i) {
    auto mac = in.take<MacAddress>();
    if (!mac) return std::nullopt;
    macs.push_back(*mac);
  }
  return macs;
}

bool rx_mode(uint8_t cmd, DataReader in, uint64_t f, NetCtrlState& s) {
  const auto on = in.take<uint8_t>();
  if (!on || !in.done() || !has(f, VIRTIO_NET_F_CTRL_RX)) return false;
  if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
    s.rx.promisc = *on;
  else if (cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)
    s.rx.allmulti = *on;
  else
    return false;  // ALLUNI .. NOBCAST need CTRL_RX_EXTRA, never offered
  return true;
}

bool mac_cmd(uint8_t cmd, DataReader in, uint64_t f, NetCtrlState& s) {
  if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
    const auto mac = in.take<MacAddress>();
    if (!mac || !in.done() || !has(f, VIRTIO_NET_F_CTRL_MAC_ADDR)) return false;
    s.mac = *mac;
    return true;
  }
  if (cmd != VIRTIO_NET_CTRL_MAC_TABLE_SET || !has(f, VIRTIO_NET_F_CTRL_RX)) return false;
  auto unicast = take_mac_list(in);
  if (!unicast) return false;
  auto multicast = take_mac_list(in);
  if (!multicast || !in.done()) return false;
  s.rx.unicast = std::move(*unicast);
  s.rx.multicast = std::move(*multicast);
  return true;
}

bool mq_cmd(uint8_t cmd, DataReader in, uint64_t f, uint16_t max_pairs, NetCtrlState& s) {
  if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || !has(f, VIRTIO_NET_F_MQ)) return false;
  const auto pairs = in.take<uint16_t>();
  if (!pairs || !in.done() || *pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || *pairs > max_pairs) return false;
  s.pairs = *pairs;
  return true;
}

bool offloads_cmd(uint8_t cmd, DataReader in, uint64_t f, NetCtrlState& s) {
  if (cmd != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || !has(f, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) return false;
  const auto bits = in.take<uint64_t>();
  // Only GUEST_* offloads the driver negotiated may be switched on (§5.1.6.5.6.2).
  if (!bits || !in.done() || (*bits & ~(f & kGuestOffloadBits))) return false;
  s.guest_offloads = *bits;
  return true;
}

}  // namespace

uint8_t apply_ctrl(std::span<const uint8_t> request, uint64_t features, uint16_t max_pairs, NetCtrlState& state) {
  if (request.size() < 2 || request.size() > kMaxCtrlRequest || !has(features, VIRTIO_NET_F_CTRL_VQ))
    return VIRTIO_NET_ERR;
  const uint8_t cls = request[0], cmd = request[1];
  const DataReader data(request.subspan(2));
  NetCtrlState next = state;
  bool ok = false;
  switch (cls) {
    case VIRTIO_NET_CTRL_RX:
      ok = rx_mode(cmd, data, features, next);
      break;
    case VIRTIO_NET_CTRL_MAC:
      ok = mac_cmd(cmd, data, features, next);
      break;
    case VIRTIO_NET_CTRL_ANNOUNCE:
      ok = cmd == VIRTIO_NET_CTRL_ANNOUNCE_ACK && has(features, VIRTIO_NET_F_GUEST_ANNOUNCE) && data.done();
      if (ok) next.announce = false;
      break;
    case VIRTIO_NET_CTRL_MQ:
      ok = mq_cmd(cmd, data, features, max_pairs, next);
      break;
    case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
      ok = offloads_cmd(cmd, data, features, next);
      break;
    default:
      break;  // VLAN, NOTF_COAL, STATS...: never offered
  }
  if (!ok) return VIRTIO_NET_ERR;
  state = std::move(next);
  return VIRTIO_NET_OK;
}

}  // namespace franca::virtio

// libFuzzer target for the virtio-net control-queue parser (virtio 1.x
// §5.1.6.5): a sequence of commands applied to one state under fuzzed
// negotiated features and queue-pair maximum. Invariants: the ack is OK or
// ERR; ERR leaves the state untouched; OK changes only what that command
// class owns, only with its feature, and keeps pairs in 1..max, offloads
// within the negotiated GUEST_* bits and the MAC tables within 64 entries.
//
// Input: [u64 features][u16 max_pairs] then commands, each [u16 length][bytes]
// (all little-endian; a short last command takes what is left).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <tuple>

#include "devices/virtio/net/ctrl_command.h"
#include "devices/virtio/net/virtio_net_uapi.h"
#include "devices/virtio/net/vnet_hdr.h"

namespace {

using namespace franca::virtio;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr bool has(uint64_t features, unsigned bit) { return (features >> bit) & 1; }

template <class T>
T take(const uint8_t*& data, size_t& size) {
  T value{};
  const size_t n = size < sizeof(T) ? size : sizeof(T);
  std::memcpy(&value, data, n);
  data += n;
  size -= n;
  return value;
}

void check_command(std::span<const uint8_t> request, uint64_t f, uint16_t max_pairs, const NetCtrlState& before,
                   const NetCtrlState& after, uint8_t ack) {
  const auto fields = [](const NetCtrlState& s) {
    return std::tie(s.mac, s.pairs, s.guest_offloads, s.announce, s.rx.promisc, s.rx.allmulti, s.rx.unicast,
                    s.rx.multicast);
  };
  check(ack == VIRTIO_NET_OK || ack == VIRTIO_NET_ERR);
  if (ack == VIRTIO_NET_ERR) return check(fields(before) == fields(after));
  check(has(f, VIRTIO_NET_F_CTRL_VQ) && request.size() >= 2 && request.size() <= kMaxCtrlRequest);
  const uint8_t cls = request[0];
  // What each class may change; everything else must be as before.
  const bool rx_mode = after.rx.promisc != before.rx.promisc || after.rx.allmulti != before.rx.allmulti;
  const bool tables = after.rx.unicast != before.rx.unicast || after.rx.multicast != before.rx.multicast;
  check(!rx_mode || (cls == VIRTIO_NET_CTRL_RX && has(f, VIRTIO_NET_F_CTRL_RX)));
  check(!tables || (cls == VIRTIO_NET_CTRL_MAC && has(f, VIRTIO_NET_F_CTRL_RX)));
  check(after.rx.unicast.size() <= kMaxMacTableEntries && after.rx.multicast.size() <= kMaxMacTableEntries);
  if (after.mac != before.mac) {
    check(cls == VIRTIO_NET_CTRL_MAC && has(f, VIRTIO_NET_F_CTRL_MAC_ADDR) && request.size() == 8);
    check(std::memcmp(after.mac.data(), request.data() + 2, 6) == 0);
  }
  if (after.announce != before.announce)
    check(cls == VIRTIO_NET_CTRL_ANNOUNCE && !after.announce && has(f, VIRTIO_NET_F_GUEST_ANNOUNCE));
  if (after.pairs != before.pairs) {
    check(cls == VIRTIO_NET_CTRL_MQ && has(f, VIRTIO_NET_F_MQ));
    check(after.pairs >= 1 && after.pairs <= max_pairs);
  }
  if (after.guest_offloads != before.guest_offloads) {
    check(cls == VIRTIO_NET_CTRL_GUEST_OFFLOADS && has(f, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS));
    check((after.guest_offloads & ~(f & kGuestOffloadBits)) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto features = take<uint64_t>(data, size);
  const auto max_pairs = take<uint16_t>(data, size);
  NetCtrlState state;  // as Net::activate() sets it up
  state.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  state.guest_offloads = features & kGuestOffloadBits;
  state.announce = true;  // so ANNOUNCE_ACK has something to clear
  while (size > 0) {
    const size_t len = std::min<size_t>(take<uint16_t>(data, size), size);
    const std::span<const uint8_t> request(data, len);
    data += len;
    size -= len;
    const NetCtrlState before = state;
    const uint8_t ack = apply_ctrl(request, features, max_pairs, state);
    check_command(request, features, max_pairs, before, state, ack);
  }
  return 0;
}

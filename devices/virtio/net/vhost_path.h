// The vhost-net data path for one queue pair (virtio-notes.md §6.2, §6.5): the
// kernel moves packets between the pair's split rings and its TAP queue. Kicks
// go straight from KVM's ioeventfds to the kernel; so do the kernel's "call"s
// to KVM where the queue has an MSI-X vector (its irqfd, which the transport
// assigns only while the vector is unmasked), and the others (INTx, mmio) are
// relayed by the vmm-io loop to the transport's Interrupt.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>

#include "devices/vhost/vhost_net.h"
#include "devices/virtio/net/pair_path.h"
#include "devices/virtio/net/virtio_net_uapi.h"
#include "vmm/core/fd.h"

namespace franca::virtio {

// Ring-level features the kernel's vhost-net must implement for a pair to run
// on it.
inline constexpr uint64_t kVhostRingFeatures = (uint64_t{1} << VIRTIO_RING_F_EVENT_IDX) |
                                               (uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC) |
                                               (uint64_t{1} << VIRTIO_NET_F_MRG_RXBUF);

using VhostOpener = std::function<Result<std::unique_ptr<vhost::VhostOps>>()>;

class VhostPath final : public PairPath {
 public:
  // Opens a vhost-net instance for the pair (SET_OWNER, GET_FEATURES) and its eventfds.
  static Result<std::unique_ptr<VhostPath>> create(PairContext ctx, const VhostOpener& opener);
  ~VhostPath() override;

  // Hands the rings over at the Queue objects' next_avail (SET_VRING_BASE).
  Result<void> start() override;
  // Detaches the kernel, takes next_avail back (GET_VRING_BASE) and next_used
  // from the used ring, and signals both queues (suppressed signals may be due).
  void stop() override;

 private:
  VhostPath(PairContext ctx, std::unique_ptr<vhost::VhostNetPair> pair, Fd call_rx, Fd call_tx, Fd err);
  void relay_call(int fd, uint16_t queue);
  Result<void> watch(int fd, EventLoop::Callback callback);
  void unwatch();
  Result<void> take_back();

  PairContext ctx_;
  std::unique_ptr<vhost::VhostNetPair> pair_;
  Fd call_rx_, call_tx_, err_;
  std::vector<EventLoop::Watch> watches_;  // the three fds above, while running
  bool running_ = false;
};

}  // namespace franca::virtio

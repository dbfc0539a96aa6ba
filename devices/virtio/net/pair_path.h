// One virtio-net receive/transmit queue pair and the two ways its packets can
// move (STYLE.md "vhost is a data-path strategy"): in-process on the vmm-io
// loop, or by the kernel's vhost-net. Both work on the same Queue objects, so
// the ring state (next available / next used) moves with the pair when it is
// switched from one to the other.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "devices/virtio/device.h"

namespace franca::virtio {

struct PairCounters {
  std::atomic<uint64_t> rx_packets{0}, rx_bytes{0};
  std::atomic<uint64_t> tx_packets{0}, tx_bytes{0};
  std::atomic<uint64_t> tx_dropped{0};    // bad header, or the TAP refused the frame
  std::atomic<uint64_t> rx_dropped{0};    // too big for the posted buffers, or lost in a switch
  std::atomic<uint64_t> rx_ring_full{0};  // times reading the TAP paused for want of buffers
  std::atomic<uint64_t> rx_bounced{0};    // frames longer than the buffers posted, copied (in-process)
  std::atomic<uint64_t> vhost_calls{0};   // used-buffer signals relayed from vhost
  std::atomic<uint64_t> vhost_direct{0};  // queues whose vhost calls go to KVM unrelayed (now)
};

// What a data path needs of its pair; owned by Net, valid while the path runs.
struct PairContext {
  uint16_t pair = 0;
  ActiveQueue* rx = nullptr;
  ActiveQueue* tx = nullptr;
  int tap_fd = -1;
  const GuestMemory* memory = nullptr;
  EventLoop* loop = nullptr;
  Interrupt* interrupt = nullptr;
  uint64_t features = 0;  // negotiated
  PairCounters* counters = nullptr;
  std::string id;                              // "net0": logs
  std::function<bool()> link_up;               // loop thread
  std::function<void(std::string_view)> fail;  // ring corruption: NEEDS_RESET
};

class PairPath {
 public:
  virtual ~PairPath() = default;
  // Takes over the rings (loop thread). On error nothing is left running.
  virtual Result<void> start() = 0;
  // Quiesces: after it returns nothing touches the rings, every buffer taken
  // from the driver has been returned, and the Queue objects hold the ring
  // state for whoever starts next (loop thread).
  virtual void stop() = 0;
  // The link went up (resume reading the TAP) or down.
  virtual void link_changed() {}
};

}  // namespace franca::virtio

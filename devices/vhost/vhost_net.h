// Kernel vhost-net offload for one virtio-net rx/tx queue pair (Linux
// drivers/vhost/net.c, uapi <linux/vhost.h>; virtio-notes.md §6): the kernel
// moves packets between the guest's split rings and a TAP queue, on the same
// ring state the in-process data path uses, so a pair can be handed back and
// forth (VHOST_GET/SET_VRING_BASE carry the next available index).
//
// Implements: SET_OWNER, GET/SET_FEATURES (filtered), SET_MEM_TABLE,
//   SET_VRING_NUM/BASE/ADDR/KICK/CALL/ERR, GET_VRING_BASE, NET_SET_BACKEND.
// Does not implement: dirty logging (VHOST_F_LOG_ALL), IOTLB/ACCESS_PLATFORM,
//   packed rings (kernel vhost-net has none), busy-poll timeouts.
//
// Threads: a VhostNetPair is used from one thread at a time (the vmm-io loop).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

namespace franca::vhost {

// The ioctls of one /dev/vhost-net fd, one method each; faked in unit tests
// (tests/support/fake_vhost.h records the call order).
class VhostOps {
 public:
  virtual ~VhostOps() = default;
  virtual Result<void> set_owner() = 0;
  virtual Result<uint64_t> get_features() = 0;
  virtual Result<void> set_features(uint64_t features) = 0;
  virtual Result<void> set_mem_table(std::span<const MemoryRegion> regions) = 0;
  virtual Result<void> set_vring_num(uint32_t index, uint32_t num) = 0;
  virtual Result<void> set_vring_base(uint32_t index, uint32_t num) = 0;
  virtual Result<uint32_t> get_vring_base(uint32_t index) = 0;
  // Host virtual addresses of the three split-ring areas.
  virtual Result<void> set_vring_addr(uint32_t index, uint64_t desc, uint64_t used, uint64_t avail) = 0;
  virtual Result<void> set_vring_kick(uint32_t index, int fd) = 0;   // -1 unbinds
  virtual Result<void> set_vring_call(uint32_t index, int fd) = 0;   // -1 unbinds
  virtual Result<void> set_vring_err(uint32_t index, int fd) = 0;    // -1 unbinds
  virtual Result<void> net_set_backend(uint32_t index, int fd) = 0;  // -1 detaches
};

// Opens `path` (O_RDWR|O_CLOEXEC) and wraps it. Errors name the path and what
// to do ("modprobe vhost_net", permissions) as host errors.
Result<std::unique_ptr<VhostOps>> open_vhost_net(const char* path = "/dev/vhost-net");

// One vring as the VMM sees it, for start().
struct VringSetup {
  uint16_t size = 0;
  uint64_t desc_gpa = 0;    // descriptor table
  uint64_t avail_gpa = 0;   // driver area (avail ring)
  uint64_t used_gpa = 0;    // device area (used ring)
  uint16_t next_avail = 0;  // VHOST_SET_VRING_BASE: where the kernel resumes
  int kick_fd = -1;         // the transport's ioeventfd for this queue
  int call_fd = -1;         // eventfd the kernel signals after using buffers
  int err_fd = -1;          // eventfd the kernel signals on a ring error; -1: none
};

// vhost-net ring indices: 0 is the pair's receive queue, 1 its transmit queue,
// whatever their virtio queue numbers.
inline constexpr uint32_t kRxRing = 0;
inline constexpr uint32_t kTxRing = 1;

class VhostNetPair {
 public:
  // VHOST_SET_OWNER then VHOST_GET_FEATURES.
  static Result<std::unique_ptr<VhostNetPair>> create(std::unique_ptr<VhostOps> ops);
  ~VhostNetPair();  // stops the pair if running (errors logged, not thrown)

  // What the kernel offers (VHOST_GET_FEATURES).
  uint64_t kernel_features() const { return kernel_features_; }
  // The bits for VHOST_SET_FEATURES: `negotiated & kernel`, never bit 27
  // (VHOST_NET_F_VIRTIO_NET_HDR: the TAP carries the header), ACCESS_PLATFORM,
  // RING_PACKED or VHOST_F_LOG_ALL.
  static uint64_t filter_features(uint64_t negotiated, uint64_t kernel);

  // SET_MEM_TABLE (every region of `memory`), SET_FEATURES(filter_features),
  // then for rx and tx: SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR (host
  // addresses from `memory`; an area outside RAM is an error), KICK, CALL, ERR;
  // then NET_SET_BACKEND(rx, tap), NET_SET_BACKEND(tx, tap). On failure the
  // rings are detached again and the error names the step.
  Result<void> start(const GuestMemory& memory, uint64_t negotiated, const std::array<VringSetup, 2>& rings,
                     int tap_fd);
  // NET_SET_BACKEND(-1) for both rings (the kernel flushes and stops touching
  // guest memory), GET_VRING_BASE for both, and unbinds KICK/CALL/ERR so the
  // VMM owns the eventfds again. Returns the next available index of
  // {rx, tx}. A no-op returning the last values when not running.
  Result<std::array<uint16_t, 2>> stop();
  bool running() const { return running_; }

 private:
  VhostNetPair(std::unique_ptr<VhostOps> ops, uint64_t kernel_features)
      : ops_(std::move(ops)), kernel_features_(kernel_features) {}

  // Host addresses of one ring's three areas.
  struct HostRing {
    uint64_t desc = 0;
    uint64_t avail = 0;
    uint64_t used = 0;
  };
  // What the kernel holds of one ring that teardown() must give back.
  struct Held {
    bool bound = false;     // KICK/CALL/ERR may be bound
    bool attached = false;  // a backend is attached
    bool base_due = false;  // detached, GET_VRING_BASE not yet read
  };

  static Result<HostRing> host_ring(const GuestMemory& memory, uint32_t index, const VringSetup& ring);
  Result<void> configure(const GuestMemory& memory, uint64_t negotiated, const std::array<VringSetup, 2>& rings,
                         const std::array<HostRing, 2>& host, int tap_fd);
  Result<void> setup_ring(uint32_t index, const VringSetup& ring, const HostRing& host);
  Result<void> teardown();
  Result<void> unbind(uint32_t index);

  std::unique_ptr<VhostOps> ops_;
  uint64_t kernel_features_ = 0;
  bool running_ = false;
  std::array<uint16_t, 2> last_bases_{0, 0};
  std::array<Held, 2> held_{};
};

}  // namespace franca::vhost

// A host TAP interface as virtio-net's packet port (Linux
// Documentation/networking/tuntap.rst; virtio-notes.md §6.3): one
// non-blocking fd per queue pair (IFF_MULTI_QUEUE when more than one), each
// with a 12-byte vnet header so virtio_net_hdr_v1 passes through unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace franca::virtio {

class Tap {
 public:
  // Attaches to interface `name` (creating it, and logging that, if it does
  // not exist) with `queues` queue fds. Errors are usage errors naming --net.
  static Result<Tap> open(const std::string& name, uint16_t queues);
  // Takes over an open TAP fd (fd=N): it must be a TAP with IFF_VNET_HDR.
  static Result<Tap> adopt(int fd);
  // Any packet fds standing in for a TAP (unit tests: socketpairs). The
  // ioctls below then succeed without doing anything.
  static Tap over_sockets(std::vector<Fd> fds);

  Tap(Tap&&) = default;
  Tap& operator=(Tap&&) = default;
  ~Tap();

  const std::string& name() const { return name_; }
  uint16_t queues() const { return static_cast<uint16_t>(fds_.size()); }
  int fd(uint16_t queue) const { return fds_[queue].get(); }
  bool created() const { return created_; }

  // TUNSETVNETHDRSZ on every queue.
  Result<void> set_vnet_hdr_size(int size);
  // TUNSETOFFLOAD (TUN_F_* flags) — per interface, applied through queue 0.
  Result<void> set_offload(unsigned flags);
  // TUNSETQUEUE attach/detach: a detached queue gets no packets from the host.
  Result<void> enable_queue(uint16_t queue, bool enabled);
  // TUNSETCARRIER: the host side sees our link state (kernel >= 4.19; ignored where missing).
  void set_carrier(bool up);

 private:
  Tap() = default;
  std::string name_;
  std::vector<Fd> fds_;
  bool created_ = false;
  bool fake_ = false;
};

}  // namespace franca::virtio
